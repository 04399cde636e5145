import { type RequestSubmitted, SluiceError } from '@sluice/events';
import { and, eq, inArray } from 'drizzle-orm';
import type { Response } from 'openai/resources/responses/responses';
import type { SluiceDb } from '../../db/database';
import type { StatePin } from '../../intake/submit';
import { isTerminalStatus, type RequestState } from '../../store/projections';
import { type UpstreamClient, UpstreamFailure } from '../../upstream/upstream-client';
import type { StateRef } from '../operation';
import {
  type BackgroundStatus,
  backgroundPolicy,
  pendingResponse,
  requestIdOfBackgroundResponse,
} from './background';
import type { ResponsesRequest } from './request';
import { type ResponseOwnerRow, responseDeletions, responseOwners } from './response-schema';

export interface ResponsesServiceDeps {
  db: SluiceDb;
  /** Writes what the event store holds back (the embedded store's linger): reads after it see every append. */
  flush(): Promise<void>;
  /** The request's projected state (also one this process accepted and the store has not yet). */
  requestState(tenantId: string, requestId: string): Promise<RequestState | undefined>;
  /** The request as submitted (its body). */
  submitted(tenantId: string, requestId: string): Promise<RequestSubmitted | undefined>;
  /** Cancels a request Sluice still holds (queued, or in flight: the dispatcher forwards it upstream). */
  cancelRequest(tenantId: string, requestId: string): Promise<unknown>;
  upstream: UpstreamClient;
}

/** A response id resolved for one tenant: the request that created it, and what the upstream calls it. */
interface Located {
  requestId: string;
  /** The id the caller named. */
  id: string;
  owner?: ResponseOwnerRow;
}

const notFound = (id: string) =>
  new SluiceError('not_found', `Response with id '${id}' not found.`, { details: { param: null } });

const previousNotFound = (id: string) =>
  new SluiceError('invalid_request', `Previous response with id '${id}' not found.`, {
    details: { param: 'previous_response_id', openaiCode: 'previous_response_not_found' },
  });

/** A stored answer: the upstream's response (`store: false` ones hold no state upstream). */
type StoredAnswer = Response & { store?: boolean };

/** Where a request is while Sluice holds it, as a background response's status. */
function backgroundStatusOf(row: RequestState): BackgroundStatus {
  switch (row.status) {
    case 'dispatched':
      return 'in_progress';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'queued';
  }
}

/** An upstream refusal of a forwarded call, relayed as the upstream sent it; anything else is Sluice's error. */
function relayed(error: unknown): SluiceError {
  if (error instanceof UpstreamFailure && error.facts.status !== undefined && error.facts.status < 500) {
    const e = error.facts.upstreamError;
    return new SluiceError('upstream_refused', e?.message ?? error.message, {
      details: {
        status: error.facts.status,
        openaiType: e?.type ?? 'invalid_request_error',
        param: e?.param ?? null,
        openaiCode: e?.code ?? null,
      },
    });
  }
  return new SluiceError('upstream_error', `The upstream pool did not answer: ${(error as Error).message}`, {
    details: { openaiCode: 'upstream_error' },
  });
}

/**
 * The Responses API's routes besides `POST /v1/responses`, for the tenant that created the
 * response and no one else, and the pinning of follow-ups to the pool holding their state. A
 * response Sluice relayed is answered from Sluice's own store; what only the upstream holds
 * (input items, other renderings) is asked of the pool that created it, never of another.
 */
