import { z } from 'zod';

const MAX_INPUT_CHARS = 1_000_000;

/** A multimodal input part: its text is counted; image parts pass. */
const InputPart = z
  .object({ type: z.string().min(1).max(64), text: z.string().max(MAX_INPUT_CHARS).optional() })
  .loose();

/**
 * What Sluice reads of a moderation request: the model (optional: OpenAI uses its latest moderation
 * model) and the input it counts tokens of. Everything else passes through unchanged.
 */
export const ModerationRequestSchema = z
  .object({
    model: z.string().min(1).max(256).optional(),
    input: z.union(
      [
        z.string().max(MAX_INPUT_CHARS),
        z.array(z.string().max(MAX_INPUT_CHARS)).min(1).max(2_048),
        z.array(InputPart).min(1).max(2_048),
      ],
      { error: 'must be a string, an array of strings, or an array of text / image_url parts' },
    ),
  })
  .loose();

export type ModerationRequest = z.infer<typeof ModerationRequestSchema>;

/** The text of the input, as one string per input or part. */
export function moderationTexts(input: ModerationRequest['input']): string[] {
  if (typeof input === 'string') return [input];
  return input.map((i) => (typeof i === 'string' ? i : (i.text ?? '')));
}
