import { createHash } from 'node:crypto';
import type { CacheDirective } from '@sluice/events';
import type { TenantSettings } from '../db/schema';
import { canonicalJson } from '../store/audit-hash';

/** How one request may use the exact response cache (SDK option `cache`, header `x-sluice-cache`). */
export const CACHE_MODES = ['use', 'refresh', 'bypass'] as const;
export type CacheMode = (typeof CACHE_MODES)[number];

export type TenantCacheSettings = NonNullable<TenantSettings['cache']>;

/** How long an answer stays when the operator gave no TTL. */
export const DEFAULT_CACHE_TTL_SECONDS = 3_600;

/**
 * Top-level fields that cannot change the answer: transport (`stream`, `stream_options`), who asks
 * (`user`, `safety_identifier`, `metadata`), OpenAI-side storage and tier (`store`, `service_tier`,
 * `prompt_cache_key` — which only routes OpenAI's own prompt cache). Everything else, including
 * fields Sluice does not know yet, is part of the key: an unknown field never makes two different
 * requests share an answer.
 */
export const FIELDS_OUTSIDE_KEY: ReadonlySet<string> = new Set([
  'stream',
  'stream_options',
  'user',
  'safety_identifier',
  'metadata',
  'store',
  'service_tier',
  'prompt_cache_key',
]);

/**
 * The request as the cache sees it: answer-changing fields only, top-level `null` dropped (OpenAI
 * reads `null` as "default", the same as absent). Key order is irrelevant (see `cacheKey`).
 */
export function normaliseForCache(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined || FIELDS_OUTSIDE_KEY.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** sha256 (hex) of the canonical JSON (sorted keys) of the normalised request. */
export function cacheKey(body: Record<string, unknown>): string {
  return createHash('sha256')
    .update(canonicalJson(normaliseForCache(body)))
    .digest('hex');
}

/** Deterministic enough to share an answer: `temperature: 0` said explicitly, and one choice. */
export function isDeterministic(body: { temperature?: number | null; n?: number | null }): boolean {
  return body.temperature === 0 && (body.n === undefined || body.n === null || body.n === 1);
}

/**
 * Whether and how a request uses the cache, decided at admission and recorded in
 * `request.submitted.cache`. Eligible when the tenant opted in, the request does not `bypass`, and
 * it is deterministic — or it explicitly asked `use`/`refresh` (the opt-in for sampled requests).
 * `refresh` never reads the cache but stores the fresh answer (replacing the old one).
 */
export function decideCache(input: {
  tenantId: string;
  settings: TenantCacheSettings | undefined;
  mode: CacheMode | undefined;
  body: Record<string, unknown> & { temperature?: number | null; n?: number | null };
}): CacheDirective | null {
  const { settings, mode, body } = input;
  if (!settings?.enabled || mode === 'bypass') return null;
  if (mode === undefined && !isDeterministic(body)) return null;
  return {
    mode: mode ?? 'use',
    scope: settings.scope ?? input.tenantId,
    key: cacheKey(body),
    ttlSeconds: settings.ttlSeconds ?? DEFAULT_CACHE_TTL_SECONDS,
  };
}

const CACHEABLE_FINISH_REASONS: ReadonlySet<unknown> = new Set(['stop', 'length', 'tool_calls']);

/** Only whole answers are stored: every choice finished normally (never errors, filtered or partial output). */
export function isCacheableResponse(response: { choices: readonly unknown[] }): boolean {
  return (
    response.choices.length > 0 &&
    response.choices.every((c) =>
      CACHEABLE_FINISH_REASONS.has((c as { finish_reason?: unknown } | null)?.finish_reason),
    )
  );
}
