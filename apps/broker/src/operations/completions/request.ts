import { z } from 'zod';

const MAX_PROMPT_CHARS = 1_000_000;
const text = z.string().max(MAX_PROMPT_CHARS);
const tokenIds = z.array(z.number().int().min(0));

/**
 * What Sluice reads of a legacy completion request: the model, the prompt it counts tokens of, the
 * output allowance (`max_tokens`, default 16, times `n` or `best_of`) and what the cache and
 * streaming look at. Everything else passes through unchanged.
 */
export const CompletionRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    prompt: z
      .union([text, z.array(text), tokenIds, z.array(tokenIds)], {
        error: 'must be a string, an array of strings, an array of token ids, or an array of arrays of them',
      })
      .nullable()
      .optional(),
    max_tokens: z.number().int().min(0).max(200_000).nullable().optional(),
    n: z.number().int().min(1).max(128).nullable().optional(),
    best_of: z.number().int().min(1).max(128).nullable().optional(),
    temperature: z.number().nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
  })
  .loose();

export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

/** The prompts one by one (a string, or token ids); absent = OpenAI's default `<|endoftext|>`. */
export function promptsOf(prompt: CompletionRequest['prompt']): Array<string | number[]> {
  if (prompt == null) return [''];
  if (typeof prompt === 'string') return [prompt];
  if (prompt.length === 0) return [''];
  if (typeof prompt[0] === 'number') return [prompt as number[]];
  return prompt as Array<string | number[]>;
}
