import { DEFAULT_MAX_OUTPUT_TOKENS, LIMITER_DEFAULTS, type RetryPolicy } from './defaults';
import type { RateLimitHeaders } from './headers';
import { Fifo, MinHeap } from './internal/min-heap';
import { PRIORITIES, type Priority } from './priority';
import {
  type DispatchLedger,
  type EnforcementEstimate,
  PoolModelQuota,
  type QuotaLimits,
  TenantCap,
} from './quota';
import { SharedLimitDetector } from './shared-limit';

export interface LimiterConfig {
  /** Configured limits per pool and model (`*` = any model): a ceiling; absent = learned from headers. */
  limits?: Record<string, Record<string, QuotaLimits>>;
  /** Fraction of the token limit held back for estimation error. */
  safetyMargin?: number;
  /** Assumed limits until the upstream announces its own (after one probe request). */
  initialLimits?: QuotaLimits;
  /** Guaranteed minimum share of dispatches for each class while it has work. */
  priorityFloors?: Partial<Record<Priority, number>>;
  tenantWeights?: Record<string, number>;
  tenantCaps?: Record<string, QuotaLimits>;
  /**
   * `estimate` (default, OpenAI): the upstream charges its admission estimate and keeps it, so only
   * its headers move our count back; `actual`: it refunds to real usage, so we refund the difference
   * between reservation and `actualTokens` at once.
   */
  chargeBasis?: 'estimate' | 'actual';
  retryPolicy?: RetryPolicy;
}

export interface QueuedRequest {
  id: string;
  tenantId: string;
  pool: string;
  model: string;
  priority: Priority;
  /** TPM cost at dispatch (`estimateChatTokens(...).tpmCost`). */
  tokens: number;
  enqueuedAt: number;
  /** Not before this time (a retry's backoff). */
  notBefore?: number;
}

export interface Reservation {
  id: string;
  pool: string;
  model: string;
  /** The request's estimate (`QueuedRequest.tokens`). */
  tokens: number;
  requests: 1;
  at: number;
  tenantId?: string;
  /** Sent before the upstream's limits were known. */
  probe?: boolean;
  /** What the quota recorded at dispatch; lets the answer's headers be set against that moment. */
  ledger?: DispatchLedger;
  /** Its place in the pool's dispatch order (lets the answer test which models share a limit). */
  poolSeq?: number;
}

export interface Dispatch {
  request: QueuedRequest;
  reservation: Reservation;
}

export type AdmissionResult =
  | { ok: true }
  | { ok: false; reason: 'exceeds_bucket' | 'exceeds_tenant_cap'; message: string };

export interface GroupSnapshot {
  pool: string;
  model: string;
  learned: boolean;
  /** Limits in force: announced by the upstream (or assumed), capped by configuration. */
  limits: QuotaLimits;
  /** Bucket sizes after the safety margin. */
  effectiveLimits: { rpm: number; tpm: number };
  /** What the upstream last announced in `x-ratelimit-limit-*`. */
  announcedLimits: { rpm?: number; tpm?: number };
  /** Upstream tokens charged per estimated token (learned from consecutive remaining-token headers). */
  chargeRatio: number;
  available: { requests: number; tokens: number };
  utilisation: { requests: number; tokens: number };
  pausedUntil: number | null;
  /** How the upstream is believed to enforce its per-minute limits (learned from its answers). */
  enforcement: EnforcementEstimate;
  /** The enforcement is fixed windows. */
  strictWindows: boolean;
  /** Other models of the pool found to draw on the same upstream limit (one quota for all of them). */
  sharesLimitWith: string[];
  queued: Record<Priority, number>;
}

export interface LimiterSnapshot {
  queued: Record<Priority, number>;
  oldestQueuedAt: Record<Priority, number | null>;
  /** now − oldestQueuedAt (0 when the class is empty). */
  oldestAgeMs: Record<Priority, number>;
  /** Queued requests per tenant. */
  byTenant: Record<string, number>;
  /** Per tenant: queue depth (in all and by class) and oldest enqueue time. */
  tenants: Record<string, { queued: number; byPriority: Record<Priority, number>; oldestQueuedAt: number }>;
  groups: GroupSnapshot[];
}

