import { isSluiceError, type RequestSubmitted } from '@sluice/events';
import { describe, expect, it } from 'vitest';
import {
  attemptTier,
  DEFAULT_TIER_POLICY,
  decideTier,
  isFlexUnavailable,
  type TierFacts,
  tierPolicyOf,
} from './tier-policy';

const HOUR = 3_600_000;
const now = Date.parse('2026-12-06T12:00:00Z');
const facts = (over: Partial<TierFacts>): TierFacts => ({
  endpoint: '/v1/chat/completions',
  requested: undefined,
  priority: 'batch',
  route: 'sync',
  deadline: null,
  now,
  policy: { flex: 'auto', priority: 'auto', fallback: true },
  flexPriced: true,
  tenantName: 'acme',
  settings: { flexMinLeadMs: 5 * 60_000 },
  ...over,
});

describe('service tier at admission', () => {
  it('sends batch-class work with time to spare to flex, interactive to priority, where the policy says auto', () => {
    expect(decideTier(facts({ deadline: now + 2 * HOUR }))).toEqual({
      tier: 'flex',
      chosenBy: 'sluice',
      fallback: true,
    });
    expect(decideTier(facts({}))?.tier).toBe('flex');
    expect(decideTier(facts({ priority: 'interactive' }))?.tier).toBe('priority');
    // Too near its deadline for flex, standard class, Batch API route, no flex price, no tiers upstream:
    expect(decideTier(facts({ deadline: now + 60_000 }))).toBeNull();
    expect(decideTier(facts({ priority: 'standard' }))).toBeNull();
    expect(decideTier(facts({ route: 'batch_api' }))).toBeNull();
    expect(decideTier(facts({ flexPriced: false }))).toBeNull();
    expect(decideTier(facts({ endpoint: '/v1/embeddings' }))).toBeNull();
    // `allow` only honours a client's choice.
    const allow = { flex: 'allow', priority: 'allow', fallback: false } as const;
    expect(decideTier(facts({ policy: allow }))).toBeNull();
    expect(decideTier(facts({ policy: allow, priority: 'interactive' }))).toBeNull();
    expect(decideTier(facts({ policy: allow, requested: 'priority' }))).toEqual({
      tier: 'priority',
      chosenBy: 'client',
      fallback: false,
    });
  });

  it('refuses a tier the tenant may not use with a 403 naming the field, and passes other tiers through', () => {
    let refused: unknown;
    try {
      decideTier(facts({ policy: DEFAULT_TIER_POLICY, requested: 'priority', priority: 'interactive' }));
    } catch (e) {
      refused = e;
    }
    expect(isSluiceError(refused) && refused.code).toBe('forbidden');
    expect((refused as Error).message).toMatch(/acme may not use the priority service tier/);
    expect(isSluiceError(refused) && refused.details.param).toBe('service_tier');
    expect(() =>
      decideTier(facts({ policy: { ...DEFAULT_TIER_POLICY, flex: 'off' }, requested: 'flex' })),
    ).toThrow(/flex service tier/);
    expect(decideTier(facts({ policy: DEFAULT_TIER_POLICY, requested: 'flex' }))?.chosenBy).toBe('client');
    expect(decideTier(facts({ requested: 'default' }))).toBeNull();
    expect(decideTier(facts({ requested: 'scale', priority: 'interactive' }))).toBeNull();
    expect(tierPolicyOf(undefined)).toEqual({ flex: 'allow', priority: 'off', fallback: true });
    expect(tierPolicyOf({ priority: 'auto' })).toEqual({ flex: 'allow', priority: 'auto', fallback: true });
  });
});

describe('service tier of an attempt', () => {
  const settings = { flexMinLeadMs: 60_000 };
  const submitted = (over: Partial<RequestSubmitted>) =>
    ({
      body: { model: 'gpt-5-mini', messages: [] },
      deadline: new Date(now + 10 * 60_000).toISOString(),
      tier: { tier: 'flex', chosenBy: 'sluice', fallback: true },
      ...over,
    }) as RequestSubmitted;
  const opts = { settings, lastAttempt: false, flexUnavailableBefore: false };

  it('goes at flex while the deadline allows, then falls back to default if the tenant allows it', () => {
    expect(attemptTier(submitted({}), now, opts)).toEqual({ serviceTier: 'flex', fallback: null });
    expect(attemptTier(submitted({}), now + 9.5 * 60_000, opts)).toEqual({
      serviceTier: 'default',
      fallback: 'deadline',
    });
    const noFallback = submitted({ tier: { tier: 'flex', chosenBy: 'client', fallback: false } });
    expect(attemptTier(noFallback, now + 9.5 * 60_000, opts)).toEqual({
      serviceTier: 'flex',
      fallback: null,
    });
    // The last attempt after flex had no capacity goes at the default tier.
    expect(
      attemptTier(submitted({}), now, { ...opts, lastAttempt: true, flexUnavailableBefore: true }),
    ).toEqual({
      serviceTier: 'default',
      fallback: 'unavailable',
    });
    expect(attemptTier(submitted({}), now, { ...opts, lastAttempt: true })).toEqual({
      serviceTier: 'flex',
      fallback: null,
    });
    // No tier settled: the body's own `service_tier`, if any, goes as it is.
    expect(
      attemptTier(
        submitted({ tier: null, body: { model: 'm', messages: [], service_tier: 'scale' } }),
        now,
        opts,
      ),
    ).toEqual({ serviceTier: 'scale', fallback: null });
    expect(attemptTier(submitted({ tier: null }), now, opts)).toEqual({ serviceTier: null, fallback: null });
  });
});

describe('flex unavailability', () => {
  it('is a 429 with code or type resource_unavailable, or its message; a rate limit is not', () => {
    expect(isFlexUnavailable({ status: 429, body: { error: { code: 'resource_unavailable' } } })).toBe(true);
    expect(isFlexUnavailable({ status: 429, body: { type: 'resource_unavailable', code: null } })).toBe(true);
    expect(isFlexUnavailable({ status: 429, body: { message: 'Resource Unavailable: try later' } })).toBe(
      true,
    );
    expect(isFlexUnavailable({ status: 429, errorCode: 'resource_unavailable' })).toBe(true);
    expect(isFlexUnavailable({ status: 429, body: { error: { code: 'rate_limit_exceeded' } } })).toBe(false);
    expect(isFlexUnavailable({ status: 503, body: { error: { code: 'resource_unavailable' } } })).toBe(false);
  });
});

describe('limiter pools of tiers with limits of their own', () => {
  it('keys a tier apart only where its pool declares limits for it', async () => {
    const { limiterLimits, limiterPoolOf } = await import('../upstream/pools');
    const pools = [
      {
        name: 'main',
        apiKey: 'k',
        timeoutMs: 1,
        limits: { m: { rpm: 10 } },
        tierLimits: { flex: { m: { rpm: 2 } } },
      },
      { name: 'other', apiKey: 'k', timeoutMs: 1 },
    ];
    expect(limiterPoolOf(pools, 'main', 'flex')).toBe('main~flex');
    expect(limiterPoolOf(pools, 'main', 'priority')).toBe('main');
    expect(limiterPoolOf(pools, 'main', null)).toBe('main');
    expect(limiterPoolOf(pools, 'other', 'flex')).toBe('other');
    expect(limiterLimits(pools)).toEqual({ main: { m: { rpm: 10 } }, 'main~flex': { m: { rpm: 2 } } });
  });
});
