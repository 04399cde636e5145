import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_PATTERN = /^sk-sluice-[A-Za-z0-9_-]{43}$/;
export const KEY_PREFIX_LENGTH = 14;

/** A new key: 256 random bits. Only its hash is stored; the key is shown once. */
export function generateApiKey(): { apiKey: string; hash: string; prefix: string } {
  const apiKey = `sk-sluice-${randomBytes(32).toString('base64url')}`;
  return { apiKey, hash: hashApiKey(apiKey), prefix: apiKey.slice(0, KEY_PREFIX_LENGTH) };
}

/** sha256 is enough for 256-bit random keys (no dictionary to attack); it keeps lookups O(1). */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

export function isWellFormedApiKey(candidate: string): boolean {
  return KEY_PATTERN.test(candidate);
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