/** One tenant's waiting requests inside a class; retries go first. */
interface TenantQueue {
  tenantId: string;
  weight: number;
  /** Start-time fair queueing: the virtual time of this tenant's next turn. */
  vtime: number;
  retries: Fifo<QueuedRequest>;
  fresh: Fifo<QueuedRequest>;
  /** Queued and not cancelled. */
  live: number;
  inHeap: boolean;
  blockedUntil: number;
}

class ClassQueue {
  readonly tenants = new Map<string, TenantQueue>();
  readonly active = new MinHeap<TenantQueue>((t) => t.vtime);
  readonly blocked: TenantQueue[] = [];
  virtualClock = 0;
  size = 0;

  tenant(id: string, weight: number): TenantQueue {
    let t = this.tenants.get(id);
    if (!t) {
      t = {
        tenantId: id,
        weight,
        vtime: 0,
        retries: new Fifo(),
        fresh: new Fifo(),
        live: 0,
        inHeap: false,
        blockedUntil: 0,
      };
      this.tenants.set(id, t);
    }
    return t;
  }
  activate(t: TenantQueue): void {
    if (t.inHeap || t.blockedUntil > 0) return;
    // A tenant returning from idle starts at the current virtual time: no credit for having been idle.
    t.vtime = Math.max(t.vtime, this.virtualClock);
    t.inHeap = true;
    this.active.push(t);
  }
}

/** The queues of one (pool, model). */
interface Group {
  key: string;
  pool: string;
  model: string;
  family: Family;
  classes: Record<Priority, ClassQueue>;
  delayed: MinHeap<QueuedRequest>;
  /** The family's dispatch count at this group's last dispatch (least recently served goes first). */
  lastTurn: number;
  size: number;
}

/**
 * The models of a pool that draw on one upstream limit (most often one model alone): one quota,
 * and one dispatch order across their queues, so priority and floors hold across the models and
 * no model's backlog starves another's.
 */
interface Family {
  quota: PoolModelQuota;
  groups: Group[];
  /** Exponentially decayed dispatch counts per class, for the floors. */
  share: Record<Priority, number>;
  turns: number;
  /** When batch work held back by a daily limit's reserve may next go. */
  batchDailyWakeAt: number | undefined;
}

/**
 * The limiter: decides when each request may go upstream. Pure and deterministic: every call
 * takes `now`; it never reads a clock, sleeps or does I/O.
 */
