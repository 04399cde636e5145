import { randomBytes } from 'node:crypto';
import { SIMULATED_ANSWER_TEXT } from '../completion';
import {
  badRequest,
  choiceCount,
  cutAtStop,
  type EndpointAnswer,
  includeUsage,
  integerOutOfRange,
  interleave,
  isTokenArray,
  missingModel,
  missingParameter,
  modelRefusal,
  type RequestBody,
  type RequestError,
  type SimulatedEndpoint,
  type StreamChunk,
  stopSequences,
  streamOptionsRefusal,
} from '../endpoint';
import { completionLogprobs } from '../internal/logprobs';
import { cutToTokens, decodeTokens, encodeText, tokenPieces } from '../internal/tokenizer';
import { SYSTEM_FINGERPRINT } from './chat-completions';

/** OpenAI's default `max_tokens` on the legacy endpoint. */
const DEFAULT_MAX_TOKENS = 16;

/** A prompt as the model reads it: its text, and its tokens when it was given as token ids. */
interface Prompt {
  text: string;
  tokenIds?: number;
}

/** The prompts of a body (a string, strings, token ids or arrays of token ids), or undefined when malformed. */
function promptsOf(model: string, prompt: unknown): Prompt[] | undefined {
  const fromTokens = (t: number[]) => {
    const text = decodeTokens(model, t);
    return text === undefined ? undefined : { text, tokenIds: t.length };
  };
  let prompts: Array<Prompt | undefined>;
  if (typeof prompt === 'string') prompts = [{ text: prompt }];
  else if (isTokenArray(prompt)) prompts = [fromTokens(prompt)];
  else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string'))
    prompts = (prompt as string[]).map((text) => ({ text }));
  else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(isTokenArray))
    prompts = prompt.map(fromTokens);
  else return undefined;
  return prompts.every((p) => p !== undefined) ? (prompts as Prompt[]) : undefined;
}

function maxTokensOf(body: RequestBody): number {
  return typeof body.max_tokens === 'number' && body.max_tokens > 0
    ? Math.floor(body.max_tokens)
    : DEFAULT_MAX_TOKENS;
}

function refuse(body: RequestBody): RequestError | null {
  const missing = missingModel(body);
  if (missing) return missing;
  const model = String(body.model);
  const wrong = modelRefusal(model, 'completion', (right) => ({
    status: 404,
    message:
      right === 'v1/chat/completions'
        ? 'This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?'
        : `This model is not supported in the v1/completions endpoint. Did you mean to use ${right}?`,
    type: 'invalid_request_error',
    code: null,
    param: 'model',
  }));
  if (wrong) return wrong;
  if (body.prompt === undefined || body.prompt === null) return missingParameter('prompt');
  if (!promptsOf(model, body.prompt)) {
    return badRequest(
      "Invalid type for 'prompt': expected a string, an array of strings, an array of token ids, or an array of arrays of token ids.",
      'prompt',
      'invalid_type',
    );
  }
  return (
    integerOutOfRange('n', body.n, 1, 128) ??
    integerOutOfRange('logprobs', body.logprobs, 0, 5) ??
    integerOutOfRange('max_tokens', body.max_tokens, 0, 1_000_000) ??
    streamOptionsRefusal(body)
  );
}

interface CompletionChoice {
  index: number;
  text: string;
  /** Where the generated part starts in `text` (after the echoed prompt). */
  offset: number;
  generated: string;
  tokens: number;
  finish: 'stop' | 'length';
}

/** `/v1/completions` (legacy): `text_completion` answers per prompt × `n`, streamed or not. */
export const completions: SimulatedEndpoint = {
  name: 'completions',
  method: 'POST',
  path: '/v1/completions',
  model: (body) => String(body.model ?? ''),
  refuse,
  /** Like chat: ~chars/4 of the prompt (token prompts count their tokens) plus `max_tokens × n`. */
  charge(body) {
    const prompts = promptsOf(String(body.model ?? ''), body.prompt) ?? [];
    const estimate = prompts.reduce((sum, p) => sum + (p.tokenIds ?? Math.ceil(p.text.length / 4)), 0);
    return estimate + maxTokensOf(body) * choiceCount(body);
  },
  answer(body, ctx): EndpointAnswer {
    const model = String(body.model);
    const prompts = promptsOf(model, body.prompt)!;
    const n = choiceCount(body);
    const stops = stopSequences(body.stop);
    const choices: CompletionChoice[] = prompts.flatMap((prompt, p) =>
      Array.from({ length: n }, (_, j) => {
        const canned = j === 0 ? ` ${SIMULATED_ANSWER_TEXT}` : ` ${SIMULATED_ANSWER_TEXT} (choice ${j + 1})`;
        const stopped = cutAtStop(canned, stops);
        const out = cutToTokens(model, stopped.text, maxTokensOf(body));
        const echo = body.echo === true ? prompt.text : '';
        return {
          index: p * n + j,
          text: echo + out.text,
          offset: echo.length,
          generated: out.text,
          tokens: out.tokens,
          finish: out.cut ? ('length' as const) : ('stop' as const),
        };
      }),
    );
    const promptTokens = prompts.reduce(
      (sum, p) => sum + (p.tokenIds ?? encodeText(model, p.text).length),
      0,
    );
    const completionTokens = choices.reduce((sum, c) => sum + c.tokens, 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const top = typeof body.logprobs === 'number' ? body.logprobs : undefined;
    const envelope = {
      id: `cmpl-${randomBytes(12).toString('base64url')}`,
      object: 'text_completion',
      created: ctx.createdSeconds,
      model,
      system_fingerprint: SYSTEM_FINGERPRINT,
    };
    return {
      promptTokens,
      outputTokens: completionTokens,
      body: () => ({
        ...envelope,
        choices: choices.map((c) => ({
          text: c.text,
          index: c.index,
          logprobs:
            top === undefined ? null : completionLogprobs(tokenPieces(model, c.generated), top, c.offset),
          finish_reason: c.finish,
        })),
        usage,
      }),
      stream:
        body.stream === true
          ? () => {
              const withUsage = includeUsage(body);
              const chunk = (
                c: CompletionChoice,
                text: string,
                finish: string | null,
                logprobs: unknown,
              ) => ({
                ...envelope,
                choices: [{ text, index: c.index, logprobs, finish_reason: finish }],
                ...(withUsage ? { usage: null } : {}),
              });
              const perChoice = choices.map((c): StreamChunk[] => {
                const pieces = tokenPieces(model, c.generated);
                const echoed =
                  c.offset > 0 ? [{ data: chunk(c, c.text.slice(0, c.offset), null, null), tokens: 0 }] : [];
                const full = top === undefined ? undefined : completionLogprobs(pieces, top, c.offset);
                const generated = pieces.map((piece, k) => {
                  const logprobs = full && {
                    tokens: full.tokens.slice(k, k + 1),
                    token_logprobs: full.token_logprobs.slice(k, k + 1),
                    top_logprobs: full.top_logprobs.slice(k, k + 1),
                    text_offset: full.text_offset.slice(k, k + 1),
                  };
                  return { data: chunk(c, piece.text, null, logprobs ?? null), tokens: piece.tokens };
                });
                return [...echoed, ...generated, { data: chunk(c, '', c.finish, null), tokens: 0 }];
              });
              const out = interleave(perChoice);
              if (withUsage) out.push({ data: { ...envelope, choices: [], usage }, tokens: 0 });
              return out;
            }
          : undefined,
    };
  },
};
