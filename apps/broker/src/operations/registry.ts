import type { Endpoint } from '@sluice/events';
import { chatCompletions } from './chat-completions';
import { completions } from './completions';
import { embeddings } from './embeddings';
import { moderations } from './moderations';
import type { AnyOperation, ResultOf } from './operation';
import { responses } from './responses';

/** Every endpoint Sluice brokers: one line each. */
export const OPERATIONS = [
  chatCompletions,
  embeddings,
  completions,
  moderations,
  responses,
] as const satisfies readonly AnyOperation[];

const byEndpoint = new Map<Endpoint, AnyOperation>(OPERATIONS.map((o) => [o.endpoint, o]));

/** The operation of an endpoint named in an event. */
export function operationFor(endpoint: Endpoint): AnyOperation {
  const op = byEndpoint.get(endpoint);
  if (!op) throw new Error(`no operation is registered for ${endpoint}`);
  return op;
}

/**
 * The endpoint known to serve a model, if any (the first listed: chat models are also served by
 * the Responses API); unknown ids (e.g. Azure deployment names) are served anywhere.
 */
export function knownEndpointOf(model: string): Endpoint | undefined {
  return OPERATIONS.find((o) => o.models.known.test(model))?.endpoint;
}

/** The brokered endpoints, for messages that name them. */
export const BROKERED_ENDPOINTS: readonly Endpoint[] = OPERATIONS.map((o) => o.endpoint);

/** The answer of any brokered endpoint. */
export type OperationResult = ResultOf<(typeof OPERATIONS)[number]>;
