import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { describeError } from './api';

export function Page(props: {
  title: string;
  subtitle?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  return (
    <main className="page">
      <header className="page-head">
        <div>
          <h1>{props.title}</h1>
          {props.subtitle ? <p className="subtitle">{props.subtitle}</p> : null}
        </div>
        {props.actions ? <div className="page-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </main>
  );
}

export function Card(props: {
  title?: ReactNode;
  aside?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={`card ${props.className ?? ''}`}>
      {props.title ? (
        <header className="card-head">
          <h2>{props.title}</h2>
          {props.aside ? <div className="card-aside">{props.aside}</div> : null}
        </header>
      ) : null}
      {props.children}
    </section>
  );
}

export function Stat(props: {
  label: string;
  value: ReactNode;
  hint?: ReactNode;
  tone?: 'warn' | 'bad' | 'good';
}) {
  return (
    <div className={`stat ${props.tone ? `stat-${props.tone}` : ''}`}>
      <div className="stat-label">{props.label}</div>
      <div className="stat-value">{props.value}</div>
      {props.hint ? <div className="stat-hint">{props.hint}</div> : null}
    </div>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <div className="state state-loading" role="status">
      <span className="spinner" aria-hidden="true" /> Loading {props.what ?? ''}…
    </div>
  );
}

/** A refused or failed call, with the server's own words (e.g. FORBIDDEN: this call needs an admin key). */
export function ErrorPanel(props: { error: unknown; title?: string }) {
  const { code, message } = describeError(props.error);
  const refused = code === 'FORBIDDEN' || code === 'UNAUTHORIZED';
  return (
    <div
      className={`state state-error ${refused ? 'state-refused' : ''}`}
      role="alert"
      data-error-code={code}
    >
      <strong>{props.title ?? (refused ? 'Refused' : 'Something went wrong')}</strong>
      <span className="error-code">{code}</span>
      <p>{message}</p>
    </div>
  );
}

export function Empty(props: { children: ReactNode }) {
  return <div className="state state-empty">{props.children}</div>;
}

const STATUS_TONE: Record<string, string> = {
  completed: 'good',
  failed: 'bad',
  cancelled: 'muted',
  queued: 'info',
  dispatched: 'info',
  retrying: 'warn',
  ok: 'good',
};

export function Badge(props: { value: string; tone?: string }) {
  const tone = props.tone ?? STATUS_TONE[props.value] ?? 'muted';
  return <span className={`badge badge-${tone}`}>{props.value}</span>;
}

/** A bar showing how much of a limit is used. */
export function Meter(props: { ratio: number | null; label?: string }) {
  const pct = props.ratio === null ? 0 : Math.min(100, Math.max(0, props.ratio * 100));
  const tone = pct >= 90 ? 'bad' : pct >= 70 ? 'warn' : 'good';
  return (
    <div className="meter" title={props.label}>
      <div className={`meter-fill meter-${tone}`} style={{ width: `${pct}%` }} />
    </div>
  );
}

/** Key/value pairs in two columns. */
export function Facts(props: { items: Array<[string, ReactNode]> }) {
  return (
    <dl className="facts">
      {props.items.map(([k, v]) => (
        <div key={k} className="fact">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * A query's three states in one place: loading, the server's refusal or error, and its data
 * (or an empty state when `isEmpty` says there is nothing to show).
 */
export function Loaded<T>(props: {
  query: UseQueryResult<T>;
  what: string;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  children: (data: T) => ReactNode;
}) {
  const { query } = props;
  if (query.isPending) return <Loading what={props.what} />;
  if (query.isError) return <ErrorPanel error={query.error} />;
  if (props.isEmpty?.(query.data)) return <Empty>{props.empty}</Empty>;
  return <>{props.children(query.data)}</>;
}
