import { createHash } from 'node:crypto';
import type { CacheDirective, Endpoint } from '@sluice/events';
import type { TenantSettings } from '../db/schema';
import type { AnyOperation } from '../operations/operation';
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

/**
 * sha256 (hex) of the endpoint and the canonical JSON (sorted keys) of the normalised request: the
 * same body sent to two endpoints never shares an answer.
 */
export function cacheKey(endpoint: Endpoint, body: Record<string, unknown>): string {
  return createHash('sha256')
    .update(endpoint)
    .update('\0')
    .update(canonicalJson(normaliseForCache(body)))
    .digest('hex');
}

/**
 * Whether and how a request uses the cache, decided at admission and recorded in
 * `request.submitted.cache`. Eligible when its endpoint can be cached, the tenant opted in, the
 * request does not `bypass`, and it is deterministic (the endpoint says what that means) — or it
 * explicitly asked `use`/`refresh` (the opt-in for sampled requests). `refresh` never reads the
 * cache but stores the fresh answer (replacing the old one).
 */
export function decideCache(input: {
  tenantId: string;
  operation: AnyOperation;
  settings: TenantCacheSettings | undefined;
  mode: CacheMode | undefined;
  body: Record<string, unknown>;
}): CacheDirective | null {
  const { settings, mode, body, operation } = input;
  if (!operation.cache || !settings?.enabled || mode === 'bypass') return null;
  if (mode === undefined && !operation.cache.deterministic(body)) return null;
  return {
    mode: mode ?? 'use',
    scope: settings.scope ?? input.tenantId,
    key: cacheKey(operation.endpoint, body),
    ttlSeconds: settings.ttlSeconds ?? DEFAULT_CACHE_TTL_SECONDS,
  };
}
