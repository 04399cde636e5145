import { z } from 'zod';

/**
 * The OpenAI endpoints Sluice brokers, named by their path as the Batch API names them. Every
 * event carries one: an organisation's limits are per model, shared by every endpoint using it.
 */
export const ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/moderations',
  '/v1/responses',
] as const;

export type Endpoint = (typeof ENDPOINTS)[number];
export const EndpointSchema = z.enum(ENDPOINTS);

/** Events written before Sluice brokered more than chat carry no endpoint: they are chat. */
export const LEGACY_ENDPOINT: Endpoint = '/v1/chat/completions';

const model = z.string().min(1).max(256);

/**
 * What every reader of the log may rely on in a request body and in a result, per endpoint. The
 * edge validates more (`apps/broker/src/operations`); every other field is the tenant's or the
 * upstream's and passes through unchanged.
 */
export const ENDPOINT_SHAPES = {
  '/v1/chat/completions': {
    body: z.object({ model, messages: z.array(z.unknown()).min(1) }).loose(),
    result: z.object({ id: z.string(), choices: z.array(z.unknown()) }).loose(),
  },
  '/v1/embeddings': {
    body: z.object({ model, input: z.union([z.string(), z.array(z.unknown())]) }).loose(),
    result: z.object({ data: z.array(z.unknown()) }).loose(),
  },
  '/v1/completions': {
    body: z.object({ model }).loose(),
    result: z.object({ id: z.string(), choices: z.array(z.unknown()) }).loose(),
  },
  '/v1/moderations': {
    // `model` is optional upstream (it defaults to the latest moderation model).
    body: z.object({ model: model.optional(), input: z.unknown() }).loose(),
    result: z.object({ results: z.array(z.unknown()) }).loose(),
  },
  '/v1/responses': {
    // `input` may be left out when `previous_response_id` or `conversation` carries the context.
    body: z.object({ model, input: z.union([z.string(), z.array(z.unknown())]).optional() }).loose(),
    result: z.object({ id: z.string(), object: z.literal('response'), output: z.array(z.unknown()) }).loose(),
  },
} as const satisfies Record<Endpoint, { body: z.ZodType; result: z.ZodType }>;

type Shapes = typeof ENDPOINT_SHAPES;

/** One object schema per endpoint: the given fields, `endpoint`, and that endpoint's body or result under `key`. */
type PerEndpoint<
  Fields extends z.ZodRawShape,
  Key extends string,
  Part extends 'body' | 'result',
  T extends readonly Endpoint[] = typeof ENDPOINTS,
> = {
  -readonly [I in keyof T]: T[I] extends Endpoint
    ? z.ZodObject<
        Fields & { endpoint: z.ZodLiteral<T[I]> } & { [K in Key]: Shapes[T[I]][Part] },
        z.core.$strip
      >
    : never;
};

/**
 * An event whose payload depends on the endpoint (a request's body, an answer's result), as a union
 * discriminated by `endpoint`: a chat body can never be recorded as an embeddings request.
 */
export function perEndpoint<Fields extends z.ZodRawShape, Key extends string, Part extends 'body' | 'result'>(
  fields: Fields,
  key: Key,
  part: Part,
) {
  const options = ENDPOINTS.map((endpoint) =>
    z.object({ ...fields, endpoint: z.literal(endpoint), [key]: ENDPOINT_SHAPES[endpoint][part] }),
  ) as unknown as PerEndpoint<Fields, Key, Part>;
  return z.discriminatedUnion('endpoint', options);
}
