import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './audit-hash';

/** The chain's canonical form as first written: existing chains must keep verifying. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

describe('canonical JSON of the audit chain', () => {
  it('is exactly the form existing chains were hashed with, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 2_000 },
    );
    const embedding = {
      data: [{ embedding: [0.1, -0.25, 1e-7, 3, 0] }],
      keys: { '10': 1, '9': 2, b: [null, 'x'] },
    };
    expect(canonicalJson(embedding)).toBe(reference(embedding));
  });
});
