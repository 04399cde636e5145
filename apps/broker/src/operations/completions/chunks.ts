import type { Completion } from 'openai/resources/completions';

/** A whole legacy completion as the `text_completion` chunks the upstream would have streamed. */
export function completionToTextChunks(c: Completion, includeUsage: boolean): unknown[] {
  const base = {
    id: c.id,
    object: 'text_completion' as const,
    created: c.created,
    model: c.model,
    ...(c.system_fingerprint ? { system_fingerprint: c.system_fingerprint } : {}),
  };
  const chunks: unknown[] = c.choices.map((choice) => ({
    ...base,
    choices: [
      {
        index: choice.index,
        text: choice.text,
        logprobs: choice.logprobs,
        finish_reason: choice.finish_reason,
      },
    ],
  }));
  if (includeUsage && c.usage) chunks.push({ ...base, choices: [], usage: c.usage });
  return chunks;
}
