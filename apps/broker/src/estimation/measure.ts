import type { Endpoint, TokenEstimate } from '@sluice/events';
import { SluiceError } from '@sluice/events';
import type { AnyOperation } from '../operations/operation';
import { operationFor } from '../operations/registry';

/** One request to measure: what the serving thread hands to an estimation thread (structured-cloneable). */
export interface MeasureTask {
  endpoint: Endpoint;
  body: Record<string, unknown>;
  model: string;
  /** Tokens the upstream adds from state the request continues (a response chain's context). */
  carriedTokens: number;
}

/** What comes back: the estimate, or the refusal `fit` raised (a SluiceError does not survive cloning). */
export type MeasureResult =
  | { estimate: TokenEstimate }
  | { refusal: { code: SluiceError['code']; message: string; details: Record<string, unknown> } };

/** The token estimate of a request and the refusals that need it (context window, per-input limits); throws. */
export function measureRequest(
  op: AnyOperation,
  body: Record<string, unknown>,
  model: string,
  carriedTokens: number,
): TokenEstimate {
  const own = op.estimate(body, model);
  const estimate = {
    ...own,
    promptTokens: own.promptTokens + carriedTokens,
    tpmCost: own.tpmCost + carriedTokens,
  };
  op.fit(body, model, estimate);
  return estimate;
}

/** `measureRequest` over a task, its refusal turned into data to cross a thread. */
export function measureTask(task: MeasureTask): MeasureResult {
  try {
    return {
      estimate: measureRequest(operationFor(task.endpoint), task.body, task.model, task.carriedTokens),
    };
  } catch (e) {
    if (!(e instanceof SluiceError)) throw e;
    return { refusal: { code: e.code, message: e.message, details: { ...e.details } } };
  }
}

/** The estimate of a result, or its refusal thrown again as the SluiceError it was. */
export function unwrapMeasure(result: MeasureResult): TokenEstimate {
  if ('estimate' in result) return result.estimate;
  throw new SluiceError(result.refusal.code, result.refusal.message, { details: result.refusal.details });
}
