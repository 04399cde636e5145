import { SluiceError } from '@sluice/events';
import { countTextTokens } from '@sluice/limiter';
import { simulatedEndpoints } from '@sluice/openai-simulator';
import type { Completion } from 'openai/resources/completions';
import type { Operation } from '../operation';
import { chunkStreamPolicy } from '../stream-policies';
import { finishedNormally, reportedTokenUsage } from '../usage';
import { completionAssembler } from './assemble';
import { completionToTextChunks } from './chunks';
import { type CompletionRequest, CompletionRequestSchema, promptsOf } from './request';

/** Context windows of the legacy completion models (prompt plus `max_tokens`). */
const CONTEXT_WINDOWS: ReadonlyArray<readonly [RegExp, number]> = [
  [/^gpt-3\.5-turbo-instruct/, 4_096],
  [/^(davinci|babbage)-002/, 16_384],
];

/** `max_tokens` when the request gives none (OpenAI's default for this endpoint). */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

/** `POST /v1/completions` (legacy). */
export const completions: Operation<'/v1/completions', CompletionRequest, Completion> = {
  endpoint: '/v1/completions',
  request: CompletionRequestSchema,
  models: {
    known: /^(gpt-3\.5-turbo-instruct|davinci-002|babbage-002|text-(davinci|curie|babbage|ada)-)/,
    refuse: (_model, right) => ({
      status: 404,
      message:
        right === '/v1/chat/completions'
          ? 'This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?'
          : `This model is not supported in the v1/completions endpoint. Did you mean to use ${right.slice(1)}?`,
    }),
  },
  estimate(body, model) {
    const prompts = promptsOf(body.prompt);
    const promptTokens = prompts.reduce(
      (sum, p) => sum + (typeof p === 'string' ? countTextTokens(model, p) : p.length),
      0,
    );
    const maxOutputTokens = body.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS;
    const choices = prompts.length * Math.max(body.n ?? 1, body.best_of ?? 1);
    // OpenAI's admission estimate counts characters; never charge less than it will.
    const byCharacters = Math.ceil(JSON.stringify(body.prompt ?? '').length / 4);
    return {
      promptTokens,
      maxOutputTokens,
      tpmCost: Math.max(promptTokens, byCharacters) + choices * maxOutputTokens,
    };
  },
  fit(body, model, estimate) {
    const window = CONTEXT_WINDOWS.find(([m]) => m.test(model))?.[1];
    if (window === undefined) return;
    const longest = Math.max(
      ...promptsOf(body.prompt).map((p) => (typeof p === 'string' ? countTextTokens(model, p) : p.length)),
    );
    if (longest + estimate.maxOutputTokens > window) {
      throw new SluiceError(
        'request_too_large',
        `This model's maximum context length is ${window} tokens, however you requested ${longest + estimate.maxOutputTokens} tokens (${longest} in your prompt; ${estimate.maxOutputTokens} for the completion). Please reduce your prompt; or completion length.`,
        { details: { param: 'prompt', openaiCode: 'context_length_exceeded' } },
      );
    }
  },
  usage: reportedTokenUsage,
  cache: {
    deterministic: (body) =>
      body.temperature === 0 && (body.n == null || body.n === 1) && body.best_of == null,
    storable: finishedNormally,
  },
  batch: { url: '/v1/completions' },
  stream: chunkStreamPolicy({ assembler: completionAssembler, chunks: completionToTextChunks }),
  priceTable: 'tokens',
  simulator: simulatedEndpoints.completions,
};
