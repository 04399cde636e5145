import { createGroupCommit, type SluiceEvent, upcastEvent, validateEvent } from '@sluice/events';
import { and, asc, desc, eq, getTableColumns, gt, inArray, type SQL, sql } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import { type CacheEntry, projectResponseCache } from '../cache/cache-projection';
import { rowsOf, type SluiceDb } from '../db/database';
import {
  events,
  type RequestRow,
  requests,
  responseCache,
  responseOwners,
  usageRollup,
  usageUnits,
} from '../db/schema';
import { projectResponseOwners } from '../operations/responses/owners-projection';
import { chainHash, GENESIS_HASH } from './audit-hash';
import {
  addHistograms,
  evolveRequest,
  type RequestState,
  USAGE_COUNTERS,
  USAGE_HISTOGRAMS,
  type UsageDelta,
  usageDelta,
} from './projections';
import { recordsetInsert, setExcluded } from './recordset-sql';

export type { RequestRow };

/** Where a tenant's chain breaks: the event's id, its store sequence and its 1-based position in the chain. */
export interface ChainBreak {
  tenantId: string;
  seq: number;
  position: number;
  eventId: string;
  reason: string;
}

/** The first break of each broken chain (the first overall is repeated flat, for callers that want one). */
export type ChainVerdict =
  | { ok: true; checked: number; tenants: number; breaks: [] }
  | ({ ok: false; checked: number; tenants: number; breaks: ChainBreak[] } & ChainBreak);

/**
 * The append-only event store and its projections, updated in the same transaction as the
 * append, for the newly inserted events only: a duplicate (at-least-once redelivery) changes nothing.
 */
