import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';

type Delta = ChatCompletionChunk.Choice.Delta;

/** Message fields a delta of their own carries; any other field (annotations, audio, tomorrow's) rides on the role chunk. */
const STREAMED_FIELDS: ReadonlySet<string> = new Set([
  'role',
  'content',
  'refusal',
  'tool_calls',
  'function_call',
]);

/**
 * A tool call as the upstream streams it: function calls with their name and arguments, custom
 * tools (`type: 'custom'`) with their name and input. The SDK's chunk type knows only functions.
 */
function toolCallDelta(call: ChatCompletionMessageToolCall, index: number) {
  switch (call.type) {
    case 'function':
      return { index, id: call.id, type: 'function' as const, function: call.function };
    case 'custom':
      return { index, id: call.id, type: 'custom', custom: call.custom } as unknown as NonNullable<
        Delta['tool_calls']
      >[number];
    default: {
      const unknown: never = call;
      return { ...(unknown as object), index } as NonNullable<Delta['tool_calls']>[number];
    }
  }
}

/**
 * A whole completion as the chunks the upstream would have streamed: role, content, refusal, tool
 * calls (function and custom) or a legacy function call, finish, then usage when asked. Every chunk
 * keeps the completion's own fields; message fields Sluice does not know reach the caller too.
 */
export function completionToChunks(c: ChatCompletion, includeUsage: boolean): ChatCompletionChunk[] {
  const base = {
    id: c.id,
    object: 'chat.completion.chunk' as const,
    created: c.created,
    model: c.model,
    ...(c.system_fingerprint ? { system_fingerprint: c.system_fingerprint } : {}),
    ...(c.service_tier ? { service_tier: c.service_tier } : {}),
  };
  const chunks: ChatCompletionChunk[] = [];
  const push = (index: number, delta: Delta, logprobs: ChatCompletionChunk.Choice['logprobs'] = null) =>
    chunks.push({ ...base, choices: [{ index, delta, finish_reason: null, logprobs }] });
  for (const choice of c.choices) {
    const msg = choice.message;
    const calls = msg.tool_calls ?? [];
    const others = Object.fromEntries(
      Object.entries(msg).filter(([k, v]) => !STREAMED_FIELDS.has(k) && v !== null && v !== undefined),
    );
    // OpenAI opens a tool or function call with `content: null`, an answer with `content: ''`.
    const calling = calls.length > 0 || msg.function_call != null;
    push(choice.index, { role: 'assistant', content: calling && !msg.content ? null : '', ...others });
    // The choice's logprobs ride with its text: the content's, or the refusal's when it refused.
    const logprobs = choice.logprobs ?? null;
    if (msg.content) push(choice.index, { content: msg.content }, logprobs);
    if (msg.refusal) push(choice.index, { refusal: msg.refusal }, msg.content ? null : logprobs);
    if (calls.length > 0) push(choice.index, { tool_calls: calls.map(toolCallDelta) });
    if (msg.function_call) push(choice.index, { function_call: msg.function_call });
    chunks.push({
      ...base,
      choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason, logprobs: null }],
    });
  }
  if (includeUsage && c.usage) chunks.push({ ...base, choices: [], usage: c.usage });
  return chunks;
}
