import { getEncoding, type Tiktoken } from 'js-tiktoken';
import { DEFAULT_MAX_OUTPUT_TOKENS } from './defaults';

export type EncodingName = 'o200k_base' | 'cl100k_base';

export interface ModelInfo {
  family: string;
  contextWindow: number;
  maxOutputTokens: number;
}

/** Longest prefix wins; unknown models get a generous modern default. */
const MODELS: Array<[prefix: string, info: ModelInfo]> = [
  ['gpt-4o-mini', { family: 'gpt-4o', contextWindow: 128_000, maxOutputTokens: 16_384 }],
  ['gpt-4o', { family: 'gpt-4o', contextWindow: 128_000, maxOutputTokens: 16_384 }],
  ['gpt-4.1', { family: 'gpt-4.1', contextWindow: 1_047_576, maxOutputTokens: 32_768 }],
  ['gpt-4.5', { family: 'gpt-4.5', contextWindow: 128_000, maxOutputTokens: 16_384 }],
  ['gpt-5', { family: 'gpt-5', contextWindow: 400_000, maxOutputTokens: 128_000 }],
  ['o1', { family: 'o-series', contextWindow: 200_000, maxOutputTokens: 100_000 }],
  ['o3', { family: 'o-series', contextWindow: 200_000, maxOutputTokens: 100_000 }],
  ['o4-mini', { family: 'o-series', contextWindow: 200_000, maxOutputTokens: 100_000 }],
  ['gpt-4-turbo', { family: 'gpt-4', contextWindow: 128_000, maxOutputTokens: 4_096 }],
  ['gpt-4', { family: 'gpt-4', contextWindow: 8_192, maxOutputTokens: 8_192 }],
  ['gpt-3.5-turbo', { family: 'gpt-3.5', contextWindow: 16_385, maxOutputTokens: 4_096 }],
];
const FALLBACK: ModelInfo = { family: 'unknown', contextWindow: 128_000, maxOutputTokens: 16_384 };

export function modelInfo(model: string): ModelInfo {
  let best: ModelInfo | undefined;
  let bestLength = -1;
  for (const [prefix, info] of MODELS) {
    if (model.startsWith(prefix) && prefix.length > bestLength) {
      best = info;
      bestLength = prefix.length;
    }
  }
  return best ?? FALLBACK;
}

/** o200k_base for the gpt-4o / 4.1 / 4.5 / 5 and o-series families; cl100k_base for older models. */
export function encodingNameForModel(model: string): EncodingName {
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d)/.test(model)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(model)) return 'cl100k_base';
  return 'o200k_base';
}

const encoders = new Map<EncodingName, Tiktoken>();

/** Encoders are large: built once per process, on first use. */
function encoder(name: EncodingName): Tiktoken {
  let enc = encoders.get(name);
  if (!enc) {
    enc = getEncoding(name);
    encoders.set(name, enc);
  }
  return enc;
}

export function countTextTokens(model: string, text: string): number {
  return text.length === 0 ? 0 : encoder(encodingNameForModel(model)).encode(text).length;
}

export interface ChatParamsForEstimate {
  model: string;
  messages: readonly unknown[];
  tools?: readonly unknown[] | undefined;
  functions?: readonly unknown[] | undefined;
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  n?: number | null | undefined;
  response_format?: unknown;
}

export interface TokenEstimate {
  promptTokens: number;
  maxOutputTokens: number;
  /** What the upstream charges against TPM at admission: the larger of the tokenizer count and
   * its character-based estimate (chars / 4), plus n × the output allowance. */
  tpmCost: number;
}

// OpenAI's documented chat accounting.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;
const TOOLS_OVERHEAD = 12;

/** Image cost by OpenAI's tile rule when the size is unknown: the high-detail upper bound for a 2048×768-fit image. */
const IMAGE_LOW_DETAIL = 85;
const IMAGE_HIGH_DETAIL_BOUND = 85 + 170 * 6;

export function estimateChatTokens(
  params: ChatParamsForEstimate,
  opts: { defaultMaxOutputTokens?: number } = {},
): TokenEstimate {
  const enc = encoder(encodingNameForModel(params.model));
  const count = (s: string) => (s.length === 0 ? 0 : enc.encode(s).length);
  let prompt = REPLY_PRIMING;
  for (const raw of params.messages) {
    const m = (raw ?? {}) as Record<string, unknown>;
    prompt += TOKENS_PER_MESSAGE + count(String(m.role ?? ''));
    if (typeof m.name === 'string') prompt += TOKENS_PER_NAME + count(m.name);
    prompt += contentTokens(m.content, count);
    if (Array.isArray(m.tool_calls)) prompt += count(JSON.stringify(m.tool_calls));
    if (m.function_call) prompt += count(JSON.stringify(m.function_call));
    if (typeof m.tool_call_id === 'string') prompt += count(m.tool_call_id);
  }
  const tools = [...(params.tools ?? []), ...(params.functions ?? [])];
  if (tools.length) prompt += TOOLS_OVERHEAD + count(JSON.stringify(tools));
  if (params.response_format && typeof params.response_format === 'object') {
    const rf = params.response_format as { type?: string; json_schema?: unknown };
    if (rf.type === 'json_schema') prompt += count(JSON.stringify(rf.json_schema ?? {}));
  }
  const maxOutput =
    params.max_completion_tokens ??
    params.max_tokens ??
    opts.defaultMaxOutputTokens ??
    DEFAULT_MAX_OUTPUT_TOKENS;
  const n = params.n ?? 1;
  const byCharacters = Math.ceil(JSON.stringify(params.messages).length / 4);
  return {
    promptTokens: prompt,
    maxOutputTokens: maxOutput,
    tpmCost: Math.max(prompt, byCharacters) + n * maxOutput,
  };
}

function contentTokens(content: unknown, count: (s: string) => number): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    const p = (part ?? {}) as Record<string, unknown>;
    if (p.type === 'text') n += count(String(p.text ?? ''));
    else if (p.type === 'image_url') {
      const detail = (p.image_url as { detail?: string } | undefined)?.detail;
      n += detail === 'low' ? IMAGE_LOW_DETAIL : IMAGE_HIGH_DETAIL_BOUND;
    } else if (p.type === 'refusal') n += count(String(p.refusal ?? ''));
    else n += count(JSON.stringify(p));
  }
  return n;
}
