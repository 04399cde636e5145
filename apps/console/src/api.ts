import type { AppRouter } from '@sluice/broker';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';

export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type RouterInputs = inferRouterInputs<AppRouter>;

/** Names of the console's cookies and header (apps/broker/src/console/session-token.ts). */
const CSRF_COOKIE = 'sluice_csrf';
const CSRF_HEADER = 'x-sluice-csrf';

function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** Every call carries the session's CSRF token (the server checks it on mutations). */
function csrfHeaders(): Record<string, string> {
  const token = cookie(CSRF_COOKIE);
  return token ? { [CSRF_HEADER]: token } : {};
}

/**
 * The broker's own tRPC API, the same procedures the CLI and SDK call. The session cookie is
 * HttpOnly and sent by the browser; no key is ever held by this script after login.
 */
export const trpc = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: '/trpc', headers: csrfHeaders, maxItems: 16 })],
});

export type Session = RouterOutputs['console']['session'];

/** Posts the key once (a JSON body, never a URL); the answer sets the session cookies. */
export async function logIn(key: string): Promise<void> {
  const res = await fetch('/console/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
    credentials: 'same-origin',
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new Error(body?.error?.message ?? `Login failed (${res.status}).`);
  }
}

export async function logOut(): Promise<void> {
  await fetch('/console/session', { method: 'DELETE', headers: csrfHeaders(), credentials: 'same-origin' });
}

/** What the console shows of a failed call: the tRPC code and the server's message. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof TRPCClientError) {
    const data = error.data as { code?: string } | undefined;
    return { code: data?.code ?? 'ERROR', message: error.message };
  }
  return { code: 'ERROR', message: error instanceof Error ? error.message : String(error) };
}