export function createLimiter(config: LimiterConfig = {}): Limiter {
  const margin = config.safetyMargin ?? LIMITER_DEFAULTS.safetyMargin;
  const initial = config.initialLimits ?? LIMITER_DEFAULTS.initialLimits;
  const floors = { ...LIMITER_DEFAULTS.priorityFloors, ...config.priorityFloors };
  const decay = 0.5 ** (1 / LIMITER_DEFAULTS.shareHalfLife);
  const groups = new Map<string, Group>();
  const families = new Set<Family>();
  const detectors = new Map<string, SharedLimitDetector>();
  const where = new Map<string, { group: Group; entry: QueuedRequest; placed: boolean }>();
  // By identity: a request cancelled and later enqueued again must not resurrect its stale copy.
  const cancelled = new Set<QueuedRequest>();
  const caps = new Map<string, TenantCap>();

  function ceilingFor(pool: string, model: string): QuotaLimits | undefined {
    const p = config.limits?.[pool];
    return p?.[model] ?? p?.['*'];
  }

  function group(pool: string, model: string, now: number): Group {
    const key = `${pool}\u0000${model}`;
    let g = groups.get(key);
    if (!g) {
      const family: Family = {
        quota: new PoolModelQuota(ceilingFor(pool, model), margin, initial, now),
        groups: [],
        share: { interactive: 0, standard: 0, batch: 0 },
        turns: 0,
        batchDailyWakeAt: undefined,
      };
      g = {
        key,
        pool,
        model,
        family,
        classes: { interactive: new ClassQueue(), standard: new ClassQueue(), batch: new ClassQueue() },
        delayed: new MinHeap((r) => r.notBefore ?? 0),
        lastTurn: 0,
        size: 0,
      };
      family.groups.push(g);
      families.add(family);
      groups.set(key, g);
    }
    return g;
  }

  function detector(pool: string): SharedLimitDetector {
    let d = detectors.get(pool);
    if (!d) {
      d = new SharedLimitDetector();
      detectors.set(pool, d);
    }
    return d;
  }

  /**
   * Makes the pool's families what the detector believes: models drawing on one limit share one
   * quota (configured ceilings apart: a model capped on its own keeps its own). A family whose
   * models no longer all share splits first, then families that share merge.
   */
  function regroup(pool: string, now: number): void {
    const target = new Map<string, number>();
    detector(pool)
      .groups()
      .forEach((models, i) => {
        for (const m of models) target.set(m, i);
      });
    const partOf = (g: Group) =>
      `${target.get(g.model) ?? g.model}\u0000${JSON.stringify(ceilingFor(pool, g.model) ?? null)}`;
    for (const f of [...families]) {
      if (f.groups[0]?.pool !== pool) continue;
      const keep = partOf(f.groups[0]);
      const leaving = new Map<string, Group[]>();
      for (const g of f.groups.slice(1)) {
        const part = partOf(g);
        if (part !== keep) leaving.set(part, [...(leaving.get(part) ?? []), g]);
      }
      for (const gs of leaving.values()) {
        const quota = f.quota.split(
          gs.map((g) => g.model),
          ceilingFor(pool, gs[0]!.model),
          now,
        );
        const split: Family = {
          quota,
          groups: gs,
          share: { ...f.share },
          turns: 0,
          batchDailyWakeAt: undefined,
        };
        f.groups = f.groups.filter((g) => !gs.includes(g));
        for (const g of gs) {
          g.family = split;
          g.lastTurn = 0;
        }
        families.add(split);
      }
    }
    const byPart = new Map<string, Family>();
    for (const f of [...families]) {
      if (f.groups[0]?.pool !== pool) continue;
      const part = partOf(f.groups[0]);
      const into = byPart.get(part);
      if (!into) {
        byPart.set(part, f);
        continue;
      }
      into.quota.absorb(f.quota, now);
      for (const p of PRIORITIES) into.share[p] += f.share[p];
      for (const g of f.groups) {
        g.family = into;
        g.lastTurn = 0;
        into.groups.push(g);
      }
      families.delete(f);
    }
  }

  function tenantCap(tenantId: string, now: number): TenantCap | undefined {
    const limits = config.tenantCaps?.[tenantId];
    if (!limits) return undefined;
    let cap = caps.get(tenantId);
    if (!cap) {
      cap = new TenantCap(limits, now);
      caps.set(tenantId, cap);
    }
    return cap;
  }

  function place(g: Group, r: QueuedRequest, asRetry: boolean): void {
    const w = where.get(r.id);
    if (w && w.entry === r) w.placed = true;
    const cq = g.classes[r.priority];
    const t = cq.tenant(r.tenantId, config.tenantWeights?.[r.tenantId] ?? 1);
    (asRetry ? t.retries : t.fresh).push(r);
    t.live++;
    cq.size++;
    cq.activate(t);
  }

  /** Drops cancelled heads; returns the tenant whose turn it is, or undefined. */
  function headTenant(cq: ClassQueue): TenantQueue | undefined {
    for (;;) {
      const t = cq.active.peek();
      if (!t) return undefined;
      const q = t.retries.size ? t.retries : t.fresh;
      const head = q.peek();
      if (!head) {
        cq.active.pop();
        t.inHeap = false;
        continue;
      }
      if (cancelled.has(head)) {
        q.shift();
        cancelled.delete(head);
        continue;
      }
      return t;
    }
  }

  /** The class that goes next in a family, and the group (model) whose turn it is in that class. */
  function nextClass(f: Family, now: number): { p: Priority; g: Group } | undefined {
    const total = f.share.interactive + f.share.standard + f.share.batch;
    const ready = (p: Priority): Group | undefined => {
      // Among the family's models with work in this class, the least recently served.
      let g: Group | undefined;
      for (const c of f.groups)
        if (c.classes[p].size > 0 && headTenant(c.classes[p]) && (!g || c.lastTurn < g.lastTurn)) g = c;
      if (!g || p !== 'batch') return g;
      // Batch work waits for the day's budget above the interactive reserve; others go meanwhile.
      const t = headTenant(g.classes[p])!;
      const head = (t.retries.size ? t.retries : t.fresh).peek()!;
      const wait = f.quota.batchDailyWait(f.quota.chargeFor(head.tokens), now);
      if (wait > 0) f.batchDailyWakeAt = now + wait;
      return wait === 0 ? g : undefined;
    };
    f.batchDailyWakeAt = undefined;
    // Floors first: a lower class below its guaranteed share goes now.
    for (const p of ['batch', 'standard'] as const) {
      if (f.share[p] < floors[p] * total) {
        const g = ready(p);
        if (g) return { p, g };
      }
    }
    for (const p of PRIORITIES) {
      const g = ready(p);
      if (g) return { p, g };
    }
    return undefined;
  }

  function releaseDelayed(g: Group, now: number): void {
    for (;;) {
      const r = g.delayed.peek();
      if (!r || (r.notBefore ?? 0) > now) return;
      g.delayed.pop();
      if (cancelled.has(r)) {
        cancelled.delete(r);
        continue;
      }
      place(g, r, true);
    }
  }

  function unblockTenants(g: Group, now: number): void {
    for (const p of PRIORITIES) {
      const cq = g.classes[p];
      for (let i = cq.blocked.length - 1; i >= 0; i--) {
        const t = cq.blocked[i]!;
        if (t.blockedUntil <= now) {
          cq.blocked.splice(i, 1);
          t.blockedUntil = 0;
          cq.activate(t);
        }
      }
    }
  }

  /** One decision for a family: the request that may go now (and its group), or how long until one may. */
  function decide(
    f: Family,
    now: number,
  ): { dispatch: QueuedRequest; group: Group } | { waitMs: number } | undefined {
    for (;;) {
      const next = nextClass(f, now);
      if (!next) return undefined;
      const cq = next.g.classes[next.p];
      const t = headTenant(cq)!;
      const head = (t.retries.size ? t.retries : t.fresh).peek()!;
      const wait = f.quota.waitFor(f.quota.chargeFor(head.tokens), now);
      if (wait > 0) return { waitMs: wait };
      const cap = tenantCap(t.tenantId, now);
      const capWait = cap?.waitFor(head.tokens, now) ?? 0;
      if (capWait > 0) {
        // This tenant is over its own cap: others go first until it has room again.
        cq.active.pop();
        t.inHeap = false;
        t.blockedUntil = now + capWait;
        cq.blocked.push(t);
        continue;
      }
      return { dispatch: head, group: next.g };
    }
  }

  function take(g: Group, r: QueuedRequest, now: number): Dispatch {
    const cq = g.classes[r.priority];
    const t = cq.tenants.get(r.tenantId)!;
    (t.retries.size ? t.retries : t.fresh).shift();
    t.live--;
    cq.size--;
    g.size--;
    where.delete(r.id);
    cq.active.pop();
    t.inHeap = false;
    cq.virtualClock = t.vtime;
    t.vtime += 1 / t.weight;
    if (t.retries.size || t.fresh.size) cq.activate(t);
    const f = g.family;
    const probe = !f.quota.learned;
    const ledger = f.quota.take(f.quota.chargeFor(r.tokens), now, r.tokens, g.model);
    const poolSeq = detector(g.pool).dispatched(g.model, r.tokens, now);
    g.lastTurn = ++f.turns;
    tenantCap(r.tenantId, now)?.take(r.tokens);
    for (const p of PRIORITIES) f.share[p] *= decay;
    f.share[r.priority] += 1;
    return {
      request: r,
      reservation: {
        id: r.id,
        pool: r.pool,
        model: r.model,
        tenantId: r.tenantId,
        tokens: r.tokens,
        requests: 1,
        at: now,
        probe,
        ledger,
        poolSeq,
      },
    };
  }

  return {
    admit(req, now) {
      const g = group(req.pool, req.model, now);
      const max = g.family.quota.maxTokens();
      const charged = Math.min(req.tokens, g.family.quota.chargeFor(req.tokens));
      if (max !== undefined && charged > max) {
        return {
          ok: false,
          reason: 'exceeds_bucket',
          message: `Request too large for ${req.model} in pool ${req.pool}: it needs ${req.tokens} tokens per minute (prompt + max_tokens) but the limit is ${max}. Lower max_tokens or shorten the messages.`,
        };
      }
      const capMax = tenantCap(req.tenantId, now)?.maxTokens();
      if (capMax !== undefined && req.tokens > capMax) {
        return {
          ok: false,
          reason: 'exceeds_tenant_cap',
          message: `Request needs ${req.tokens} tokens but tenant ${req.tenantId} is capped at ${capMax} tokens per minute.`,
        };
      }
      return { ok: true };
    },

    enqueue(req, now) {
      const g = group(req.pool, req.model, now);
      const entry = { ...req };
      const previous = where.get(req.id);
      // The same id enqueued twice (a redelivery): the newer copy replaces the older.
      if (previous) cancelEntry(previous);
      where.set(req.id, { group: g, entry, placed: false });
      g.size++;
      if (entry.notBefore !== undefined && entry.notBefore > now) g.delayed.push(entry);
      else place(g, entry, entry.notBefore !== undefined);
    },

    cancel(id) {
      const w = where.get(id);
      if (!w) return false;
      where.delete(id);
      cancelEntry(w);
      return true;
    },

    poll(now) {
      const out: Dispatch[] = [];
      for (const f of families) {
        if (!f.groups.some((g) => g.size > 0)) continue;
        for (const g of f.groups) {
          if (g.size === 0) continue;
          releaseDelayed(g, now);
          unblockTenants(g, now);
        }
        for (;;) {
          const d = decide(f, now);
          if (!d || 'waitMs' in d) break;
          out.push(take(d.group, d.dispatch, now));
        }
      }
      return out;
    },

    nextWakeAt(now) {
      let next = Number.POSITIVE_INFINITY;
      for (const f of families) {
        if (!f.groups.some((g) => g.size > 0)) continue;
        for (const g of f.groups) {
          const delayed = g.delayed.peek();
          if (delayed) next = Math.min(next, delayed.notBefore ?? now);
          for (const p of PRIORITIES)
            for (const t of g.classes[p].blocked) next = Math.min(next, t.blockedUntil);
        }
        const d = decide(f, now);
        if (d) next = Math.min(next, 'waitMs' in d ? now + d.waitMs : now);
        if (f.batchDailyWakeAt !== undefined) next = Math.min(next, f.batchDailyWakeAt);
      }
      return Number.isFinite(next) ? next : undefined;
    },

    onResponse(reservation, r, now) {
      const g = group(reservation.pool, reservation.model, now);
      const quota = g.family.quota;
      quota.observe(
        r.status,
        r.headers,
        {
          probe: reservation.probe ?? false,
          at: reservation.at,
          estimate: reservation.tokens,
          ledger: reservation.ledger,
        },
        now,
        r.message,
      );
      if (r.status < 400 && r.actualTokens !== undefined && config.chargeBasis === 'actual') {
        quota.reconcile(
          reservation.ledger,
          reservation.ledger?.charged ?? reservation.tokens,
          r.actualTokens,
          now,
        );
      }
      if (
        reservation.poolSeq !== undefined &&
        detector(reservation.pool).answered(
          reservation.model,
          reservation.poolSeq,
          r.status,
          r.headers,
          quota.serverTokenCapacity(),
        )
      )
        regroup(reservation.pool, now);
    },

    onNoResponse(reservation, now) {
      group(reservation.pool, reservation.model, now).family.quota.observeNoResponse(
        reservation.probe ?? false,
      );
    },

    snapshot(now) {
      const queued: Record<Priority, number> = { interactive: 0, standard: 0, batch: 0 };
      const oldestQueuedAt: Record<Priority, number | null> = {
        interactive: null,
        standard: null,
        batch: null,
      };
      const byTenant: Record<string, number> = {};
      const tenants: LimiterSnapshot['tenants'] = {};
      const snaps: GroupSnapshot[] = [];
      for (const g of groups.values()) {
        const gq: Record<Priority, number> = { interactive: 0, standard: 0, batch: 0 };
        for (const p of PRIORITIES) {
          const cq = g.classes[p];
          gq[p] = cq.size;
          queued[p] += cq.size;
          for (const t of cq.tenants.values()) {
            const n = t.live;
            if (n === 0) continue;
            byTenant[t.tenantId] = (byTenant[t.tenantId] ?? 0) + n;
            const entry = tenants[t.tenantId] ?? {
              queued: 0,
              byPriority: { interactive: 0, standard: 0, batch: 0 },
              oldestQueuedAt: Number.POSITIVE_INFINITY,
            };
            tenants[t.tenantId] = entry;
            entry.queued += n;
            entry.byPriority[p] += n;
            for (const head of [firstLive(t.retries), firstLive(t.fresh)]) {
              if (!head) continue;
              if (oldestQueuedAt[p] === null || head.enqueuedAt < oldestQueuedAt[p]!)
                oldestQueuedAt[p] = head.enqueuedAt;
              entry.oldestQueuedAt = Math.min(entry.oldestQueuedAt, head.enqueuedAt);
            }
          }
        }
        const q = g.family.quota.snapshot(now);
        const sharesLimitWith = g.family.groups.filter((o) => o !== g).map((o) => o.model);
        snaps.push({ pool: g.pool, model: g.model, ...q, sharesLimitWith, queued: gq });
      }
      const oldestAgeMs: Record<Priority, number> = { interactive: 0, standard: 0, batch: 0 };
      for (const p of PRIORITIES) oldestAgeMs[p] = oldestQueuedAt[p] === null ? 0 : now - oldestQueuedAt[p]!;
      return { queued, oldestQueuedAt, oldestAgeMs, byTenant, tenants, groups: snaps };
    },

    size() {
      let n = 0;
      for (const g of groups.values()) n += g.size;
      return n;
    },
  };

  /**
   * Class and tenant sizes drop at once; the entry itself leaves its queue lazily, when it reaches
   * a head (O(1) here, no scan of the backlog).
   */
  function cancelEntry(w: { group: Group; entry: QueuedRequest; placed: boolean }): void {
    cancelled.add(w.entry);
    w.group.size--;
    if (w.placed) {
      const cq = w.group.classes[w.entry.priority];
      cq.size--;
      const t = cq.tenants.get(w.entry.tenantId);
      if (t) t.live--;
    }
  }

  /** The oldest request of a tenant queue that is not cancelled (snapshots only). */
  function firstLive(q: Fifo<QueuedRequest>): QueuedRequest | undefined {
    for (let i = 0; i < q.size; i++) {
      const r = q.at(i);
      if (r && !cancelled.has(r)) return r;
    }
    return undefined;
  }
}

