import { z } from 'zod';

/**
 * What lands on the dead-letter topic: a request whose retries are exhausted (with its submission,
 * so it can be retried), or bytes no consumer could decode (kept raw, with the reason).
 */
export const DeadLetterSchema = z.object({
  reason: z.string().min(1).max(2_000),
  sourceTopic: z.string(),
  sourcePartition: z.number().int().min(0).nullable(),
  sourceOffset: z.string().nullable(),
  failedAt: z.iso.datetime({ offset: true }),
  requestId: z.string().nullable(),
  tenantId: z.string().nullable(),
  /** The undecodable payload as text (utf8, or base64 when it is not text), capped in size. */
  raw: z.string().nullable(),
  /** The decoded event when there was one (e.g. the `request.submitted` of an exhausted request). */
  event: z.unknown().nullable(),
});

export type DeadLetter = z.infer<typeof DeadLetterSchema>;
