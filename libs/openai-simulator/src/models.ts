/** What a model is for: which family of endpoints serves it. */
export type SimulatedModelKind = 'chat' | 'embedding' | 'completion' | 'moderation';

export interface SimulatedModelInfo {
  kind: SimulatedModelKind;
  /** Embedding models: the native length of their vectors. */
  dimensions?: number;
  /** o-series and gpt-5 family: `max_completion_tokens` only, temperature 1 only. */
  reasoning?: boolean;
}

/** The models the simulator serves (ids as OpenAI lists them) and what each is for. */
export const SIMULATED_MODEL_CATALOG = {
  'gpt-4o': { kind: 'chat' },
  'gpt-4o-mini': { kind: 'chat' },
  'gpt-4.1': { kind: 'chat' },
  'gpt-4.1-mini': { kind: 'chat' },
  'gpt-4.1-nano': { kind: 'chat' },
  'gpt-5': { kind: 'chat', reasoning: true },
  'gpt-5-mini': { kind: 'chat', reasoning: true },
  o3: { kind: 'chat', reasoning: true },
  'o4-mini': { kind: 'chat', reasoning: true },
  'gpt-4': { kind: 'chat' },
  'gpt-3.5-turbo': { kind: 'chat' },
  'text-embedding-3-small': { kind: 'embedding', dimensions: 1536 },
  'text-embedding-3-large': { kind: 'embedding', dimensions: 3072 },
  'text-embedding-ada-002': { kind: 'embedding', dimensions: 1536 },
  'gpt-3.5-turbo-instruct': { kind: 'completion' },
  'davinci-002': { kind: 'completion' },
  'babbage-002': { kind: 'completion' },
  'omni-moderation-latest': { kind: 'moderation' },
  'omni-moderation-2024-09-26': { kind: 'moderation' },
  'text-moderation-latest': { kind: 'moderation' },
} as const satisfies Record<string, SimulatedModelInfo>;

export type SimulatedModel = keyof typeof SIMULATED_MODEL_CATALOG;

/** Models the simulator serves (ids as OpenAI lists them). */
export const SIMULATED_MODELS = Object.keys(SIMULATED_MODEL_CATALOG) as readonly SimulatedModel[];

/** The endpoint that serves each kind of model, as OpenAI names it in its refusals (`v1/embeddings`). */
const ENDPOINT_OF_KIND: Record<SimulatedModelKind, string> = {
  chat: '/v1/chat/completions',
  embedding: '/v1/embeddings',
  completion: '/v1/completions',
  moderation: '/v1/moderations',
};

export function simulatedModelInfo(model: string): SimulatedModelInfo | undefined {
  return Object.hasOwn(SIMULATED_MODEL_CATALOG, model)
    ? (SIMULATED_MODEL_CATALOG as Record<string, SimulatedModelInfo>)[model]
    : undefined;
}

/** Chat models are also served by the Responses API, as at OpenAI. */
const ALSO_SERVED_BY: Partial<Record<SimulatedModelKind, readonly string[]>> = { chat: ['/v1/responses'] };

/** Every endpoint that serves `model`: the one `simulatedModelEndpoint` names first. */
export function simulatedModelEndpoints(model: string): string[] {
  const info = simulatedModelInfo(model);
  return info ? [ENDPOINT_OF_KIND[info.kind], ...(ALSO_SERVED_BY[info.kind] ?? [])] : [];
}

/** The path of the endpoint that serves `model` (`/v1/embeddings`), or undefined for a model not served. */
export function simulatedModelEndpoint(model: string): string | undefined {
  const info = simulatedModelInfo(model);
  return info ? ENDPOINT_OF_KIND[info.kind] : undefined;
}
