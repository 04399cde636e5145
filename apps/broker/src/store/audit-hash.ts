import { createHash } from 'node:crypto';

/** The first link of every tenant's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with sorted keys: the same value always hashes the same, whatever order jsonb returns. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    // An array of plain values (an embedding's floats) is already canonical: one native call.
    if (value.every((v) => v === null || (typeof v !== 'object' && v !== undefined)))
      return JSON.stringify(value);
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function chainHash(prevHash: string, payload: unknown): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(payload)).digest('hex');
}
