import { z } from 'zod';
import type { StateRef } from '../operation';

/** Sluice's bounds on one Responses API request (the upstream checks the rest). */
export const RESPONSES_LIMITS = {
  maxItems: 2_048,
  maxTextChars: 1_000_000,
  maxTools: 128,
  maxOutputTokensCeiling: 200_000,
} as const;

const text = z.string().max(RESPONSES_LIMITS.maxTextChars);
/** Response, item and conversation ids as OpenAI mints them: letters, digits, `_` and `-`. */
const upstreamId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be an id with letters, numbers, underscores or dashes');

/** A content part: the text and image parts are estimated; every other part type passes. */
const ContentPart = z.object({ type: z.string().min(1).max(64), text: text.optional() }).loose();

/**
 * An input item: a message (`role` + content), a `function_call_output`, an earlier output item, an
 * `item_reference` (its `id` names stored upstream state). Only what Sluice estimates is read.
 */
const InputItem = z
  .object({
    type: z.string().min(1).max(64).optional(),
    role: z.string().min(1).max(64).optional(),
    content: z
      .union([text, z.array(ContentPart).max(256)])
      .nullable()
      .optional(),
    id: z.string().max(256).nullable().optional(),
    call_id: z.string().max(256).optional(),
    output: z.union([text, z.array(ContentPart).max(256)]).optional(),
  })
  .loose();

/**
 * What Sluice reads of a Responses API request: the model, the inputs it estimates from, the output
 * limit, the fields that decide where it goes (`previous_response_id`, `conversation`, item
 * references: state held upstream), whether it streams or runs in the background, and what the
 * cache looks at. Every other field — known or unknown — reaches the upstream unchanged.
 */
export const ResponsesRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    input: z
      .union([
        text,
        z
          .array(InputItem)
          .max(
            RESPONSES_LIMITS.maxItems,
            `too many input items: Sluice accepts at most ${RESPONSES_LIMITS.maxItems} per request`,
          ),
      ])
      .optional(),
    instructions: text.nullable().optional(),
    tools: z
      .array(z.object({ type: z.string().min(1).max(64) }).loose())
      .max(RESPONSES_LIMITS.maxTools)
      .nullable()
      .optional(),
    text: z
      .object({
        format: z
          .object({ type: z.string().min(1).max(64) })
          .loose()
          .nullable()
          .optional(),
      })
      .loose()
      .nullable()
      .optional(),
    reasoning: z
      .object({ effort: z.string().max(32).nullable().optional() })
      .loose()
      .nullable()
      .optional(),
    max_output_tokens: z
      .number()
      .int()
      .min(1)
      .max(RESPONSES_LIMITS.maxOutputTokensCeiling)
      .nullable()
      .optional(),
    store: z.boolean().nullable().optional(),
    background: z.boolean().nullable().optional(),
    metadata: z
      .record(z.string().max(64), z.string().max(512))
      .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
      .nullable()
      .optional(),
    previous_response_id: upstreamId.nullable().optional(),
    conversation: z
      .union([upstreamId, z.object({ id: upstreamId }).loose()])
      .nullable()
      .optional(),
    stream: z.boolean().nullable().optional(),
    temperature: z.number().nullable().optional(),
  })
  .loose();

export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;

/** The conversation a request names, if any (`"conv_…"` or `{ id }`). */
export function conversationOf(body: ResponsesRequest): string | undefined {
  const c = body.conversation;
  return typeof c === 'string' ? c : (c?.id ?? undefined);
}

/**
 * The upstream state the request continues: its previous response, its conversation, and the
 * stored items it references (`item_reference`). All of it lives with the key that created it.
 */
export function stateRefsOf(body: ResponsesRequest): StateRef[] {
  const refs: StateRef[] = [];
  if (body.previous_response_id)
    refs.push({ kind: 'response', id: body.previous_response_id, param: 'previous_response_id' });
  const conversation = conversationOf(body);
  if (conversation) refs.push({ kind: 'conversation', id: conversation, param: 'conversation' });
  if (Array.isArray(body.input))
    body.input.forEach((item, i) => {
      if (item.type === 'item_reference' && typeof item.id === 'string')
        refs.push({ kind: 'item', id: item.id, param: `input[${i}]` });
    });
  return refs;
}
