import { z } from 'zod';
import { CACHE_MODES } from '../cache/cache-key';
import { findUnsafeJson } from './json-guard';

/**
 * The chat completion request as the openai SDK sends it, validated at the edge so nothing
 * malformed reaches the log. Unknown top-level parameters are refused like OpenAI does
 * ("Unrecognized request argument"), so a typo never silently changes the answer.
 */
export const REQUEST_LIMITS = {
  maxMessages: 2_048,
  maxMessageChars: 1_000_000,
  maxTools: 128,
  maxStop: 4,
  maxTokensCeiling: 200_000,
} as const;

const text = z.string().max(REQUEST_LIMITS.maxMessageChars);

const ContentPart = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text }),
  z.object({
    type: z.literal('image_url'),
    image_url: z.object({
      url: z.string().min(1).max(REQUEST_LIMITS.maxMessageChars),
      detail: z.enum(['auto', 'low', 'high']).optional(),
    }),
  }),
  z.object({
    type: z.literal('input_audio'),
    input_audio: z.object({
      data: z.string().max(REQUEST_LIMITS.maxMessageChars),
      format: z.enum(['wav', 'mp3']),
    }),
  }),
  z.object({ type: z.literal('refusal'), refusal: text }),
  z.object({
    type: z.literal('file'),
    file: z.object({
      file_data: z.string().optional(),
      file_id: z.string().optional(),
      filename: z.string().optional(),
    }),
  }),
]);

const Content = z.union([text, z.array(ContentPart).min(1).max(256)]);
const name = z.string().min(1).max(64).optional();

const ToolCall = z.object({
  id: z.string().min(1).max(256),
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1).max(64),
    arguments: z.string().max(REQUEST_LIMITS.maxMessageChars),
  }),
});

export const ChatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: Content, name }),
  z.object({ role: z.literal('developer'), content: Content, name }),
  z.object({ role: z.literal('user'), content: Content, name }),
  z.object({
    role: z.literal('assistant'),
    content: Content.nullable().optional(),
    name,
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(ToolCall).max(128).optional(),
    function_call: z.object({ name: z.string(), arguments: z.string() }).nullable().optional(),
    audio: z.object({ id: z.string() }).nullable().optional(),
  }),
  z.object({ role: z.literal('tool'), content: Content, tool_call_id: z.string().min(1).max(256) }),
  z.object({ role: z.literal('function'), content: text.nullable(), name: z.string().min(1).max(64) }),
]);

const FunctionDefinition = z.object({
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-zA-Z0-9_-]+$/, 'must be a-z, A-Z, 0-9, underscores or dashes'),
  description: z.string().max(10_000).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
});

const finite = (min: number, max: number) => z.number().min(min).max(max);
const tokens = z.number().int().min(1).max(REQUEST_LIMITS.maxTokensCeiling);

const ChatCompletionRequestFields = z.strictObject({
  model: z.string().min(1).max(256),
  messages: z
    .array(ChatMessageSchema)
    .min(1, 'must contain at least one message')
    .max(
      REQUEST_LIMITS.maxMessages,
      `too many messages: Sluice accepts at most ${REQUEST_LIMITS.maxMessages} per request`,
    ),
  max_tokens: tokens.nullable().optional(),
  max_completion_tokens: tokens.nullable().optional(),
  temperature: finite(0, 2).nullable().optional(),
  top_p: finite(0, 1).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  stop: z
    .union([z.string().max(1_000), z.array(z.string().max(1_000)).max(REQUEST_LIMITS.maxStop)])
    .nullable()
    .optional(),
  presence_penalty: finite(-2, 2).nullable().optional(),
  frequency_penalty: finite(-2, 2).nullable().optional(),
  logit_bias: z.record(z.string(), finite(-100, 100)).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  user: z.string().max(256).optional(),
  safety_identifier: z.string().max(256).optional(),
  prompt_cache_key: z.string().max(256).optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
  store: z.boolean().nullable().optional(),
  service_tier: z.enum(['auto', 'default', 'flex', 'scale', 'priority']).nullable().optional(),
  reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).nullable().optional(),
  verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  modalities: z
    .array(z.enum(['text', 'audio']))
    .nullable()
    .optional(),
  audio: z.object({ voice: z.string(), format: z.string() }).nullable().optional(),
  prediction: z
    .object({ type: z.literal('content'), content: Content })
    .nullable()
    .optional(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string().min(1).max(64),
          description: z.string().optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullable().optional(),
        }),
      }),
    ])
    .optional(),
  tools: z
    .array(z.object({ type: z.literal('function'), function: FunctionDefinition }))
    .max(REQUEST_LIMITS.maxTools)
    .optional(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }) }),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().optional(),
  functions: z.array(FunctionDefinition).max(REQUEST_LIMITS.maxTools).optional(),
  function_call: z.union([z.enum(['none', 'auto']), z.object({ name: z.string().min(1) })]).optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
});

// What the log and the event store could not take (NUL, unpaired surrogates, deep nesting).
export const ChatCompletionRequestSchema = ChatCompletionRequestFields.superRefine((request, ctx) => {
  const problem = findUnsafeJson(request);
  if (problem) {
    ctx.addIssue({
      code: 'custom',
      message: problem.message,
      path: problem.path ? problem.path.split('.') : [],
    });
  }
});

export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

/** Options Sluice adds around a request (SDK second argument, or `x-sluice-*` headers on `/v1`). */
export const SubmitOptionsSchema = z.strictObject({
  priority: z.enum(['interactive', 'standard', 'batch']).default('standard'),
  idempotencyKey: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  /**
   * Exact response cache, for tenants an operator opted in: `use` (default for deterministic
   * requests; asking it opts a sampled request in), `refresh` (never read, store the fresh answer),
   * `bypass` (neither).
   */
  cache: z.enum(CACHE_MODES).optional(),
  /** The caller stops caring after this many ms; queued requests past it are cancelled. */
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600_000)
    .optional(),
});

export type SubmitOptions = z.input<typeof SubmitOptionsSchema>;
