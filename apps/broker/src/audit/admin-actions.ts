import { asc, desc, gt, lt, sql } from 'drizzle-orm';
import type { SluiceDb } from '../db/database';
import { type AdminActionRow, adminActions } from '../db/schema';
import { scrubSecrets } from '../logger';
import { chainHash, GENESIS_HASH } from '../store/audit-hash';

/** What is recorded of one administrative action. */
export interface AdminActionInput {
  actorKeyId: string | null;
  sessionId: string | null;
  via: AdminActionRow['via'];
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  outcome: string;
}

export interface AdminActionView extends AdminActionInput {
  seq: number;
  at: string;
}

/** Where the admin-action chain breaks, if it does. */
export type AdminChainVerdict =
  | { ok: true; checked: number }
  | { ok: false; checked: number; seq: number; position: number; reason: string };

/** Input fields an action is described by: scalars only, so nothing else (and no key) is stored. */
const DETAIL_FIELDS = [
  'tenant',
  'name',
  'key',
  'id',
  'enabled',
  'usdMicros',
  'tokens',
  'onExhausted',
  'ttlSeconds',
  'scope',
  'all',
] as const;
/** Result fields worth keeping (the ids an action produced); `apiKey` is deliberately not among them. */
const RESULT_FIELDS = [
  'tenantId',
  'keyId',
  'requestId',
  'retryRequestId',
  'alreadyRetried',
  'discarded',
] as const;

function pickScalars(source: unknown, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!source || typeof source !== 'object') return out;
  for (const f of fields) {
    const v = (source as Record<string, unknown>)[f];
    if (typeof v === 'string') out[f] = scrubSecrets(v.slice(0, 128));
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[f] = v;
  }
  return out;
}

/**
 * An action's details from a call's input and result (pure): an allow-list of scalar fields,
 * strings cut and scrubbed of anything that looks like a key.
 */
export function describeAdminCall(
  input: unknown,
  result: unknown,
): { target: string | null; details: Record<string, unknown> } {
  const given = pickScalars(input, DETAIL_FIELDS);
  const produced = pickScalars(result, RESULT_FIELDS);
  const target = [given.tenant, given.name, given.key, given.id].find((v) => typeof v === 'string') as
    | string
    | undefined;
  return {
    target: target ?? null,
    details: { ...given, ...(Object.keys(produced).length ? { result: produced } : {}) },
  };
}

/** The hashed content of a row: everything but its sequence number and hashes. */
function chained(row: Omit<AdminActionView, 'seq'>): Record<string, unknown> {
  return { ...row, at: new Date(row.at).toISOString() };
}

/**
 * The append-only audit trail of administrative actions, chained like the event store: each row's
 * hash covers the previous row's hash and its own content, so an edited, removed or reordered row
 * is found by `verify` (the table also refuses UPDATE, DELETE and TRUNCATE).
 */
export function createAdminActions(db: SluiceDb, opts: { clock?: () => number } = {}) {
  const clock = opts.clock ?? Date.now;
  return {
    async record(entry: AdminActionInput): Promise<AdminActionView> {
      return db.transaction(async (tx) => {
        // One writer of the chain at a time, in every process.
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('sluice-admin-actions'))`);
        const [head] = await tx
          .select({ hash: adminActions.hash })
          .from(adminActions)
          .orderBy(desc(adminActions.seq))
          .limit(1);
        const prevHash = head?.hash ?? GENESIS_HASH;
        const at = new Date(clock()).toISOString();
        const content = chained({ ...entry, at });
        const [row] = await tx
          .insert(adminActions)
          .values({ ...entry, at: new Date(at), prevHash, hash: chainHash(prevHash, content) })
          .returning({ seq: adminActions.seq });
        return { ...entry, at, seq: row!.seq };
      });
    },

    /** Newest first, in pages: rows with a sequence number below `before`. */
    async list(q: { limit: number; before?: number }): Promise<AdminActionView[]> {
      const rows = await db
        .select()
        .from(adminActions)
        .where(q.before !== undefined ? lt(adminActions.seq, q.before) : undefined)
        .orderBy(desc(adminActions.seq))
        .limit(q.limit);
      return rows.map(toView);
    },

    /** Walks the chain from its start and names the first row that breaks it. */
    async verify(): Promise<AdminChainVerdict> {
      let prev = GENESIS_HASH;
      let checked = 0;
      let after = 0;
      for (;;) {
        const rows = await db
          .select()
          .from(adminActions)
          .where(gt(adminActions.seq, after))
          .orderBy(asc(adminActions.seq))
          .limit(5_000);
        if (rows.length === 0) return { ok: true, checked };
        for (const r of rows) {
          after = r.seq;
          const at = { seq: r.seq, position: checked + 1 };
          if (r.prevHash !== prev)
            return {
              ok: false,
              checked,
              ...at,
              reason: 'previous hash does not match: an action before it was deleted or reordered',
            };
          const { seq: _seq, ...content } = toView(r);
          if (chainHash(r.prevHash, chained(content)) !== r.hash)
            return {
              ok: false,
              checked,
              ...at,
              reason: 'content does not match its hash: the action was edited',
            };
          prev = r.hash;
          checked++;
        }
      }
    },
  };
}

export type AdminActions = ReturnType<typeof createAdminActions>;

function toView(r: AdminActionRow): AdminActionView {
  return {
    seq: r.seq,
    at: new Date(r.at).toISOString(),
    actorKeyId: r.actorKeyId,
    sessionId: r.sessionId,
    via: r.via,
    action: r.action,
    target: r.target,
    details: r.details,
    outcome: r.outcome,
  };
}

/**
 * Runs an administrative action outside tRPC (the CLI working on the database directly, with no
 * key involved) and records it like the API records its admin mutations: refusals too.
 */
export async function auditedAction<T>(
  actions: AdminActions,
  call: { action: string; input: unknown; via: AdminActionInput['via'] },
  run: () => Promise<T>,
): Promise<T> {
  const record = (result: unknown, outcome: string) => {
    const { target, details } = describeAdminCall(call.input, result);
    return actions.record({
      actorKeyId: null,
      sessionId: null,
      via: call.via,
      action: call.action,
      target,
      details,
      outcome,
    });
  };
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await record(
      undefined,
      (error as { code?: unknown }).code === undefined ? 'error' : String((error as { code: unknown }).code),
    );
    throw error;
  }
  await record(result, 'ok');
  return result;
}
