import type { SimulatedEndpoint } from '../endpoint';
import { chatCompletions } from './chat-completions';
import { completions } from './completions';
import { embeddings } from './embeddings';
import { moderations } from './moderations';
import { responses } from './responses';

/** Every endpoint the simulator serves, by name; a new endpoint is its own file plus one line here. */
export const simulatedEndpoints = {
  chatCompletions,
  embeddings,
  completions,
  moderations,
  responses,
} as const;

/** The endpoints a simulator serves unless told otherwise (`startOpenAISimulator({ endpoints })`). */
export const SIMULATED_ENDPOINTS: readonly SimulatedEndpoint[] = Object.values(simulatedEndpoints);
