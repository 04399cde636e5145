import type { SluiceEvent } from '@sluice/events';
import { sql } from 'drizzle-orm';
import type { SluiceDb } from '../../db/database';
import { backgroundResponseId } from './background';
import { responseOwners } from './response-schema';

type OwnerRow = typeof responseOwners.$inferInsert;

/** A row to write, and the request whose pool it inherits when it was answered from the cache. */
export interface OwnerChange {
  row: OwnerRow;
  /** A cache hit replays another request's answer: its state lives where that request went. */
  poolOf: string | null;
}

interface StoredResponse {
  id?: unknown;
  store?: unknown;
  background?: unknown;
  output?: Array<{ id?: unknown }>;
  conversation?: { id?: unknown } | null;
  usage?: { input_tokens?: unknown; output_tokens?: unknown } | null;
}

const tokens = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

/**
 * What a batch of events adds to `response_owners`, as a pure function of the events (so replay
 * rebuilds it): every stored response answered on `/v1/responses` owns its id (and Sluice's id for
 * a background one), its output items and the conversation it extended.
 */
export function ownerChangesOf(batch: readonly SluiceEvent[]): OwnerChange[] {
  const changes: OwnerChange[] = [];
  for (const e of batch) {
    if (e.type !== 'request.completed' || e.endpoint !== '/v1/responses') continue;
    const r = e.response as StoredResponse;
    if (typeof r.id !== 'string' || r.store === false) continue;
    const base = {
      tenantId: e.tenantId,
      pool: e.pool,
      requestId: e.requestId,
      contextTokens: tokens(r.usage?.input_tokens) + tokens(r.usage?.output_tokens),
      createdAt: new Date(e.occurredAt),
    };
    const poolOf = e.cache?.hit ? e.cache.sourceRequestId : null;
    const add = (stateId: string, kind: OwnerRow['kind'], upstreamId = stateId) =>
      changes.push({ row: { ...base, stateId, kind, upstreamId }, poolOf });
    add(r.id, 'response');
    if (r.background === true) add(backgroundResponseId(e.requestId), 'response', r.id);
    for (const item of r.output ?? []) if (typeof item.id === 'string') add(item.id, 'item');
    const conversation = r.conversation?.id;
    if (typeof conversation === 'string') add(conversation, 'conversation');
  }
  return changes;
}

/**
 * Applies the batch's owner changes inside the event store's transaction. The first answer owns a
 * response or item; a conversation stays with its first pool and records the latest context size.
 */
export async function projectResponseOwners(tx: SluiceDb, batch: readonly SluiceEvent[]): Promise<void> {
  const changes = ownerChangesOf(batch);
  if (changes.length === 0) return;
  const values = ({ row, poolOf }: OwnerChange) => ({
    ...row,
    pool: poolOf
      ? sql`coalesce((SELECT pool FROM requests WHERE request_id = ${poolOf}), ${row.pool})`
      : row.pool,
  });
  const owned = changes.filter((c) => c.row.kind !== 'conversation');
  if (owned.length) await tx.insert(responseOwners).values(owned.map(values)).onConflictDoNothing();
  // One row per conversation and tenant (the latest), as one statement may update a row only once.
  const latest = new Map(
    changes
      .filter((c) => c.row.kind === 'conversation')
      .map((c) => [`${c.row.tenantId}\0${c.row.stateId}`, c]),
  );
  if (latest.size)
    await tx
      .insert(responseOwners)
      .values([...latest.values()].map(values))
      .onConflictDoUpdate({
        target: [responseOwners.tenantId, responseOwners.stateId],
        set: { contextTokens: sql`excluded.context_tokens`, requestId: sql`excluded.request_id` },
      });
}
