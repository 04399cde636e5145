import { type EncodingName, tokenizer } from '@sluice/tokenizer';
import { DEFAULT_MAX_OUTPUT_TOKENS, TOKEN_ESTIMATE_DEFAULTS } from './defaults';
import { imageSizeFromDataUrl } from './internal/image-size';

export type { EncodingName };

/** How a model family prices an image: OpenAI documents two rules. */
export type ImageRule =
  /** 512-px tiles after fitting 2048² and shortening to 768: base + perTile × tiles. */
  | { kind: 'tiles'; base: number; perTile: number }
  /** 32-px patches capped at 1536, times a multiplier. */
  | { kind: 'patches'; multiplier: number };

export interface ModelInfo {
  family: string;
  contextWindow: number;
  maxOutputTokens: number;
  image?: ImageRule;
}

const TILES_4O: ImageRule = { kind: 'tiles', base: 85, perTile: 170 };

/** Longest matching prefix wins; unknown models get a generous modern default. */
const MODELS: ReadonlyArray<readonly [prefix: string, info: ModelInfo]> = [
  [
    'gpt-4o-mini',
    {
      family: 'gpt-4o',
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      image: { kind: 'tiles', base: 2_833, perTile: 5_667 },
    },
  ],
  ['gpt-4o', { family: 'gpt-4o', contextWindow: 128_000, maxOutputTokens: 16_384, image: TILES_4O }],
  ['gpt-4.1', { family: 'gpt-4.1', contextWindow: 1_047_576, maxOutputTokens: 32_768, image: TILES_4O }],
  [
    'gpt-4.1-mini',
    {
      family: 'gpt-4.1',
      contextWindow: 1_047_576,
      maxOutputTokens: 32_768,
      image: { kind: 'patches', multiplier: 1.62 },
    },
  ],
  [
    'gpt-4.1-nano',
    {
      family: 'gpt-4.1',
      contextWindow: 1_047_576,
      maxOutputTokens: 32_768,
      image: { kind: 'patches', multiplier: 2.46 },
    },
  ],
  ['gpt-4.5', { family: 'gpt-4.5', contextWindow: 128_000, maxOutputTokens: 16_384, image: TILES_4O }],
  [
    'gpt-5',
    {
      family: 'gpt-5',
      contextWindow: 400_000,
      maxOutputTokens: 128_000,
      image: { kind: 'tiles', base: 70, perTile: 140 },
    },
  ],
  [
    'gpt-5-mini',
    {
      family: 'gpt-5',
      contextWindow: 400_000,
      maxOutputTokens: 128_000,
      image: { kind: 'patches', multiplier: 1.62 },
    },
  ],
  [
    'gpt-5-nano',
    {
      family: 'gpt-5',
      contextWindow: 400_000,
      maxOutputTokens: 128_000,
      image: { kind: 'patches', multiplier: 2.46 },
    },
  ],
  [
    'o1',
    {
      family: 'o-series',
      contextWindow: 200_000,
      maxOutputTokens: 100_000,
      image: { kind: 'tiles', base: 75, perTile: 150 },
    },
  ],
  ['o1-mini', { family: 'o-series', contextWindow: 128_000, maxOutputTokens: 65_536 }],
  [
    'o3',
    {
      family: 'o-series',
      contextWindow: 200_000,
      maxOutputTokens: 100_000,
      image: { kind: 'tiles', base: 75, perTile: 150 },
    },
  ],
  ['o3-mini', { family: 'o-series', contextWindow: 200_000, maxOutputTokens: 100_000 }],
  [
    'o4-mini',
    {
      family: 'o-series',
      contextWindow: 200_000,
      maxOutputTokens: 100_000,
      image: { kind: 'patches', multiplier: 1.72 },
    },
  ],
  ['gpt-4-turbo', { family: 'gpt-4', contextWindow: 128_000, maxOutputTokens: 4_096, image: TILES_4O }],
  ['gpt-4-32k', { family: 'gpt-4', contextWindow: 32_768, maxOutputTokens: 8_192 }],
  ['gpt-4', { family: 'gpt-4', contextWindow: 8_192, maxOutputTokens: 8_192 }],
  ['gpt-3.5-turbo', { family: 'gpt-3.5', contextWindow: 16_385, maxOutputTokens: 4_096 }],
];
const FALLBACK: ModelInfo = {
  family: 'unknown',
  contextWindow: 128_000,
  maxOutputTokens: 16_384,
  image: TILES_4O,
};

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
  const m = model.replace(/^ft:/, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return 'o200k_base';
}

