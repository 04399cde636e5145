import { type ZodError, z } from 'zod';
import { LEGACY_ENDPOINT } from './endpoints';
import { SluiceError } from './errors';
import {
  RequestCancelledV1,
  RequestCompletedV1,
  RequestCompletedV2,
  RequestDispatchedV1,
  RequestDispatchedV2,
  RequestFailedV1,
  RequestRetryScheduledV1,
  RequestSubmittedV1,
  RequestSubmittedV2,
  type SluiceEvent,
  SluiceEventSchema,
  UsageRecordedV1,
  UsageRecordedV2,
} from './events';

/**
 * Older versions of an event, each with its step to the next version. Decoding an old event runs
 * the chain up to the current version, so projections only ever see current shapes.
 */
const upcasters: Record<string, (old: unknown) => unknown> = {
  'request.submitted@1': (old) => ({
    ...RequestSubmittedV1.parse(old),
    version: 2,
    cache: null,
    route: 'sync',
  }),
  'request.completed@1': (old) => ({ ...RequestCompletedV1.parse(old), version: 2, cache: null }),
  'request.dispatched@1': (old) => ({ ...RequestDispatchedV1.parse(old), version: 2, batch: null }),
  // Events from before the operation seam are chat completions.
  'request.submitted@2': (old) => ({
    ...RequestSubmittedV2.parse(old),
    version: 3,
    endpoint: LEGACY_ENDPOINT,
  }),
  'request.dispatched@2': (old) => ({
    ...RequestDispatchedV2.parse(old),
    version: 3,
    endpoint: LEGACY_ENDPOINT,
  }),
  'request.retry_scheduled@1': (old) => ({
    ...RequestRetryScheduledV1.parse(old),
    version: 2,
    endpoint: LEGACY_ENDPOINT,
  }),
  'request.completed@2': (old) => ({
    ...RequestCompletedV2.parse(old),
    version: 3,
    endpoint: LEGACY_ENDPOINT,
    upstreamProcessingMs: null,
  }),
  'request.failed@1': (old) => ({
    ...RequestFailedV1.parse(old),
    version: 2,
    endpoint: LEGACY_ENDPOINT,
    upstreamError: null,
    upstreamRequestId: null,
  }),
  'request.cancelled@1': (old) => ({
    ...RequestCancelledV1.parse(old),
    version: 2,
    endpoint: LEGACY_ENDPOINT,
  }),
  'usage.recorded@2': (old) => ({
    ...UsageRecordedV2.parse(old),
    version: 3,
    endpoint: LEGACY_ENDPOINT,
    serviceTier: null,
    units: {},
  }),
  'usage.recorded@1': (old) => {
    const v1 = UsageRecordedV1.parse(old);
    return {
      ...v1,
      version: 2,
      cachedTokens: 0,
      reasoningTokens: 0,
      estimated: false,
      channel: 'sync',
    };
  },
};

const Header = z.object({ type: z.string(), version: z.number().int() }).loose();

/** Describes the first problem of a zod error as `field.path: message`. */
export function describeZodError(error: ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Validates an event about to be written; throws `invalid_event` naming the field. */
export function validateEvent(event: unknown): SluiceEvent {
  const parsed = SluiceEventSchema.safeParse(event);
  if (!parsed.success) {
    const type = Header.safeParse(event).data?.type ?? 'unknown';
    throw new SluiceError('invalid_event', `invalid ${type} event: ${describeZodError(parsed.error)}`, {
      details: { field: parsed.error.issues[0]?.path.join('.') ?? '' },
    });
  }
  return parsed.data;
}

/** Upcasts an event of any known version to the current one and validates it. */
export function upcastEvent(raw: unknown): SluiceEvent {
  let current = raw;
  for (let step = 0; step < 16; step++) {
    const header = Header.safeParse(current);
    if (!header.success) break;
    const upcast = upcasters[`${header.data.type}@${header.data.version}`];
    if (!upcast) break;
    current = upcast(current);
  }
  return validateEvent(current);
}

export function encodeEvent(event: SluiceEvent): Buffer {
  return Buffer.from(JSON.stringify(validateEvent(event)));
}

/** Decodes bytes from the log; throws `invalid_event` for bytes that are not a valid event of any version. */
export function decodeEvent(bytes: Buffer | Uint8Array | string): SluiceEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new SluiceError('invalid_event', 'message is not JSON', { cause });
  }
  return upcastEvent(raw);
}
