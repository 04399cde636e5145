import type { Response } from 'openai/resources/responses/responses';
import type { StreamAssembler } from '../operation';

/** The events that end a response stream, each carrying the whole response (with its usage). */
const FINAL_EVENTS: ReadonlySet<string> = new Set([
  'response.completed',
  'response.incomplete',
  'response.failed',
]);

/**
 * A Responses API stream folded into its response: the final event (`response.completed`,
 * `response.incomplete`, `response.failed`) carries the whole response; the deltas before it are
 * what an interrupted stream is billed from.
 */
export function responseAssembler(): StreamAssembler<Response> {
  let final: Response | undefined;
  let text = '';
  return {
    add(raw) {
      const e = raw as { type?: string; delta?: unknown; response?: Response };
      if (typeof e.delta === 'string') text += e.delta;
      if (e.type && FINAL_EVENTS.has(e.type) && e.response) final = e.response;
    },
    result: () => final,
    text: () => text,
  };
}
