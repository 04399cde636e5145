import { useState } from 'react';

/**
 * A key just issued, shown once: it lives in this component's state until dismissed, and the
 * server cannot show it again (only its hash is stored).
 */
export function NewKeyNotice(props: { apiKey: string; label: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="new-key" role="alert" data-testid="new-key">
      <strong>{props.label}</strong>
      <p>Copy it now: it is shown once and cannot be shown again.</p>
      <div className="new-key-row">
        <input
          readOnly
          value={props.apiKey}
          aria-label="New API key"
          onFocus={(e) => e.currentTarget.select()}
        />
        <button
          type="button"
          className="button"
          onClick={async () => {
            await navigator.clipboard?.writeText(props.apiKey).catch(() => {});
            setCopied(true);
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" className="button button-primary" onClick={props.onDone}>
          I have stored it
        </button>
      </div>
    </div>
  );
}