export function createEventStore(
  db: SluiceDb,
  opts: {
    /** Called after a commit that filled response-cache entries (the Redis front mirrors them). */
    onCacheFilled?: (entries: CacheEntry[]) => void;
    /**
     * The database runs one transaction at a time (PGlite: one connection in one process), so no
     * other writer can extend a chain meanwhile and the chain locks are left out.
     */
    serialTransactions?: boolean;
    /**
     * How long an append marked `together` (one nobody waits on: the dispatcher's outcomes) may
     * wait for others to share its transaction (default 0). Worth it on a single-connection
     * database, where each transaction holds up everything behind it, such as the next request's
     * append. Every read here ends the wait first, so it still sees all that was appended.
     */
    lingerMs?: number;
  } = {},
) {
  /**
   * One transaction of three statements whatever the batch size (group commit makes batches large
   * under load): lock the tenants' chains; read their heads, which events exist and the requests'
   * current states; insert the new events and write their projections together.
   */
  async function append(valid: SluiceEvent[]): Promise<{ inserted: SluiceEvent[]; duplicates: string[] }> {
    if (valid.length === 0) return { inserted: [], duplicates: [] };
    let filled: CacheEntry[] = [];
    const result = await db.transaction(async (tx) => {
      const tenantIds = [...new Set(valid.map((e) => e.tenantId))].sort();
      // One writer per tenant chain at a time (locks taken in a fixed order); other tenants append
      // in parallel. Its own statement: a later statement's snapshot then sees the previous holder's commit.
      if (!opts.serialTransactions)
        await tx.execute(
          sql`SELECT pg_advisory_xact_lock(hashtext('sluice-chain:' || t)) FROM unnest(${pgTextArray(tenantIds)}::text[]) AS t ORDER BY t`,
        );
      const heads = new Map<string, string>(tenantIds.map((t) => [t, GENESIS_HASH]));
      const existing = new Set<string>();
      const current = new Map<string, RequestState>();
      const known = rowsOf<{
        kind: 'head' | 'event' | 'state';
        id: string;
        hash: string | null;
        state: unknown;
      }>(
        await tx.execute(sql`SELECT 'head' AS kind, t AS id, h.hash, NULL::jsonb AS state FROM unnest(${pgTextArray(tenantIds)}::text[]) AS t
          CROSS JOIN LATERAL (SELECT hash FROM events WHERE tenant_id = t ORDER BY seq DESC LIMIT 1) h
          UNION ALL
          SELECT 'event', event_id, NULL, NULL FROM events WHERE event_id = ANY(${pgTextArray([...new Set(valid.map((e) => e.eventId))])}::text[])
          UNION ALL
          SELECT 'state', request_id, NULL, to_jsonb(r) FROM requests r WHERE request_id = ANY(${pgTextArray([...new Set(valid.map((e) => e.requestId))])}::text[])`),
      );
      for (const r of known) {
        if (r.kind === 'head') heads.set(r.id, r.hash!);
        else if (r.kind === 'event') existing.add(r.id);
        else current.set(r.id, requestRowFromJson(r.state));
      }
      const inserted: SluiceEvent[] = [];
      const duplicates: string[] = [];
      const rows: EventRow[] = [];
      for (const e of valid) {
        if (existing.has(e.eventId)) {
          duplicates.push(e.eventId);
          continue;
        }
        existing.add(e.eventId); // the same event twice in one batch is stored once
        const prevHash = heads.get(e.tenantId)!;
        const hash = chainHash(prevHash, e);
        heads.set(e.tenantId, hash);
        inserted.push(e);
        rows.push({
          eventId: e.eventId,
          type: e.type,
          version: e.version,
          requestId: e.requestId,
          tenantId: e.tenantId,
          attempt: e.attempt,
          occurredAt: e.occurredAt,
          payload: e,
          prevHash,
          hash,
        });
      }
      if (rows.length === 0) return { inserted, duplicates };
      const projection = projectionOf(inserted, current);
      // The chain locks make this the only writer of these events; a conflict means a broken
      // assumption, and rolling back (the caller retries) keeps the chain whole.
      const [written] = rowsOf<{ n: number }>(
        await tx.execute(
          sql`WITH written AS (${insertEvents(rows)}), ${projectionWrites(projection)} SELECT count(*)::int AS n FROM written`,
        ),
      );
      if (written?.n !== rows.length) throw new Error('event store: concurrent append of the same events');
      filled = await projectResponseCache(tx as unknown as SluiceDb, inserted);
      await projectResponseOwners(tx as unknown as SluiceDb, inserted);
      return { inserted, duplicates };
    });
    if (filled.length) opts.onCacheFilled?.(filled);
    return result;
  }

  /** Applies events to the projections (inside the caller's transaction): `sluice replay`. */
  async function project(tx: SluiceDb, batch: SluiceEvent[]): Promise<CacheEntry[]> {
    const projection = projectionOf(batch, await currentStates(tx, batch));
    await tx.execute(sql`WITH ${projectionWrites(projection)} SELECT 1`);
    await projectResponseOwners(tx, batch);
    return projectResponseCache(tx, batch);
  }

  // Concurrent appends (dispatcher outcomes, API submissions) share one transaction.
  const writeGrouped = async (batch: SluiceEvent[]) => {
    const r = await append(batch);
    const inserted = new Set(r.inserted.map((e) => e.eventId));
    return batch.map((e) => inserted.has(e.eventId));
  };
  const appendGrouped = createGroupCommit(writeGrouped, { nextTurn: opts.serialTransactions ?? false });
  const lingering = opts.lingerMs ? createGroupCommit(writeGrouped, { lingerMs: opts.lingerMs }) : undefined;
  const appendTogether = lingering ?? appendGrouped;
  /** Writes what lingers now: a read after it sees every append made before it. */
  const flush = async () => {
    await lingering?.flush();
  };

  return {
    /**
     * Appends idempotently; resolves once committed with the events that were new. `together`:
     * the caller does not wait on it, so it may linger to share a transaction (`lingerMs`).
     */
    async append(
      batch: SluiceEvent[],
      appendOpts: { together?: boolean } = {},
    ): Promise<{ inserted: SluiceEvent[]; duplicates: string[] }> {
      const valid = batch.map((e) => validateEvent(e)); // the only validation: the store's edge
      const fresh = await (appendOpts.together ? appendTogether : appendGrouped)(valid);
      return {
        inserted: valid.filter((_, i) => fresh[i]),
        duplicates: valid.filter((_, i) => !fresh[i]).map((e) => e.eventId),
      };
    },
    flush,
    project,

    /** One request; `tenantId` null = operator. A tenant never sees another tenant's request. */
    async getRequest(tenantId: string | null, requestId: string): Promise<RequestRow | undefined> {
      await flush();
      const where =
        tenantId === null
          ? eq(requests.requestId, requestId)
          : and(eq(requests.requestId, requestId), eq(requests.tenantId, tenantId));
      return (await db.select().from(requests).where(where).limit(1))[0];
    },

    /** Status and attempts of many requests in one query (the dispatcher batches its lookups). */
    async requestStates(ids: readonly string[]): Promise<Map<string, { status: string; attempts: number }>> {
      if (ids.length === 0) return new Map();
      await flush();
      const rows = await db
        .select({ requestId: requests.requestId, status: requests.status, attempts: requests.attempts })
        .from(requests)
        .where(inArray(requests.requestId, [...new Set(ids)]));
      return new Map(rows.map((r) => [r.requestId, { status: r.status, attempts: r.attempts }]));
    },

    async listRequests(q: {
      tenantId: string | null;
      status?: string;
      limit: number;
    }): Promise<RequestRow[]> {
      await flush();
      const filters = [
        ...(q.tenantId !== null ? [eq(requests.tenantId, q.tenantId)] : []),
        ...(q.status ? [eq(requests.status, q.status)] : []),
      ];
      return db
        .select()
        .from(requests)
        .where(filters.length ? and(...filters) : undefined)
        .orderBy(desc(requests.submittedAt))
        .limit(q.limit);
    },

    async findByIdempotencyKey(
      tenantId: string,
      key: string,
    ): Promise<{ requestId: string; fingerprint: string | null } | undefined> {
      await flush();
      return (
        await db
          .select({ requestId: requests.requestId, fingerprint: requests.fingerprint })
          .from(requests)
          .where(and(eq(requests.tenantId, tenantId), eq(requests.idempotencyKey, key)))
          .limit(1)
      )[0];
    },

    /** A request's events in the order they were recorded. */
    async eventsOf(requestId: string): Promise<SluiceEvent[]> {
      await flush();
      const rows = await db
        .select({ payload: events.payload })
        .from(events)
        .where(eq(events.requestId, requestId))
        .orderBy(asc(events.seq));
      // Stored as they were written: older versions are upcast to the current one.
      return rows.map((r) => upcastEvent(r.payload));
    },

    /**
     * Walks every tenant's hash chain and says exactly where each breaks (edited, deleted or
     * reordered rows): the first break per tenant; a broken tenant's later events are not judged.
     */
    async verifyChain(
      q: { tenantId?: string; onProgress?: (checked: number) => void } = {},
    ): Promise<ChainVerdict> {
      await flush();
      const heads = new Map<string, { hash: string; position: number }>();
      const broken = new Map<string, ChainBreak>();
      let checked = 0;
      let after = 0;
      for (;;) {
        const rows = await db
          .select()
          .from(events)
          .where(and(gt(events.seq, after), ...(q.tenantId ? [eq(events.tenantId, q.tenantId)] : [])))
          .orderBy(asc(events.seq))
          .limit(5_000);
        if (rows.length === 0) break;
        for (const r of rows) {
          after = r.seq;
          if (broken.has(r.tenantId)) continue;
          const head = heads.get(r.tenantId) ?? { hash: GENESIS_HASH, position: 0 };
          const position = head.position + 1;
          const at = { tenantId: r.tenantId, seq: r.seq, position, eventId: r.eventId };
          if (r.prevHash !== head.hash) {
            broken.set(r.tenantId, {
              ...at,
              reason: 'previous hash does not match: an event before it was deleted or reordered',
            });
          } else if (chainHash(r.prevHash, r.payload) !== r.hash) {
            broken.set(r.tenantId, {
              ...at,
              reason: 'content does not match its hash: the event was edited',
            });
          } else {
            heads.set(r.tenantId, { hash: r.hash, position });
            checked++;
          }
        }
        q.onProgress?.(checked);
      }
      const tenants = new Set([...heads.keys(), ...broken.keys()]).size;
      const breaks = [...broken.values()].sort((a, b) => a.seq - b.seq);
      const first = breaks[0];
      return first
        ? { ok: false, checked, tenants, breaks, ...first }
        : { ok: true, checked, tenants, breaks: [] };
    },

    /**
     * Rebuilds every projection from the event store alone (`sluice replay`), in one transaction
     * that holds appends off meanwhile: no event is projected twice or missed, and readers see the
     * old projections until the new ones are complete.
     */
    async rebuildProjections(
      opts: { onProgress?: (done: number, total: number) => void } = {},
    ): Promise<number> {
      await flush();
      return db.transaction(async (tx) => {
        await tx.execute(sql`LOCK TABLE ${events} IN EXCLUSIVE MODE`);
        const total = (await tx.select({ n: sql<number>`count(*)::float8` }).from(events))[0]?.n ?? 0;
        await tx.delete(requests);
        await tx.delete(usageRollup);
        await tx.delete(responseCache);
        await tx.delete(responseOwners);
        await tx.delete(usageUnits);
        let after = 0;
        let done = 0;
        for (;;) {
          const rows = await tx
            .select({ seq: events.seq, payload: events.payload })
            .from(events)
            .where(gt(events.seq, after))
            .orderBy(asc(events.seq))
            .limit(2_000);
          if (rows.length === 0) return done;
          await project(
            tx as unknown as SluiceDb,
            rows.map((r) => upcastEvent(r.payload)),
          );
          after = rows[rows.length - 1]!.seq;
          done += rows.length;
          opts.onProgress?.(done, Number(total));
        }
      });
    },
  };
}

