import { SluiceError } from '@sluice/events';
import { countTextTokens } from '@sluice/limiter';
import { simulatedEndpoints } from '@sluice/openai-simulator';
import type { CreateEmbeddingResponse } from 'openai/resources/embeddings';
import type { Operation } from '../operation';
import { reportedTokenUsage } from '../usage';
import { EMBEDDING_LIMITS, type EmbeddingsRequest, EmbeddingsRequestSchema, inputsOf } from './request';

const counted = new WeakMap<EmbeddingsRequest, number[]>();

/** Tokens of each input, counted with the model's own encoding (token ids count one each); once per body. */
export function embeddingInputTokens(body: EmbeddingsRequest, model: string): number[] {
  let tokens = counted.get(body);
  if (!tokens) {
    tokens = inputsOf(body.input).map((i) => (typeof i === 'string' ? countTextTokens(model, i) : i.length));
    counted.set(body, tokens);
  }
  return tokens;
}

/** `POST /v1/embeddings`: the TPM charge is the input tokens; there is no completion part. */
export const embeddings: Operation<'/v1/embeddings', EmbeddingsRequest, CreateEmbeddingResponse> = {
  endpoint: '/v1/embeddings',
  request: EmbeddingsRequestSchema,
  models: {
    known: /^text-embedding-|embedding/,
    refuse: (_model, right) => ({
      status: 400,
      message: `You are not allowed to generate embeddings from this model; it is served by ${right.slice(1)}.`,
    }),
  },
  estimate(body, model) {
    const tokens = embeddingInputTokens(body, model).reduce((a, b) => a + b, 0);
    return { promptTokens: tokens, maxOutputTokens: 0, tpmCost: tokens };
  },
  fit(body, model, estimate) {
    const count = inputsOf(body.input).length;
    if (count > EMBEDDING_LIMITS.maxInputs) {
      throw new SluiceError(
        'invalid_request',
        `'$.input' is invalid: ${count} inputs, at most ${EMBEDDING_LIMITS.maxInputs} per request. Split the input over several requests.`,
        { details: { param: 'input' } },
      );
    }
    const perInput = embeddingInputTokens(body, model);
    const longest = perInput.findIndex((n) => n > EMBEDDING_LIMITS.maxTokensPerInput);
    if (longest !== -1) {
      throw new SluiceError(
        'request_too_large',
        `This model's maximum context length is ${EMBEDDING_LIMITS.maxTokensPerInput} tokens, however you requested ${perInput[longest]} tokens in input ${longest}. Please reduce your prompt.`,
        { details: { param: 'input', openaiCode: 'context_length_exceeded' } },
      );
    }
    if (estimate.promptTokens > EMBEDDING_LIMITS.maxTokensPerRequest) {
      throw new SluiceError(
        'request_too_large',
        `Requested ${estimate.promptTokens} tokens, max ${EMBEDDING_LIMITS.maxTokensPerRequest} tokens per request. Split the input over several requests.`,
        { details: { param: 'input', openaiCode: 'max_tokens_per_request' } },
      );
    }
  },
  usage: reportedTokenUsage,
  // Embeddings are deterministic: the same input always has the same vector.
  cache: { deterministic: () => true, storable: (r) => Array.isArray(r.data) && r.data.length > 0 },
  batch: { url: '/v1/embeddings' },
  stream: null,
  priceTable: 'tokens',
  simulator: simulatedEndpoints.embeddings,
};
