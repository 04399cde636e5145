import { type ConsumedMessage, eventIdFor, type RequestSubmitted } from '@sluice/events';
import { makeSubmittedEvent } from '@sluice/events/testing';
import { describe, expect, it } from 'vitest';
import { isUnseen } from './dispatcher';

// The dispatcher skips reading a request's recorded state only when none can exist yet; every
// other delivery reads it, so a redelivered, resubmitted or cancelled request is never sent twice.
describe('isUnseen', () => {
  const original = makeSubmittedEvent({ idempotencyKey: null });
  const delivered = (event: RequestSubmitted, firstDelivery?: boolean): ConsumedMessage => ({
    topic: 'requests.standard',
    partition: 0,
    offset: '7',
    key: event.pool,
    event,
    timestamp: Date.now(),
    ...(firstDelivery === undefined ? {} : { firstDelivery }),
  });

  it('is true only for the first delivery of an original submission', () => {
    expect(original.eventId).toBe(eventIdFor('request.submitted', original.requestId, 0));
    expect(isUnseen(delivered(original, true), original, new Set())).toBe(true);
  });

  it('is false for a redelivery, or when the log cannot tell', () => {
    expect(isUnseen(delivered(original, false), original, new Set())).toBe(false);
    expect(isUnseen(delivered(original), original, new Set())).toBe(false);
  });

  it('is false for a copy: an idempotent resubmission or a Batch API retry', () => {
    const idempotent = { ...original, idempotencyKey: 'k1' };
    expect(isUnseen(delivered(idempotent, true), idempotent, new Set())).toBe(false);
    const retry = { ...original, eventId: `${original.eventId}/redelivery/1` };
    expect(isUnseen(delivered(retry, true), retry, new Set())).toBe(false);
  });

  it('is false for a request cancelled before it arrived', () => {
    expect(isUnseen(delivered(original, true), original, new Set([original.requestId]))).toBe(false);
  });
});