export function createResponsesService(deps: ResponsesServiceDeps) {
  const { db } = deps;

  async function deleted(tenantId: string, ids: readonly string[]): Promise<boolean> {
    const rows = await db
      .select({ id: responseDeletions.responseId })
      .from(responseDeletions)
      .where(and(eq(responseDeletions.tenantId, tenantId), inArray(responseDeletions.responseId, [...ids])))
      .limit(1);
    return rows.length > 0;
  }

  async function owned(tenantId: string, stateId: string): Promise<ResponseOwnerRow | undefined> {
    return (
      await db
        .select()
        .from(responseOwners)
        .where(and(eq(responseOwners.tenantId, tenantId), eq(responseOwners.stateId, stateId)))
        .limit(1)
    )[0];
  }

  /** The request behind a response id of this tenant's (Sluice's background id, or the upstream's). */
  async function locate(tenantId: string, id: string): Promise<Located | undefined> {
    await deps.flush();
    const owner = await owned(tenantId, id);
    if (owner && owner.kind !== 'response') return undefined;
    const requestId = owner?.requestId ?? requestIdOfBackgroundResponse(id);
    if (!requestId || (await deleted(tenantId, [id, owner?.upstreamId ?? id]))) return undefined;
    return { requestId, id, ...(owner ? { owner } : {}) };
  }

  /** A located response's request, when it is a `/v1/responses` request of this tenant. */
  async function stateOf(tenantId: string, at: Located): Promise<RequestState | undefined> {
    const row = await deps.requestState(tenantId, at.requestId);
    return row?.endpoint === '/v1/responses' ? row : undefined;
  }

  /** The response as its creator sees it: the stored answer, or where its background work is. */
  async function view(tenantId: string, at: Located, row: RequestState): Promise<Response> {
    if (row.status === 'completed') return backgroundPolicy.present(row.response as Response, at.requestId);
    const submitted = await deps.submitted(tenantId, at.requestId);
    if (submitted?.endpoint !== '/v1/responses') throw notFound(at.id);
    const status = backgroundStatusOf(row);
    const error =
      status === 'failed'
        ? {
            code: row.upstreamError?.code ?? row.errorReason ?? 'server_error',
            message: row.upstreamError?.message ?? row.errorMessage ?? '',
          }
        : null;
    return pendingResponse(
      submitted.body as ResponsesRequest,
      at.requestId,
      Date.parse(submitted.occurredAt),
      status,
      error,
    );
  }

  async function found(tenantId: string, id: string): Promise<{ at: Located; row: RequestState }> {
    const at = await locate(tenantId, id);
    const row = at && (await stateOf(tenantId, at));
    if (!at || !row) throw notFound(id);
    return { at, row };
  }

  /** What the upstream calls a completed response (it differs from a background response's Sluice id). */
  const upstreamIdOf = (row: RequestState) => (row.response as { id: string }).id;

  async function forward(
    row: RequestState,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query?: Record<string, string | string[]>,
  ): Promise<unknown> {
    try {
      return (await deps.upstream.request(row.pool, method, path, query ? { query } : {})).result;
    } catch (error) {
      throw relayed(error);
    }
  }

  return {
    /** `GET /v1/responses/{id}`: from Sluice's store; other renderings (`include`, …) from the owning pool. */
    async retrieve(
      tenantId: string,
      id: string,
      query: Record<string, string | string[]> = {},
    ): Promise<Response> {
      if (query.stream === 'true')
        throw new SluiceError(
          'invalid_request',
          'stream=true is not served yet: streaming a stored response comes with Sluice’s streaming transport. Retrieve it without stream.',
          { details: { param: 'stream' } },
        );
      const { at, row } = await found(tenantId, id);
      if (row.status !== 'completed' || Object.keys(query).length === 0) return view(tenantId, at, row);
      const fresh = (await forward(row, 'GET', `/v1/responses/${upstreamIdOf(row)}`, query)) as Response;
      return backgroundPolicy.present(fresh, at.requestId);
    },

    /**
     * `POST /v1/responses/{id}/cancel` (background responses only): queued in Sluice, the request is
     * cancelled there; in progress upstream, the dispatcher forwards the cancel and the upstream's
     * cancelled response (with what it spent) is recorded when its poll sees it, replacing the
     * `cancelled` Sluice shows meanwhile; a finished one is returned unchanged.
     */
    async cancel(tenantId: string, id: string): Promise<Response> {
      const { at, row } = await found(tenantId, id);
      const background =
        requestIdOfBackgroundResponse(id) !== undefined ||
        (row.response as Response | null)?.background === true;
      if (!background)
        throw new SluiceError(
          'invalid_request',
          'Only responses created with background=true can be cancelled.',
          {
            details: { param: null },
          },
        );
      if (isTerminalStatus(row.status)) return view(tenantId, at, row);
      await deps.cancelRequest(tenantId, at.requestId);
      return view(tenantId, at, (await stateOf(tenantId, at)) ?? row);
    },

    /** `DELETE /v1/responses/{id}`: deleted upstream, then no longer shown nor continued by Sluice. */
    async remove(
      tenantId: string,
      id: string,
    ): Promise<{ id: string; object: 'response.deleted'; deleted: true }> {
      const { at, row } = await found(tenantId, id);
      if (!isTerminalStatus(row.status))
        throw new SluiceError(
          'invalid_request',
          `Response ${id} is still ${row.status === 'dispatched' ? 'in progress' : 'queued'}; cancel it before deleting it.`,
          { details: { param: null } },
        );
      const answer = row.response as StoredAnswer | null;
      if (row.status === 'completed' && answer && answer.store !== false)
        await forward(row, 'DELETE', `/v1/responses/${upstreamIdOf(row)}`);
      const names = [
        ...new Set([id, ...(answer ? [answer.id] : []), ...(at.owner ? [at.owner.upstreamId] : [])]),
      ];
      await db
        .insert(responseDeletions)
        .values(names.map((responseId) => ({ tenantId, responseId })))
        .onConflictDoNothing();
      return { id, object: 'response.deleted', deleted: true };
    },

    /** `GET /v1/responses/{id}/input_items`: the upstream numbers the items, so the owning pool lists them. */
    async inputItems(
      tenantId: string,
      id: string,
      query: Record<string, string | string[]> = {},
    ): Promise<unknown> {
      const { row } = await found(tenantId, id);
      if (row.status !== 'completed') {
        if (isTerminalStatus(row.status)) throw notFound(id);
        throw new SluiceError(
          'invalid_request',
          `Response ${id} is still queued in Sluice: its input items are listed once the upstream has it.`,
          { details: { param: null } },
        );
      }
      return forward(row, 'GET', `/v1/responses/${upstreamIdOf(row)}/input_items`, query);
    },

    /**
     * Where the state a request continues lives, for `intake/submit`: every reference must be this
     * tenant's (a response or item it created through Sluice; a conversation no other tenant used),
     * and all of it in one pool. A Sluice background id is replaced by the upstream's.
     */
    async pin(tenantId: string, refs: readonly StateRef[]): Promise<StatePin | undefined> {
      const pools = new Set<string>();
      let carriedTokens = 0;
      let replace: StatePin['replace'];
      for (const ref of refs) {
        switch (ref.kind) {
          case 'response': {
            const at = await locate(tenantId, ref.id);
            const row = at && (await stateOf(tenantId, at));
            if (!at || !row) throw previousNotFound(ref.id);
            if (!isTerminalStatus(row.status))
              throw new SluiceError(
                'invalid_request',
                `Previous response with id '${ref.id}' is still ${row.status === 'dispatched' ? 'in progress' : 'queued'}; continue it once it has completed.`,
                { details: { param: ref.param, openaiCode: 'previous_response_in_progress' } },
              );
            const answer = row.response as StoredAnswer | null;
            if (row.status !== 'completed' || !answer || answer.store === false)
              throw previousNotFound(ref.id);
            pools.add(row.pool);
            carriedTokens += (answer.usage?.input_tokens ?? 0) + (answer.usage?.output_tokens ?? 0);
            if (answer.id !== ref.id) replace = { param: ref.param, id: answer.id };
            break;
          }
          case 'item': {
            await deps.flush();
            const owner = await owned(tenantId, ref.id);
            if (owner?.kind !== 'item')
              throw new SluiceError('not_found', `Item with id '${ref.id}' not found.`, {
                details: { param: ref.param },
              });
            pools.add(owner.pool);
            break;
          }
          case 'conversation': {
            await deps.flush();
            const owner = await owned(tenantId, ref.id);
            if (owner) {
              pools.add(owner.pool);
              carriedTokens += owner.contextTokens;
              break;
            }
            // A conversation Sluice has not seen yet was created upstream by the tenant; one another
            // tenant used through Sluice is not this tenant's to continue.
            const used = await db
              .select({ tenantId: responseOwners.tenantId })
              .from(responseOwners)
              .where(eq(responseOwners.stateId, ref.id))
              .limit(1);
            if (used.length)
              throw new SluiceError('not_found', `Conversation with id '${ref.id}' not found.`, {
                details: { param: ref.param },
              });
            break;
          }
          default: {
            const never: never = ref.kind;
            throw new Error(`unknown state kind ${String(never)}`);
          }
        }
      }
      if (pools.size > 1)
        throw new SluiceError(
          'invalid_request',
          `This request continues state held by different upstream pools (${[...pools].join(', ')}); one request can continue state of one pool only.`,
          { details: { param: refs[0]?.param ?? null } },
        );
      const [pool] = pools;
      return pool ? { pool, carriedTokens, ...(replace ? { replace } : {}) } : undefined;
    },
  };
}

export type ResponsesService = ReturnType<typeof createResponsesService>;
