import { countTextTokens } from '@sluice/limiter';
import { simulatedEndpoints } from '@sluice/openai-simulator';
import type { ModerationCreateResponse } from 'openai/resources/moderations';
import type { Operation, Usage } from '../operation';
import { type ModerationRequest, ModerationRequestSchema, moderationTexts } from './request';

/** Moderations report no usage and cost nothing; the request still counts, against RPM and in reports. */
const NO_TOKENS: Usage = {
  promptTokens: 0,
  cachedTokens: 0,
  completionTokens: 0,
  reasoningTokens: 0,
  totalTokens: 0,
  serviceTier: null,
  units: {},
};

/** `POST /v1/moderations`: free, but paced like everything else. */
export const moderations: Operation<'/v1/moderations', ModerationRequest, ModerationCreateResponse> = {
  endpoint: '/v1/moderations',
  request: ModerationRequestSchema,
  models: {
    known: /moderation/,
    default: 'omni-moderation-latest',
    refuse: (model, right) => ({
      status: 400,
      message: `The model \`${model}\` is not a moderation model; it is served by ${right.slice(1)}.`,
    }),
  },
  estimate(body, model) {
    const tokens = moderationTexts(body.input).reduce((sum, t) => sum + countTextTokens(model, t), 0);
    return { promptTokens: tokens, maxOutputTokens: 0, tpmCost: tokens };
  },
  fit() {},
  usage: () => NO_TOKENS,
  cache: null,
  batch: { url: '/v1/moderations' },
  stream: null,
  priceTable: 'free',
  simulator: simulatedEndpoints.moderations,
};
