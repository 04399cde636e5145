import { SluiceError } from '@sluice/events';
import { estimateChatTokens, modelInfo } from '@sluice/limiter';
import { simulatedEndpoints } from '@sluice/openai-simulator';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { Operation } from '../operation';
import { chunkStreamPolicy } from '../stream-policies';
import { finishedNormally, reportedTokenUsage } from '../usage';
import { chatAssembler } from './assemble';
import { completionToChunks } from './chunks';
import { type ChatCompletionRequest, ChatCompletionRequestSchema } from './request';

/** `POST /v1/chat/completions`: the first operation. */
export const chatCompletions: Operation<'/v1/chat/completions', ChatCompletionRequest, ChatCompletion> = {
  endpoint: '/v1/chat/completions',
  request: ChatCompletionRequestSchema,
  models: {
    known: /^(gpt-(?!3\.5-turbo-instruct)(3\.5-turbo|4|5)|o\d|chatgpt-)/,
    refuse: (_model, right) => ({
      status: 404,
      message: `This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use ${right.slice(1)}?`,
    }),
  },
  estimate: (body) =>
    estimateChatTokens({ ...body, tools: body.tools ?? undefined, functions: body.functions ?? undefined }),
  fit(body, model, estimate) {
    const info = modelInfo(model);
    if (estimate.promptTokens > info.contextWindow) {
      throw new SluiceError(
        'request_too_large',
        `This model's maximum context length is ${info.contextWindow} tokens. However, your messages resulted in about ${estimate.promptTokens} tokens. Please reduce the length of the messages.`,
        { details: { param: 'messages', openaiCode: 'context_length_exceeded' } },
      );
    }
    const requested = body.max_completion_tokens ?? body.max_tokens;
    if (requested != null && requested > info.maxOutputTokens) {
      const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
      throw new SluiceError(
        'invalid_request',
        `${param} is too large: ${requested}. This model supports at most ${info.maxOutputTokens} completion tokens.`,
        { details: { param } },
      );
    }
  },
  usage: reportedTokenUsage,
  cache: {
    // `temperature: 0` said explicitly, and one choice.
    deterministic: (body) => body.temperature === 0 && (body.n == null || body.n === 1),
    storable: finishedNormally,
  },
  batch: { url: '/v1/chat/completions' },
  stream: chunkStreamPolicy({ assembler: chatAssembler, chunks: completionToChunks }),
  priceTable: 'tokens',
  simulator: simulatedEndpoints.chatCompletions,
};
