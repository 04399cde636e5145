import { useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useNavigate } from 'react-router';
import { logIn } from '../api';

/**
 * The key is posted once, as JSON, and forgotten: the server answers with an HttpOnly session
 * cookie. The form has a POST action so that, even without its script, a key never lands in a URL.
 */
export function LoginPage() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const client = useQueryClient();
  const navigate = useNavigate();

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const input = form.elements.namedItem('key') as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      await logIn(input.value);
      input.value = '';
      await client.invalidateQueries();
      navigate('/overview', { replace: true });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="login-card" method="post" action="/console/session" onSubmit={submit}>
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          <span>Sluice console</span>
        </div>
        <p className="muted">
          Paste an API key. An <strong>admin key</strong> opens the operator console (embedded mode keeps it
          in <code>.sluice-data/admin.key</code>); a <strong>tenant key</strong> opens that tenant&apos;s own
          view.
        </p>
        <label htmlFor="key">API key</label>
        <input
          id="key"
          name="key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="sk-sluice-…"
          required
        />
        {error ? (
          <div className="form-error" role="alert">
            {error}
          </div>
        ) : null}
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="fine">
          The key is sent once and never stored in the browser; the session lasts 8 hours, ends when you log
          out, and ends at once if the key is revoked.
        </p>
      </form>
    </div>
  );
}
