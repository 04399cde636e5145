import { z } from 'zod';

/**
 * What Sluice reads of a chat completion request: the model, the inputs it estimates tokens from,
 * the output-token limit and the fields the cache and streaming look at. Everything else — known
 * or unknown, today's parameters and tomorrow's — reaches the upstream unchanged, and the
 * upstream's answer to it is relayed; enumerations Sluice does not interpret are not checked.
 */
export const CHAT_LIMITS = {
  maxMessages: 2_048,
  maxMessageChars: 1_000_000,
  maxTools: 128,
  maxTokensCeiling: 200_000,
} as const;

const text = z.string().max(CHAT_LIMITS.maxMessageChars);

/** A content part: its text and image URL are estimated; every other part type passes. */
const ContentPart = z
  .object({
    type: z.string().min(1).max(64),
    text: text.optional(),
    refusal: text.optional(),
    image_url: z
      .object({ url: z.string().max(CHAT_LIMITS.maxMessageChars), detail: z.string().max(16).optional() })
      .loose()
      .optional(),
  })
  .loose();

const Message = z
  .object({
    role: z.string().min(1).max(64),
    content: z
      .union([text, z.array(ContentPart).max(256)])
      .nullable()
      .optional(),
    name: z.string().max(256).optional(),
    tool_calls: z.array(z.unknown()).max(CHAT_LIMITS.maxTools).nullable().optional(),
    tool_call_id: z.string().max(256).optional(),
  })
  .loose();

const outputTokens = z.number().int().min(1).max(CHAT_LIMITS.maxTokensCeiling);

export const ChatCompletionRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    messages: z
      .array(Message)
      .min(1, 'must contain at least one message')
      .max(
        CHAT_LIMITS.maxMessages,
        `too many messages: Sluice accepts at most ${CHAT_LIMITS.maxMessages} per request`,
      ),
    max_tokens: outputTokens.nullable().optional(),
    max_completion_tokens: outputTokens.nullable().optional(),
    n: z.number().int().min(1).max(128).nullable().optional(),
    temperature: z.number().nullable().optional(),
    tools: z
      .array(z.object({ type: z.string().min(1).max(64) }).loose())
      .max(CHAT_LIMITS.maxTools)
      .nullable()
      .optional(),
    functions: z.array(z.object({}).loose()).max(CHAT_LIMITS.maxTools).nullable().optional(),
    response_format: z
      .object({ type: z.string().min(1).max(64) })
      .loose()
      .nullable()
      .optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
  })
  .loose();

export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;
