import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';

/**
 * A whole completion as the chunks the upstream would have streamed: role, content, tool calls,
 * finish, then usage when asked. Every chunk keeps the completion's own fields.
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
  for (const choice of c.choices) {
    const logprobs = choice.logprobs ?? null;
    chunks.push({
      ...base,
      choices: [
        {
          index: choice.index,
          delta: { role: 'assistant', content: '' },
          finish_reason: null,
          logprobs: null,
        },
      ],
    });
    const msg = choice.message;
    if (msg.content) {
      chunks.push({
        ...base,
        choices: [{ index: choice.index, delta: { content: msg.content }, finish_reason: null, logprobs }],
      });
    }
    if (msg.refusal) {
      chunks.push({
        ...base,
        choices: [
          { index: choice.index, delta: { refusal: msg.refusal }, finish_reason: null, logprobs: null },
        ],
      });
    }
    if (msg.tool_calls?.length) {
      chunks.push({
        ...base,
        choices: [
          {
            index: choice.index,
            delta: {
              tool_calls: msg.tool_calls.map((tc, index) => ({
                index,
                id: tc.id,
                type: 'function' as const,
                function: 'function' in tc ? tc.function : { name: '', arguments: '' },
              })),
            },
            finish_reason: null,
            logprobs: null,
          },
        ],
      });
    }
    chunks.push({
      ...base,
      choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason, logprobs: null }],
    });
  }
  if (includeUsage && c.usage) chunks.push({ ...base, choices: [], usage: c.usage });
  return chunks;
}