export interface Limiter {
  /** Can this request ever fit (known limits, tenant caps)? Refuse at admission instead of waiting forever. */
  admit(req: Omit<QueuedRequest, 'enqueuedAt' | 'id'>, now: number): AdmissionResult;
  enqueue(req: QueuedRequest, now: number): void;
  /** Removes a queued request; false when it is not queued (unknown, or already dispatched). */
  cancel(id: string): boolean;
  /** Every request that may go now; each leaves the queue with its cost reserved. */
  poll(now: number): Dispatch[];
  /** When `poll` could next return something; undefined when nothing is queued or only probes are awaited. */
  nextWakeAt(now: number): number | undefined;
  /** Any answer from the upstream: learn from its headers; reconcile the reservation with the actual charge. */
  onResponse(
    reservation: Reservation,
    response: {
      status: number;
      headers: RateLimitHeaders;
      actualTokens?: number;
      /** A 429's error message: it names the limit that refused (e.g. "tokens per day (TPD)"). */
      message?: string;
    },
    now: number,
  ): void;
  /** The call ended without an answer (timeout, dropped connection): the reservation stays charged. */
  onNoResponse(reservation: Reservation, now: number): void;
  snapshot(now: number): LimiterSnapshot;
  size(): number;
}

export { DEFAULT_MAX_OUTPUT_TOKENS };