export type EventStore = ReturnType<typeof createEventStore>;

type EventRow = Omit<typeof events.$inferInsert, 'occurredAt'> & { occurredAt: string };

const insertEvents = recordsetInsert(events, {
  omit: ['seq', 'recordedAt'],
  conflict: () => 'ON CONFLICT (event_id) DO NOTHING RETURNING 1',
});

const upsertRequests = recordsetInsert(requests, {
  conflict: (columns) => `ON CONFLICT (request_id) DO UPDATE SET ${setExcluded(columns, ['request_id'])}`,
});

const upsertUnits = recordsetInsert(usageUnits, {
  conflict: () =>
    'ON CONFLICT (tenant_id, bucket_start, model, endpoint, channel, unit) DO UPDATE SET "count" = usage_units."count" + excluded."count"',
});

// Every row carries every counter (0 where unchanged), so one statement adds them all; latency
// histograms add element-wise (either side may be shorter, e.g. the empty default).
const upsertRollups = recordsetInsert(usageRollup, {
  conflict: () =>
    `ON CONFLICT (tenant_id, bucket_start, model, endpoint, channel) DO UPDATE SET ${[
      ...USAGE_COUNTERS.map(
        (c) => `"${toSnakeCase(c)}" = usage_rollup."${toSnakeCase(c)}" + excluded."${toSnakeCase(c)}"`,
      ),
      ...USAGE_HISTOGRAMS.map(
        (h) => `"${toSnakeCase(h)}" = coalesce((SELECT array_agg(coalesce(a, 0) + coalesce(b, 0) ORDER BY i)
          FROM unnest(usage_rollup."${toSnakeCase(h)}", excluded."${toSnakeCase(h)}") WITH ORDINALITY AS u(a, b, i)), '{}')`,
      ),
    ].join(', ')}`,
});