export function countTextTokens(model: string, text: string): number {
  return text.length === 0 ? 0 : tokenizer(encodingNameForModel(model)).count(text);
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
  /** What the upstream charges against TPM at dispatch: the larger of the tokenizer count and
   * OpenAI's character-based estimate (chars / 4), plus n × the output allowance. */
  tpmCost: number;
}

// OpenAI's documented chat accounting.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;
/** The hidden preamble that introduces tool definitions. */
const TOOLS_OVERHEAD = 12;

export function estimateChatTokens(
  params: ChatParamsForEstimate,
  opts: { defaultMaxOutputTokens?: number } = {},
): TokenEstimate {
  const enc = tokenizer(encodingNameForModel(params.model));
  const info = modelInfo(params.model);
  const count = (s: string) => enc.count(s);
  let prompt = REPLY_PRIMING;
  const images = { tokens: 0, dataUrlChars: 0 };
  for (const raw of params.messages) {
    const m = (raw ?? {}) as Record<string, unknown>;
    prompt += TOKENS_PER_MESSAGE + count(String(m.role ?? ''));
    if (typeof m.name === 'string') prompt += TOKENS_PER_NAME + count(m.name);
    prompt += contentTokens(m.content, count, info, images);
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
    Math.min(DEFAULT_MAX_OUTPUT_TOKENS, info.maxOutputTokens);
  const n = Math.max(1, params.n ?? 1);
  // OpenAI's admission estimate counts characters; never charge less than it will.
  const byCharacters =
    Math.ceil((JSON.stringify(params.messages).length - images.dataUrlChars) / 4) + images.tokens;
  return {
    promptTokens: prompt,
    maxOutputTokens: maxOutput,
    tpmCost: Math.max(prompt, byCharacters) + n * maxOutput,
  };
}

function contentTokens(
  content: unknown,
  count: (s: string) => number,
  info: ModelInfo,
  images: { tokens: number; dataUrlChars: number },
): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    const p = (part ?? {}) as Record<string, unknown>;
    if (p.type === 'text') n += count(String(p.text ?? ''));
    else if (p.type === 'image_url') {
      const image = (p.image_url ?? {}) as { url?: unknown; detail?: unknown };
      const url = typeof image.url === 'string' ? image.url : '';
      if (url.startsWith('data:')) images.dataUrlChars += url.length;
      const tokens = imageTokens(info, image.detail === 'low' ? 'low' : 'high', imageSizeFromDataUrl(url));
      images.tokens += tokens;
      n += tokens;
    } else if (p.type === 'refusal') n += count(String(p.refusal ?? ''));
    else n += count(JSON.stringify(p));
  }
  return n;
}

/**
 * Image tokens by OpenAI's documented rules; `auto` detail counts as high and an unknown size as
 * the largest the rule allows, so the estimate is an upper bound.
 */
export function imageTokens(
  info: ModelInfo,
  detail: 'low' | 'high',
  size?: { width: number; height: number },
): number {
  const rule = info.image ?? TILES_4O;
  switch (rule.kind) {
    case 'tiles': {
      if (detail === 'low') return rule.base;
      // Fitted into 2048², shortest side at most 768: at most 2 × 4 tiles.
      const tiles = size ? tileCount(size.width, size.height) : 8;
      return rule.base + rule.perTile * tiles;
    }
    case 'patches': {
      const cap = TOKEN_ESTIMATE_DEFAULTS.imagePatchCap;
      const patches = size ? Math.min(cap, patchCount(size.width, size.height, cap)) : cap;
      return Math.ceil(patches * rule.multiplier);
    }
    default: {
      const never: never = rule;
      throw new Error(`unknown image rule ${JSON.stringify(never)}`);
    }
  }
}

function tileCount(width: number, height: number): number {
  let w = width;
  let h = height;
  if (Math.max(w, h) > 2048) {
    const s = 2048 / Math.max(w, h);
    w *= s;
    h *= s;
  }
  if (Math.min(w, h) > 768) {
    const s = 768 / Math.min(w, h);
    w *= s;
    h *= s;
  }
  return Math.ceil(w / 512) * Math.ceil(h / 512);
}

function patchCount(width: number, height: number, cap: number): number {
  const raw = Math.ceil(width / 32) * Math.ceil(height / 32);
  if (raw <= cap) return raw;
  const s = Math.sqrt((32 * 32 * cap) / (width * height));
  return Math.ceil((width * s) / 32) * Math.ceil((height * s) / 32);
}
