import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The HttpOnly cookie that carries a console session's token. */
export const SESSION_COOKIE = 'sluice_session';
/** The cookie the console's script reads to send its CSRF token back (double submit); not HttpOnly. */
export const CSRF_COOKIE = 'sluice_csrf';
/** Where a state-changing call carries the CSRF token. */
export const CSRF_HEADER = 'x-sluice-csrf';
/** How long a console session lasts from login (it ends earlier on logout or when its key is revoked). */
export const SESSION_TTL_MS = 8 * 3_600_000;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A new session: 256 random bits (the cookie's value), the sha256 the store keeps instead, and a
 * public id for audit records. Like API keys, a token of this strength needs no slow hash.
 */
export function newSessionToken(): { token: string; hash: string; id: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashSessionToken(token), id: `ses_${randomBytes(9).toString('base64url')}` };
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Refuses anything that is not a token without a database lookup. */
export function isWellFormedSessionToken(candidate: string | undefined): candidate is string {
  return typeof candidate === 'string' && TOKEN_PATTERN.test(candidate);
}

/**
 * The session's CSRF token, derived from its secret token (HMAC), so the server keeps no extra
 * state: a page of another origin can neither read the cookie holding it nor compute it.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('sluice-console-csrf').digest('base64url');
}

/** True when `presented` is the CSRF token of this session (compared in constant time). */
export function csrfMatches(sessionToken: string, presented: string | undefined): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 128) return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface CookieSpec {
  name: string;
  value: string;
  options: {
    path: '/';
    httpOnly: boolean;
    sameSite: 'strict';
    secure: boolean;
    maxAge: number;
  };
}

/**
 * The two cookies a login sets: the session (HttpOnly: no script reads it) and its CSRF token
 * (readable by the console's own script only, same origin). Both SameSite=Strict, so no other
 * site's page makes the browser send them; Secure when the console is served over https.
 */
export function sessionCookies(token: string, opts: { secure: boolean; ttlMs: number }): CookieSpec[] {
  const common = { path: '/' as const, sameSite: 'strict' as const, secure: opts.secure };
  const maxAge = Math.floor(opts.ttlMs / 1000);
  return [
    { name: SESSION_COOKIE, value: token, options: { ...common, httpOnly: true, maxAge } },
    { name: CSRF_COOKIE, value: csrfTokenFor(token), options: { ...common, httpOnly: false, maxAge } },
  ];
}

/** The same cookies, expired: what a logout sets. */
export function clearedSessionCookies(opts: { secure: boolean }): CookieSpec[] {
  return sessionCookies('', { secure: opts.secure, ttlMs: 0 }).map((c) => ({ ...c, value: '' }));
}
