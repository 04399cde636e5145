import { type ZodError, z } from 'zod';
import { SluiceError } from './errors';
import {
  RequestCompletedV1,
  RequestDispatchedV1,
  RequestSubmittedV1,
  type SluiceEvent,
  SluiceEventSchema,
  UsageRecordedV1,
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
