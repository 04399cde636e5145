import type { FastifyInstance } from 'fastify';

/**
 * Reading a body is a cost no later check takes back: decoding and parsing 2 MiB takes 5–25 ms of
 * the thread that serves every tenant. So a tenant's large bodies are read a few at a time; the
 * rest wait unread in their sockets (the kernel holds them, not Sluice), first come first served,
 * and are refused with 429 when no slot frees within the body deadline (or at once, when a flood
 * already waits). A tenant's large bodies are also paced to `bytesPerSecond` (a token bucket of a
 * second's worth): what one tenant makes this thread parse is bounded in rate, not only in
 * concurrency. Small bodies never wait.
 */
export interface LargeBodyLimits {
  /** A body of at least this many bytes (by its content-length, or unknown) is large. */
  minBytes: number;
  /** Large bodies one tenant has read at once. */
  perTenant: number;
  /** Bytes of large bodies one tenant may send per second (each process). */
  bytesPerSecond: number;
}

/** Bodies that may wait for each of a tenant's slots; more are refused at once. */
const MAX_WAITING_PER_SLOT = 16;

export const DEFAULT_LARGE_BODY_LIMITS: LargeBodyLimits = {
  minBytes: 256 * 1024,
  perTenant: 4,
  bytesPerSecond: 8 * 1024 * 1024,
};

interface Slots {
  busy: number;
  waiting: Array<() => void>;
}

export function createLargeBodyGate(limits: LargeBodyLimits, clock: () => number = Date.now) {
  const byTenant = new Map<string, Slots>();
  /** Per tenant: when its byte budget is spent up to (GCRA's theoretical arrival time), in ms. */
  const spentUntil = new Map<string, number>();

  function release(tenant: string, slots: Slots): void {
    const next = slots.waiting.shift();
    if (next) {
      next(); // the slot passes on: busy stays the same
      return;
    }
    slots.busy--;
    if (slots.busy === 0) byTenant.delete(tenant);
  }

  return {
    limits,
    /**
     * Charges `bytes` to the tenant's budget; the ms to wait before reading them (0: at once).
     * The budget holds a second's worth, so a tenant within its rate never waits.
     */
    pace(tenant: string, bytes: number): number {
      const now = clock();
      const msPerByte = 1_000 / limits.bytesPerSecond;
      const from = Math.max(now - 1_000, spentUntil.get(tenant) ?? 0);
      const until = from + bytes * msPerByte;
      spentUntil.set(tenant, until);
      if (spentUntil.size > 10_000)
        for (const [t, at] of spentUntil) if (at < now - 1_000) spentUntil.delete(t);
      return Math.max(0, Math.ceil(until - now));
    },
    /**
     * Waits for one of the tenant's slots; resolves with its release (idempotent), or with
     * undefined when none freed within `timeoutMs` or `abandoned` fired first.
     */
    enter(tenant: string, timeoutMs: number, abandoned: AbortSignal): Promise<(() => void) | undefined> {
      let slots = byTenant.get(tenant);
      if (!slots) {
        slots = { busy: 0, waiting: [] };
        byTenant.set(tenant, slots);
      }
      const held = slots;
      const releaser = () => {
        let done = false;
        return () => {
          if (done) return;
          done = true;
          release(tenant, held);
        };
      };
      if (held.busy < limits.perTenant) {
        held.busy++;
        return Promise.resolve(releaser());
      }
      // A flood is refused as it arrives, not all at once when its waits run out.
      if (held.waiting.length >= limits.perTenant * MAX_WAITING_PER_SLOT) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const give = () => {
          clearTimeout(timer);
          abandoned.removeEventListener('abort', giveUp);
          resolve(releaser());
        };
        const giveUp = () => {
          clearTimeout(timer);
          const i = held.waiting.indexOf(give);
          if (i !== -1) held.waiting.splice(i, 1);
          resolve(undefined);
        };
        const timer = setTimeout(giveUp, timeoutMs);
        abandoned.addEventListener('abort', giveUp, { once: true });
        held.waiting.push(give);
      });
    },
  };
}

export type LargeBodyGate = ReturnType<typeof createLargeBodyGate>;

/**
 * JSON bodies of `largeChars` or more are parsed one per event-loop turn, in arrival order, so a
 * burst of them (from any number of tenants) adds at most one parse to the turn an ordinary
 * request waits for. Smaller bodies are parsed at once, by Fastify's own (poisoning-safe) parser.
 */
export function registerJsonLane(app: FastifyInstance, largeChars: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  const lane: Array<() => void> = [];
  const next = () => {
    lane.shift()?.();
    if (lane.length > 0) setImmediate(next);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser<string>('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body.length < largeChars) return parse(req, body, done);
    lane.push(() => parse(req, body, done));
    if (lane.length === 1) setImmediate(next);
  });
}
