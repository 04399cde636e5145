import type { Completion } from 'openai/resources/completions';
import type { StreamAssembler } from '../operation';

/** Legacy completion chunks folded into the completion: text and logprobs per choice, usage at the end. */
export function completionAssembler(): StreamAssembler<Completion> {
  let top: Record<string, unknown> | undefined;
  const choices = new Map<
    number,
    { index: number; text: string; logprobs: Record<string, unknown[]> | null; finish_reason: string | null }
  >();
  let finished = false;
  let text = '';
  return {
    add(raw) {
      const { choices: deltas, ...rest } = raw as { choices?: Array<Record<string, unknown>> } & Record<
        string,
        unknown
      >;
      top = { ...top, ...rest };
      for (const c of deltas ?? []) {
        const index = Number(c.index ?? 0);
        const state = choices.get(index) ?? { index, text: '', logprobs: null, finish_reason: null };
        choices.set(index, state);
        if (typeof c.text === 'string') {
          state.text += c.text;
          text += c.text;
        }
        const lp = c.logprobs as Record<string, unknown[]> | null | undefined;
        if (lp) {
          state.logprobs ??= {};
          for (const [k, v] of Object.entries(lp))
            if (Array.isArray(v)) state.logprobs[k] = [...(state.logprobs[k] ?? []), ...v];
        }
        if (typeof c.finish_reason === 'string') {
          state.finish_reason = c.finish_reason;
          finished = true;
        }
      }
    },
    result() {
      if (!top || !finished) return undefined;
      return {
        ...top,
        object: 'text_completion',
        choices: [...choices.values()].sort((a, b) => a.index - b.index),
      } as unknown as Completion;
    },
    text: () => text,
  };
}
