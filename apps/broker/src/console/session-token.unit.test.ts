import { describe, expect, it } from 'vitest';
import {
  CSRF_COOKIE,
  clearedSessionCookies,
  csrfMatches,
  csrfTokenFor,
  hashSessionToken,
  isWellFormedSessionToken,
  newSessionToken,
  SESSION_COOKIE,
  sessionCookies,
} from './session-token';

describe('console session tokens', () => {
  it('are 256 random bits, stored only as their hash, with a public id apart', () => {
    const a = newSessionToken();
    const b = newSessionToken();
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.hash).toBe(hashSessionToken(a.token));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).not.toContain(a.token);
    expect(a.id).toMatch(/^ses_/);
    expect(a.id).not.toContain(a.token.slice(0, 12));
    expect(isWellFormedSessionToken(a.token)).toBe(true);
    for (const bad of [
      undefined,
      '',
      'short',
      `${a.token}x`,
      'sk-sluice-not-a-session-token-at-all-00000000',
    ]) {
      expect(isWellFormedSessionToken(bad)).toBe(false);
    }
  });

  it("derive a CSRF token only the session's holder can compute, compared in full", () => {
    const { token } = newSessionToken();
    const other = newSessionToken().token;
    const csrf = csrfTokenFor(token);
    expect(csrf).toBe(csrfTokenFor(token)); // stateless: the same token always derives the same
    expect(csrf).not.toBe(csrfTokenFor(other));
    expect(csrf).not.toContain(token);
    expect(csrfMatches(token, csrf)).toBe(true);
    expect(csrfMatches(token, csrfTokenFor(other))).toBe(false);
    expect(csrfMatches(token, csrf.slice(0, -1))).toBe(false);
    expect(csrfMatches(token, `${csrf}A`)).toBe(false);
    expect(csrfMatches(token, undefined)).toBe(false);
    expect(csrfMatches(token, '')).toBe(false);
    expect(csrfMatches(token, 'x'.repeat(10_000))).toBe(false);
  });

  it('set an HttpOnly session cookie and a readable CSRF cookie, both SameSite=Strict, Secure over https', () => {
    const { token } = newSessionToken();
    const [session, csrf] = sessionCookies(token, { secure: false, ttlMs: 8 * 3_600_000 });
    expect(session).toEqual({
      name: SESSION_COOKIE,
      value: token,
      options: { path: '/', httpOnly: true, sameSite: 'strict', secure: false, maxAge: 28_800 },
    });
    expect(csrf).toEqual({
      name: CSRF_COOKIE,
      value: csrfTokenFor(token),
      options: { path: '/', httpOnly: false, sameSite: 'strict', secure: false, maxAge: 28_800 },
    });
    expect(sessionCookies(token, { secure: true, ttlMs: 1_000 }).every((c) => c.options.secure)).toBe(true);
    const cleared = clearedSessionCookies({ secure: false });
    expect(cleared.map((c) => [c.name, c.value, c.options.maxAge])).toEqual([
      [SESSION_COOKIE, '', 0],
      [CSRF_COOKIE, '', 0],
    ]);
  });
});