/** What a batch of new events changes in the request and usage projections (pure). */
function projectionOf(
  batch: readonly SluiceEvent[],
  current: Map<string, RequestState>,
): {
  requests: RequestState[];
  rollups: Array<Record<string, unknown>>;
  units: Array<Record<string, unknown>>;
} {
  const ids = [...new Set(batch.map((e) => e.requestId))];
  const deltas = new Map<string, UsageDelta>();
  for (const e of batch) {
    const before = current.get(e.requestId);
    const d = usageDelta(e, before);
    if (d) mergeDelta(deltas, d);
    current.set(e.requestId, evolveRequest(before, e));
  }
  return {
    requests: ids.map((id) => current.get(id)!),
    rollups: [...deltas.values()].map(({ units: _units, ...d }) => ({
      ...d,
      ...Object.fromEntries(USAGE_COUNTERS.map((c) => [c, d[c] ?? 0])),
      ...Object.fromEntries(USAGE_HISTOGRAMS.map((h) => [h, d[h] ?? []])),
    })),
    units: [...deltas.values()].flatMap((d) =>
      Object.entries(d.units ?? {}).map(([unit, count]) => ({
        tenantId: d.tenantId,
        bucketStart: d.bucketStart,
        model: d.model,
        endpoint: d.endpoint,
        channel: d.channel,
        unit,
        count,
      })),
    ),
  };
}

