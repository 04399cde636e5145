import {
  type Endpoint,
  type Priority,
  type RequestSubmitted,
  SluiceError,
  type TierChoice,
  type UpstreamRoute,
} from '@sluice/events';
import type { UpstreamFailureFacts } from '@sluice/limiter';

/**
 * What a tenant may do with a service tier: `auto` — Sluice sends suitable requests there by
 * itself (flex: batch-class work that can wait; priority: interactive work) and the client may
 * name it; `allow` — only when the client names it; `off` — a request naming it is refused (403).
 */
export const TIER_MODES = ['auto', 'allow', 'off'] as const;
export type TierMode = (typeof TIER_MODES)[number];

/** A tenant's service-tier policy (`TenantSettings.tiers`). */
export interface TierPolicy {
  flex: TierMode;
  priority: TierMode;
  /** A flex request whose deadline flex can no longer meet may go at the default tier instead. */
  fallback: boolean;
}

/** Without a policy: flex when the client asks for it, priority never (an operator enables it). */
export const DEFAULT_TIER_POLICY: TierPolicy = { flex: 'allow', priority: 'off', fallback: true };

/** The endpoints whose upstream takes `service_tier`. */
export const TIERED_ENDPOINTS: ReadonlySet<Endpoint> = new Set<Endpoint>([
  '/v1/chat/completions',
  '/v1/responses',
]);

/** Tier tunables; tests inject their own. */
export interface TierSettings {
  /**
   * Flex is used only while at least this long remains before a request's deadline: chosen at
   * admission only then, and a flex attempt sent later falls back to the default tier (if allowed).
   */
  flexMinLeadMs: number;
}

export const TIER_DEFAULTS: TierSettings = { flexMinLeadMs: 5 * 60_000 };

export interface TierFacts {
  endpoint: Endpoint;
  /** The body's `service_tier`, as the client sent it. */
  requested: unknown;
  priority: Priority;
  route: UpstreamRoute;
  /** Epoch ms, or null. */
  deadline: number | null;
  now: number;
  policy: TierPolicy;
  /** The model's current price version prices flex on its own (so flex saves money). */
  flexPriced: boolean;
  tenantName: string;
  settings: TierSettings;
}

/**
 * The tier a request goes at, decided once at admission: an explicit `service_tier` is honoured
 * where the tenant may use it (refused with 403 where not); otherwise Sluice picks flex for
 * batch-class work with time to spare and priority for interactive work, each only where the
 * tenant's policy says `auto`. Null: nothing to decide (the upstream's default applies).
 */
export function decideTier(f: TierFacts): TierChoice | null {
  if (f.requested === 'flex' || f.requested === 'priority') {
    if (f.policy[f.requested] === 'off')
      throw new SluiceError(
        'forbidden',
        `Tenant ${f.tenantName} may not use the ${f.requested} service tier (service_tier: "${f.requested}"). Leave service_tier out, or ask an operator to allow it: sluice tenants tiers ${f.tenantName} --${f.requested} allow.`,
        { details: { param: 'service_tier', openaiCode: 'service_tier_not_allowed' } },
      );
    return { tier: f.requested, chosenBy: 'client', fallback: f.policy.fallback };
  }
  // Another explicit tier (`default`, `auto`, `scale`) passes through unchanged.
  if (f.requested !== undefined && f.requested !== null) return null;
  if (!TIERED_ENDPOINTS.has(f.endpoint) || f.route !== 'sync') return null;
  if (f.priority === 'batch' && f.policy.flex === 'auto' && f.flexPriced) {
    const lead = f.deadline === null ? Number.POSITIVE_INFINITY : f.deadline - f.now;
    if (lead >= f.settings.flexMinLeadMs)
      return { tier: 'flex', chosenBy: 'sluice', fallback: f.policy.fallback };
  }
  if (f.priority === 'interactive' && f.policy.priority === 'auto')
    return { tier: 'priority', chosenBy: 'sluice', fallback: f.policy.fallback };
  return null;
}

/** What one attempt is sent at: the request's tier, or the default one when flex falls back. */
export interface AttemptTier {
  serviceTier: string | null;
  fallback: 'deadline' | 'unavailable' | null;
}

/**
 * The tier of the attempt about to be sent. A flex request falls back to the default tier (where
 * its tenant allows it) once its deadline is nearer than flex can be trusted to answer, or when it
 * is the last attempt after flex had no capacity.
 */
export function attemptTier(
  s: Pick<RequestSubmitted, 'tier' | 'deadline' | 'body'>,
  at: number,
  opts: { settings: TierSettings; lastAttempt: boolean; flexUnavailableBefore: boolean },
): AttemptTier {
  const named = (s.body as { service_tier?: unknown }).service_tier;
  const serviceTier = s.tier?.tier ?? (typeof named === 'string' ? named : null);
  if (s.tier?.tier !== 'flex' || !s.tier.fallback) return { serviceTier, fallback: null };
  if (s.deadline && Date.parse(s.deadline) - at < opts.settings.flexMinLeadMs)
    return { serviceTier: 'default', fallback: 'deadline' };
  if (opts.lastAttempt && opts.flexUnavailableBefore)
    return { serviceTier: 'default', fallback: 'unavailable' };
  return { serviceTier, fallback: null };
}

/**
 * Flex's 429 "resource unavailable": flex has no capacity right now. Not a rate limit — retried
 * with backoff, never learned by the limiter as a lower limit. Recognised by its code or type
 * (`resource_unavailable`) or, failing both, by its message.
 */
export function isFlexUnavailable(f: UpstreamFailureFacts): boolean {
  if (f.status !== 429) return false;
  type ErrorFields = { code?: unknown; type?: unknown; message?: unknown };
  const body = f.body as (ErrorFields & { error?: ErrorFields }) | undefined;
  const e = body?.error ?? body;
  const code = f.errorCode ?? e?.code;
  if (code === 'resource_unavailable' || e?.type === 'resource_unavailable') return true;
  return typeof e?.message === 'string' && /resource unavailable/i.test(e.message);
}

/** The reason a flex-unavailable attempt is recorded with (`request.retry_scheduled.reason`). */
export const FLEX_UNAVAILABLE_REASON = 'resource_unavailable';

/** A stored policy (partial, from the tenant's settings) with the defaults filled in. */
export function tierPolicyOf(stored: Partial<TierPolicy> | undefined): TierPolicy {
  return { ...DEFAULT_TIER_POLICY, ...stored };
}
