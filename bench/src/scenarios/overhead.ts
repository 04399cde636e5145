import { type HarnessMode, startTestSluice } from '@sluice/broker/testing';
import { deleteKafkaNamespace } from '@sluice/events/kafka';
import { kafkaBrokers } from '@sluice/test-support';
import OpenAI from 'openai';
import type { Profile } from '../profile';
import { percentile } from '../workload';

export interface OverheadRow {
  mode: HarnessMode;
  directP50Ms: number;
  directP99Ms: number;
  viaSluiceP50Ms: number;
  viaSluiceP99Ms: number;
  addedP50Ms: number;
  addedP99Ms: number;
  /** Plain HTTP calls per second to the simulator at the same concurrency: the machine's baseline. */
  directCallsPerSecond: number;
  durableSubmitsPerSecond: number;
}

const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'ping' }], max_tokens: 4 };
const UNLIMITED = { rpm: 10_000_000, tpm: 10_000_000_000 };

/**
 * No limit, no latency: what Sluice adds to one synchronous call, and how many requests per second
 * it accepts durably (tRPC `requests.submit`). The approach of apps/broker/bench/broker.bench.ts.
 */
export async function overhead(profile: Profile, log: (line: string) => void): Promise<OverheadRow[]> {
  const { sequential, warmUp, seconds, concurrency } = profile.overhead;
  const rows: OverheadRow[] = [];
  for (const mode of ['embedded', 'kafka'] as const) {
    // Started one after the other: a Kafka instance started during the embedded measurement was once
    // refused by the broker ("does not host this topic-partition") on its first produce.
    const s = await startTestSluice({ mode, simulator: { limits: { default: UNLIMITED } } });
    try {
      const direct = await timeCalls(
        new OpenAI({ apiKey: 'sk-direct', baseURL: s.simulator.url, maxRetries: 0 }),
        sequential,
        warmUp,
      );
      const via = await timeCalls(
        new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 }),
        sequential,
        warmUp,
      );
      const directRate = await rate(seconds, concurrency, () =>
        fetch(`${s.simulator.url}/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'Bearer sk-direct', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
      // Durable submits on the same process, its dispatcher draining them meanwhile (upstream unlimited).
      const apiKey = s.tenant.apiKey;
      const apiUrl = s.url;
      const submitRate = await rate(seconds, concurrency, () =>
        fetch(`${apiUrl}/trpc/requests.submit`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ params: body, options: { priority: 'batch' } }),
        }),
      );
      const row: OverheadRow = {
        mode,
        directP50Ms: percentile(direct, 50),
        directP99Ms: percentile(direct, 99),
        viaSluiceP50Ms: percentile(via, 50),
        viaSluiceP99Ms: percentile(via, 99),
        addedP50Ms: percentile(via, 50) - percentile(direct, 50),
        addedP99Ms: percentile(via, 99) - percentile(direct, 99),
        directCallsPerSecond: directRate,
        durableSubmitsPerSecond: submitRate,
      };
      rows.push(row);
      log(
        `overhead ${mode}: added p50 ${row.addedP50Ms.toFixed(1)} ms, p99 ${row.addedP99Ms.toFixed(1)} ms; ${submitRate.toFixed(0)} durable submits/s vs ${directRate.toFixed(0)} direct calls/s`,
      );
    } finally {
      await s.close();
      if (s.config.log.kind === 'kafka' && s.config.log.namespace)
        await deleteKafkaNamespace(kafkaBrokers(), s.config.log.namespace).catch(() => {});
    }
  }
  return rows;
}

async function timeCalls(client: OpenAI, n: number, warmUp: number): Promise<number[]> {
  // Long enough for the JIT: the figure is a running server's, not a freshly started one's.
  for (let i = 0; i < warmUp; i++) await client.chat.completions.create(body);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await client.chat.completions.create(body);
    out.push(performance.now() - t);
  }
  return out;
}

/** Calls completed per second with `concurrency` in flight, over `seconds` (the last calls finish after). */
async function rate(seconds: number, concurrency: number, call: () => Promise<Response>): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const res = await call();
        if (!res.ok) throw new Error(`call failed: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}