/** The projection writes as data-modifying CTEs, to run in the same statement as the events insert. */
function projectionWrites(p: ReturnType<typeof projectionOf>): SQL {
  return sql`projected AS (${upsertRequests(p.requests)}), rolled_up AS (${upsertRollups(p.rollups)}), units_rolled_up AS (${upsertUnits(p.units)})`;
}

async function currentStates(
  tx: SluiceDb,
  batch: readonly SluiceEvent[],
): Promise<Map<string, RequestState>> {
  const ids = [...new Set(batch.map((e) => e.requestId))];
  const rows = await tx.select().from(requests).where(inArray(requests.requestId, ids));
  return new Map(rows.map((r) => [r.requestId, r]));
}

const requestColumns = Object.entries(getTableColumns(requests)).map(([key, column]) => ({
  key,
  name: toSnakeCase(key),
  column,
}));

/** A `requests` row read as `to_jsonb(row)` (snake_case keys), with the values drizzle would map. */
function requestRowFromJson(json: unknown): RequestRow {
  const source = (typeof json === 'string' ? JSON.parse(json) : json) as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const { key, name, column } of requestColumns) {
    const value = source[name] ?? null;
    row[key] = value === null ? null : column.mapFromDriverValue(value);
  }
  return row as RequestRow;
}

function pgTextArray(values: readonly string[]): string {
  return `{${values.map((v) => JSON.stringify(v)).join(',')}}`;
}

function mergeDelta(into: Map<string, UsageDelta>, d: UsageDelta): void {
  const k = `${d.tenantId}|${d.bucketStart.toISOString()}|${d.model}|${d.endpoint}|${d.channel}`;
  const cur = into.get(k);
  if (!cur) {
    into.set(k, { ...d });
    return;
  }
  for (const c of USAGE_COUNTERS) {
    const v = d[c];
    if (v) cur[c] = (cur[c] ?? 0) + v;
  }
  for (const h of USAGE_HISTOGRAMS) {
    const v = d[h];
    if (v) cur[h] = addHistograms(cur[h] ?? [], v);
  }
  if (d.units) {
    const units = { ...cur.units };
    for (const [unit, n] of Object.entries(d.units)) units[unit] = (units[unit] ?? 0) + n;
    cur.units = units;
  }
}
