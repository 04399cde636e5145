// npm run bench -w @sluice/broker — the broker's added latency on the synchronous path, against
// calling the same simulator directly in the same run, and durable submits per second.
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import OpenAI from 'openai';
import { type HarnessMode, startTestSluice } from '../src/__tests__/harness';

const quick = process.argv.includes('--quick');
const SEQUENTIAL = quick ? 150 : 400;
/**
 * Sequential calls before timing. Measured: a fresh Kafka-mode process still got faster until about
 * 2,000 calls (added p50 3.3 ms after 500, 2.1–2.3 ms after 2,000, steady after that).
 */
const WARM_UP = quick ? 1_000 : 2_000;
/** Submits before the timed run (the rate also climbed over the first few thousand). */
const SUBMIT_WARM_UP = quick ? 1_000 : 2_000;
const SUBMITS = quick ? 1_500 : 4_000;
const CONCURRENCY = 64;
/**
 * What @sluice/sdk puts in one HTTP request when many submits are in flight (its
 * `SUBMIT_BATCH.maxItems`; the SDK depends on the broker, so the broker cannot import it).
 */
const SDK_BATCH = 32;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'ping' }], max_tokens: 4 };
const rows: Array<Record<string, string>> = [];

/**
 * Sequential calls, direct and through Sluice, in alternating blocks: a host that speeds up or
 * slows down during the run moves both samples alike. A pause after each Sluice block lets its
 * last request's store write finish, so it does not slow the next direct block.
 */
async function timeCalls(direct: OpenAI, viaSluice: OpenAI, n: number, blocks = 3) {
  const call = async (client: OpenAI) => {
    const t = performance.now();
    await client.chat.completions.create(body);
    return performance.now() - t;
  };
  // Warm up until the JIT has compiled both paths: a long-running server's latency, not a cold one's.
  for (let i = 0; i < WARM_UP; i++) await Promise.all([call(direct), call(viaSluice)]);
  await new Promise((r) => setTimeout(r, 200));
  const out = { direct: [] as number[], viaSluice: [] as number[] };
  const perBlock = Math.ceil(n / blocks);
  for (let b = 0; b < blocks; b++) {
    for (let i = 0; i < perBlock; i++) out.direct.push(await call(direct));
    for (let i = 0; i < perBlock; i++) out.viaSluice.push(await call(viaSluice));
    await new Promise((r) => setTimeout(r, 200));
  }
  return out;
}

// The submit figures' baseline: what the same load generator reaches against a server that does
// nothing (one fastify route answering a constant), on the same cores, in the same run.
const ceiling = await bareServerRate();
console.log(`HTTP ceiling (do-nothing server, same client): ${ceiling.toFixed(0)} requests/s`);

for (const mode of ['embedded', 'kafka'] as HarnessMode[]) {
  const s = await startTestSluice({
    mode,
    simulator: { limits: { default: { rpm: 10_000_000, tpm: 10_000_000_000 } } },
  });
  try {
    const { direct, viaSluice } = await timeCalls(
      new OpenAI({ apiKey: 'sk-direct', baseURL: s.simulator.url, maxRetries: 0 }),
      new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 }),
      SEQUENTIAL,
    );
    // API process alone first: afterwards the full process is still draining its own backlog.
    const apiOnly = await startTestSluice({ mode, roles: ['api'] });
    let onlyApi = 0;
    let onlyApiBatched = 0;
    try {
      onlyApi = await submitRate(apiOnly.url, apiOnly.tenant.apiKey);
      onlyApiBatched = await submitRate(apiOnly.url, apiOnly.tenant.apiKey, SDK_BATCH);
    } finally {
      await apiOnly.close();
    }
    const withDispatcher = await submitRate(s.url, s.tenant.apiKey);
    rows.push({
      mode,
      'direct p50 (ms)': pct(direct, 50).toFixed(2),
      'via Sluice p50 (ms)': pct(viaSluice, 50).toFixed(2),
      'added p50 (ms)': (pct(viaSluice, 50) - pct(direct, 50)).toFixed(2),
      'added p99 (ms)': (pct(viaSluice, 99) - pct(direct, 99)).toFixed(2),
      'via / direct p50': (pct(viaSluice, 50) / pct(direct, 50)).toFixed(1),
      'durable submits/s (API process)': onlyApi.toFixed(0),
      'API process / HTTP ceiling': (onlyApi / ceiling).toFixed(2),
      [`durable submits/s, SDK batching ${SDK_BATCH} per HTTP request (API process)`]:
        onlyApiBatched.toFixed(0),
      'durable submits/s (API + dispatcher draining, one process)': withDispatcher.toFixed(0),
    });
  } finally {
    await s.close();
  }
}

/**
 * tRPC requests.submit returns once the log holds the request durably. The clients run in a worker
 * thread (their own event loop and core), so the figure is the broker's, not the load generator's.
 */
async function submitRate(url: string, apiKey: string, batch = 1): Promise<number> {
  const run = (total: number) =>
    new Promise<number>((resolve, reject) => {
      const worker = new Worker(new URL('./submit-load.mjs', import.meta.url), {
        // Batched, fewer HTTP requests are in flight, each carrying `batch` submits.
        workerData: { url, apiKey, total, concurrency: Math.max(2, CONCURRENCY / batch), body, batch },
      });
      worker.once('message', (m: { seconds: number; sent: number }) => resolve(m.sent / m.seconds));
      worker.once('error', reject);
    });
  await run(SUBMIT_WARM_UP); // warm up: connections, JIT, the tenant's caches
  return run(SUBMITS);
}

async function bareServerRate(): Promise<number> {
  const app = Fastify();
  app.post('/trpc/requests.submit', async () => ({ result: { data: { requestId: 'req_bare' } } }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const { port } = app.server.address() as { port: number };
    return await submitRate(`http://127.0.0.1:${port}`, 'sk-bare');
  } finally {
    await app.close();
  }
}

for (const r of rows)
  console.log(
    Object.entries(r)
      .map(([k, v]) => `${k}: ${v}`)
      .join(' | '),
  );
process.exit(0);
