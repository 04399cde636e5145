import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { StreamAssembler } from '../operation';

interface ChoiceState {
  index: number;
  message: Record<string, unknown> & { role: string; content: string | null; refusal: string | null };
  toolCalls: Array<
    Record<string, unknown> & {
      function?: { name: string; arguments: string };
      custom?: { name?: string; input: string };
    }
  >;
  logprobs: { content: unknown[] | null; refusal: unknown[] | null } | null;
  finishReason: string | null;
}

/**
 * Chat completion chunks folded into the completion they stream: content, refusal, tool-call and
 * legacy function-call deltas concatenated per choice, logprobs gathered, the top-level fields
 * (id, model, created, system_fingerprint, service_tier, usage) taken from the chunks, and any
 * field Sluice does not know kept as the upstream sent it.
 */
export function chatAssembler(): StreamAssembler<ChatCompletion> {
  let top: Record<string, unknown> | undefined;
  const choices = new Map<number, ChoiceState>();
  let finished = false;
  let text = '';

  return {
    add(raw) {
      const chunk = raw as ChatCompletionChunk & Record<string, unknown>;
      // `obfuscation` pads stream chunks only; it is no part of the completion.
      const { choices: deltas, object: _object, obfuscation: _pad, ...rest } = chunk;
      top = { ...top, ...rest };
      for (const c of deltas ?? []) {
        let state = choices.get(c.index);
        if (!state) {
          state = {
            index: c.index,
            message: { role: 'assistant', content: null, refusal: null },
            toolCalls: [],
            logprobs: null,
            finishReason: null,
          };
          choices.set(c.index, state);
        }
        const { content, refusal, tool_calls, function_call, role, ...other } = (c.delta ?? {}) as Record<
          string,
          unknown
        >;
        if (typeof role === 'string') state.message.role = role;
        if (typeof content === 'string') {
          state.message.content = (state.message.content ?? '') + content;
          text += content;
        }
        if (typeof refusal === 'string') state.message.refusal = (state.message.refusal ?? '') + refusal;
        for (const [k, v] of Object.entries(other)) if (v !== null && v !== undefined) state.message[k] = v;
        if (function_call && typeof function_call === 'object') {
          const f = function_call as { name?: string; arguments?: string };
          const cur = (state.message.function_call as { name: string; arguments: string } | undefined) ?? {
            name: '',
            arguments: '',
          };
          state.message.function_call = {
            name: cur.name + (f.name ?? ''),
            arguments: cur.arguments + (f.arguments ?? ''),
          };
          text += f.arguments ?? '';
        }
        for (const d of (tool_calls as Array<Record<string, unknown>> | undefined) ?? []) {
          const i = typeof d.index === 'number' ? d.index : state.toolCalls.length;
          const call = state.toolCalls[i] ?? {};
          state.toolCalls[i] = call;
          const {
            index: _i,
            function: fn,
            custom,
            ...fields
          } = d as {
            index?: number;
            function?: { name?: string; arguments?: string };
            custom?: { name?: string; input?: string };
          };
          Object.assign(
            call,
            Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null && v !== undefined)),
          );
          if (fn) {
            const cur = call.function ?? { name: '', arguments: '' };
            call.function = {
              name: cur.name + (fn.name ?? ''),
              arguments: cur.arguments + (fn.arguments ?? ''),
            };
            text += fn.arguments ?? '';
          }
          if (custom) {
            const cur = call.custom ?? { input: '' };
            call.custom = {
              ...(custom.name ? { name: custom.name } : cur.name ? { name: cur.name } : {}),
              input: cur.input + (custom.input ?? ''),
            };
            text += custom.input ?? '';
          }
        }
        const lp = c.logprobs as
          | { content?: unknown[] | null; refusal?: unknown[] | null }
          | null
          | undefined;
        if (lp) {
          state.logprobs ??= { content: null, refusal: null };
          if (lp.content) state.logprobs.content = [...(state.logprobs.content ?? []), ...lp.content];
          if (lp.refusal) state.logprobs.refusal = [...(state.logprobs.refusal ?? []), ...lp.refusal];
        }
        if (c.finish_reason) {
          state.finishReason = c.finish_reason;
          finished = true;
        }
      }
    },
    result() {
      if (!top || !finished) return undefined;
      return {
        ...top,
        object: 'chat.completion',
        choices: [...choices.values()]
          .sort((a, b) => a.index - b.index)
          .map((c) => ({
            index: c.index,
            message: {
              ...c.message,
              ...(c.toolCalls.length ? { tool_calls: c.toolCalls.filter(Boolean) } : {}),
            },
            logprobs: c.logprobs,
            finish_reason: c.finishReason,
          })),
      } as unknown as ChatCompletion;
    },
    text: () => text,
  };
}
