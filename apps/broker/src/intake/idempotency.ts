import { createHash } from 'node:crypto';
import type { Endpoint } from '@sluice/events';
import { canonicalJson } from '../store/audit-hash';

/** The same tenant and idempotency key always name the same request, even across API processes. */
export function idempotentRequestId(tenantId: string, key: string): string {
  const digest = createHash('sha256').update(tenantId).update('\0').update(key).digest('base64url');
  return `req_${digest.slice(0, 24)}`;
}

/**
 * What makes two submissions the same request (as Stripe compares them): the endpoint and the body,
 * whatever the order of its keys. A reused idempotency key with another fingerprint is refused.
 */
export function requestFingerprint(endpoint: Endpoint, body: unknown): string {
  return createHash('sha256').update(endpoint).update('\0').update(canonicalJson(body)).digest('hex');
}
