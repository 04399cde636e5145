import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceProcess } from '../__tests__/processes';
import { type ProductionStack, startProductionStack } from './production-stack';

// One attacker with a valid key against twenty ordinary tenants, on real `serve` and `dispatch`
// processes: pathological text up to the body limit, a thousand half-sent requests, slowloris and
// a burst of maximum-size bodies. The ordinary tenants must not notice much (p99 within 2×), no
// request may be lost and no process may die. Each attack comes from its own loopback address,
// as it would from its own host, so the per-client connection limit applies to it alone.
const ORDINARY_TENANTS = 20;
const PHASE_MS = 20_000;
const BODY_TIMEOUT_MS = 8_000;
const HEADERS_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 2 * 1024 * 1024;

function countBy(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of keys) counts[k] = (counts[k] ?? 0) + 1;
  return counts;
}

describe('hostile load (production processes)', () => {
  let stack: ProductionStack;
  let serve: SluiceProcess;
  let dispatch: SluiceProcess;
  let ordinaryKeys: string[];
  let attackerKey: string;
  let secondAttackerKey: string;
  let adminKey: string;
  let port: number;

  beforeAll(async () => {
    stack = await startProductionStack({
      simulator: { limits: { default: { rpm: 1_000_000, tpm: 1_000_000_000 } }, latency: { baseMs: 20 } },
      env: { SLUICE_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), SLUICE_MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
    });
    port = Number(new URL(stack.url).port);
    const names = [
      ...Array.from({ length: ORDINARY_TENANTS }, (_, i) => `ordinary-${i}`),
      'attacker',
      'attacker-b',
    ];
    const keys: string[] = [];
    for (let i = 0; i < names.length; i += 7) {
      const created = await Promise.all(
        names.slice(i, i + 7).map(async (n) => {
          const { stdout } = await stack.group.cli(['tenants', 'create', n, '--json']);
          return (JSON.parse(stdout) as { apiKey: string }).apiKey;
        }),
      );
      keys.push(...created);
    }
    secondAttackerKey = keys.pop()!;
    attackerKey = keys.pop()!;
    ordinaryKeys = keys;
    adminKey = (
      JSON.parse((await stack.group.cli(['keys', 'create', '--admin', '--json'])).stdout) as {
        apiKey: string;
      }
    ).apiKey;
    serve = await stack.serve();
    dispatch = await stack.dispatch();
  }, 240_000);
  afterAll(async () => {
    await stack?.close();
  }, 60_000);

  /** Each ordinary tenant: small chat completions with a short pause, until `ms` have passed. */
  async function ordinaryLoad(ms: number) {
    const latencies: number[] = [];
    const failures: string[] = [];
    const until = Date.now() + ms;
    await Promise.all(
      ordinaryKeys.map(async (key, t) => {
        for (let i = 0; Date.now() < until; i++) {
          const started = performance.now();
          const res = await fetch(`${stack.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'gpt-4o-mini',
              max_tokens: 8,
              messages: [
                { role: 'user', content: `tenant ${t} asks question ${i}: what is the weather like?` },
              ],
            }),
            signal: AbortSignal.timeout(30_000),
          }).catch((e: Error) => e);
          if (res instanceof Error) failures.push(`tenant ${t}: ${res.message}`);
          else if (!res.ok) failures.push(`tenant ${t}: ${res.status} ${await res.text()}`);
          else {
            await res.arrayBuffer();
            latencies.push(performance.now() - started);
          }
          await sleep(200);
        }
      }),
    );
    return { latencies, failures };
  }

  /** A full request from `from`, answered or not: its status and body (or the socket's error). */
  function rawPost(from: string, path: string, body: Buffer, key: string) {
    return new Promise<{ status: number; body: string }>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          localAddress: from,
          method: 'POST',
          path,
          agent: false,
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            'content-length': body.length,
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', (e) => resolve({ status: -1, body: e.message }));
        },
      );
      req.on('error', (e) => resolve({ status: -1, body: e.message }));
      req.end(body);
    });
  }

  /**
   * A chat request as large as the body limit allows: `unit` repeated in messages of up to the
   * million characters the schema takes for one content, so all of it reaches the estimate.
   */
  function maxSizeBody(unit: string): Buffer {
    const room = MAX_BODY_BYTES - 256;
    const perMessage = Math.floor(Math.min(1_000_000, room / 2) / unit.length);
    const units = Math.floor(room / Buffer.byteLength(unit));
    const messages: Array<{ role: string; content: string }> = [];
    for (let left = units; left > 0; left -= perMessage)
      messages.push({ role: 'user', content: unit.repeat(Math.min(left, perMessage)) });
    const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages }));
    if (body.length > MAX_BODY_BYTES) throw new Error(`body of ${body.length} bytes is over the limit`);
    return body;
  }

  /** Sockets that send `first` and then nothing (or `trickle` every second): when did the server let go? */
  function holdOpen(from: string, count: number, first: string, trickle?: string) {
    const opened = Date.now();
    const sockets: Socket[] = [];
    const results = Array.from(
      { length: count },
      () =>
        new Promise<{ heldMs: number; answer: string }>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port, localAddress: from });
          sockets.push(socket);
          let answer = '';
          let timer: NodeJS.Timeout | undefined;
          socket.on('connect', () => {
            socket.write(first);
            if (trickle) timer = setInterval(() => socket.write(trickle), 1_000);
          });
          socket.on('data', (d) => {
            answer += d.toString();
          });
          socket.on('error', () => {});
          socket.on('close', () => {
            clearInterval(timer);
            resolve({ heldMs: Date.now() - opened, answer: answer.split('\r\n')[0] ?? '' });
          });
        }),
    );
    const destroy = () => {
      for (const s of sockets) s.destroy();
    };
    return { done: Promise.all(results), destroy };
  }

  async function eventLoopLagP99(): Promise<number> {
    const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
    const text = await res.text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('sluice_process_nodejs_eventloop_lag_p99_seconds '));
    return Number(line?.split(' ')[1]);
  }

  it('keeps ordinary tenants within 2× their p99 while attacked, loses nothing, and no process dies', async () => {
    await ordinaryLoad(3_000); // warm-up: connections, JIT, the dispatcher's learnt limits
    await eventLoopLagP99(); // the lag histogram restarts at each scrape: each phase gets its own
    const baseline = await ordinaryLoad(PHASE_MS);
    const baselineLagP99 = await eventLoopLagP99();

    const halfBodies = holdOpen(
      '127.0.0.2',
      500,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secondAttackerKey}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"model":"gpt-4o-mini","messages":[`,
    );
    const halfHeaders = holdOpen('127.0.0.3', 500, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    const slowloris = holdOpen('127.0.0.4', 50, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n');
    const attackUntil = Date.now() + PHASE_MS;
    const pathological = ['a', '🙂', '7', `${'x'.repeat(2_000)} `].map(maxSizeBody);
    const answers: Array<{ status: number; body: string }> = [];
    // Pathological bodies, 20 a second from two loops that ignore every retry-after (about twice
    // what the tenant's large-body pace lets through).
    const flood = Promise.all(
      [0, 1].map(async (loop) => {
        for (let i = loop; Date.now() < attackUntil; i += 2) {
          const body = pathological[i % pathological.length]!;
          answers.push(await rawPost('127.0.0.5', '/v1/chat/completions', body, attackerKey));
          await sleep(100);
        }
      }),
    );
    const burst = (async () => {
      await sleep(4_000);
      const text = maxSizeBody('The committee reviewed the quarterly figures and approved the plan. ');
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 40 }, () => rawPost('127.0.0.6', '/v1/chat/completions', text, attackerKey)),
        )),
      );
    })();
    const attacked = await ordinaryLoad(PHASE_MS);
    const lagP99 = await eventLoopLagP99();
    await Promise.all([flood, burst]);
    const [bodies, headers, loris] = await Promise.all([
      halfBodies.done,
      halfHeaders.done,
      Promise.race([slowloris.done, sleep(HEADERS_TIMEOUT_MS + 10_000).then(() => undefined)]),
    ]);
    slowloris.destroy();

    const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
    const summary = {
      baselineP99: Math.round(p99(baseline.latencies)),
      attackedP99: Math.round(p99(attacked.latencies)),
      requests: [baseline.latencies.length, attacked.latencies.length],
      attackerAnswers: countBy(answers.map((a) => `${a.status} ${a.body.slice(0, 90)}`)),
      // Node's histogram counts the 10 ms between its samples in each value: the delay is the rest.
      delayP99Ms: [Math.round((baselineLagP99 - 0.01) * 1_000), Math.round((lagP99 - 0.01) * 1_000)],
    };
    console.log(`hostile load: ${JSON.stringify(summary)}`);

    // Nothing lost: every ordinary request answered 200, and each went upstream exactly once.
    expect(baseline.failures).toEqual([]);
    expect(attacked.failures).toEqual([]);
    expect(attacked.latencies.length).toBeGreaterThan(ORDINARY_TENANTS * 10);
    expect(summary.attackedP99).toBeLessThanOrEqual(2 * summary.baselineP99);
    // The event-loop delay stays under 20 ms at p99, or (on a loaded 2-core box, where the ordinary
    // load alone may come near that) the attack adds at most 10 ms to it.
    const delay = lagP99 - 0.01;
    expect(delay).toBeLessThan(Math.max(0.02, baselineLagP99 - 0.01 + 0.01));
    // The attacker's bodies were measured and refused with OpenAI-style errors (context length, its
    // share of the estimation queue, its large-body rate), none reached the upstream; a body
    // refused before it was read may meet a closed connection while still being sent.
    expect(answers.length).toBeGreaterThan(40);
    for (const a of answers) {
      if (a.status === -1) {
        expect(a.body).toMatch(/EPIPE|ECONNRESET/);
        continue;
      }
      expect([400, 429, 503]).toContain(a.status);
      expect((JSON.parse(a.body) as { error: { message: string } }).error.message).toBeTruthy();
    }
    expect(answers.filter((a) => a.status === 400).length).toBeGreaterThan(20);
    const ordinaryRequests = baseline.latencies.length + attacked.latencies.length;
    expect(stack.sim.stats().ok).toBeGreaterThanOrEqual(ordinaryRequests);
    expect(stack.sim.stats().ok).toBeLessThan(ordinaryRequests + ORDINARY_TENANTS * 20); // + warm-up only
    // Held connections were let go by their deadlines: 408 for the bodies being read, 429 for the
    // rest of that tenant's flood of large bodies, which waited unread (or not at all).
    for (const b of bodies) {
      expect(b.answer).toMatch(/^HTTP\/1\.1 (408|429)/);
      // At most: its turn in the tenant's pace, then a slot, then the body deadline.
      expect(b.heldMs).toBeLessThan(3 * BODY_TIMEOUT_MS + 5_000);
    }
    expect(bodies.filter((b) => b.answer.includes(' 408')).length).toBeGreaterThan(0);
    for (const h of headers) expect(h.heldMs).toBeLessThan(HEADERS_TIMEOUT_MS + 5_000);
    expect(loris?.every((l) => l.heldMs < HEADERS_TIMEOUT_MS + 5_000)).toBe(true);
    // No process died.
    expect(serve.child.exitCode).toBeNull();
    expect(dispatch.child.exitCode).toBeNull();
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  }, 240_000);
});
