import { z } from 'zod';

/** OpenAI's bounds on one embeddings request. */
export const EMBEDDING_LIMITS = {
  maxInputs: 2_048,
  maxTokensPerInput: 8_192,
  maxTokensPerRequest: 300_000,
  maxInputChars: 1_000_000,
} as const;

const text = z.string().min(1).max(EMBEDDING_LIMITS.maxInputChars);
const tokenIds = z.array(z.number().int().min(0)).min(1);

/**
 * What Sluice reads of an embeddings request: the model and the input it counts tokens of (a string,
 * strings, token ids or arrays of token ids). `dimensions`, `encoding_format`, `user` and anything
 * else pass through unchanged.
 */
export const EmbeddingsRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    // How many inputs (at most 2,048) is checked once the shape is known, with its own message.
    input: z.union([text, z.array(text).min(1), tokenIds, z.array(tokenIds).min(1)], {
      error:
        'must be a non-empty string, a non-empty array of non-empty strings, an array of token ids, or an array of arrays of token ids',
    }),
  })
  .loose();

export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequestSchema>;

/** The inputs one by one: a string, or token ids. */
export function inputsOf(input: EmbeddingsRequest['input']): Array<string | number[]> {
  if (typeof input === 'string') return [input];
  if (input.length > 0 && typeof input[0] === 'number') return [input as number[]];
  return input as Array<string | number[]>;
}
