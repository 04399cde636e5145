import { describe, expect, it } from 'vitest';
import { describeAdminCall } from './admin-actions';

describe('admin action details', () => {
  it('keep the ids an action produced and never the key it issued', () => {
    const apiKey = `sk-sluice-${'a'.repeat(43)}`;
    const d = describeAdminCall({ tenant: 'acme' }, { keyId: 'key_1', apiKey, prefix: apiKey.slice(0, 14) });
    expect(d).toEqual({ target: 'acme', details: { tenant: 'acme', result: { keyId: 'key_1' } } });
    expect(
      JSON.stringify(describeAdminCall({ name: 'x' }, { tenantId: 't', name: 'x', apiKey })),
    ).not.toContain(apiKey);
  });

  it('take scalar input fields from an allow-list, cut and scrubbed', () => {
    const d = describeAdminCall(
      {
        tenant: 'acme',
        usdMicros: 5_000_000,
        tokens: null,
        onExhausted: 'refuse',
        nested: { apiKey: 'sk-sluice-x' },
        key: `revoke sk-sluice-${'b'.repeat(43)}`,
        junk: 'y'.repeat(1_000),
      },
      undefined,
    );
    expect(d.details).toEqual({
      tenant: 'acme',
      usdMicros: 5_000_000,
      tokens: null,
      onExhausted: 'refuse',
      key: 'revoke sk-***',
    });
    expect(describeAdminCall({ id: 'req_1' }, undefined).target).toBe('req_1');
    expect(describeAdminCall(undefined, undefined)).toEqual({ target: null, details: {} });
    expect((describeAdminCall({ name: 'n'.repeat(500) }, undefined).details.name as string).length).toBe(128);
  });
});
