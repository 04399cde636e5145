import { type HarnessMode, startTestSluice } from '@sluice/broker/testing';
import { deleteKafkaNamespace } from '@sluice/events/kafka';
import { kafkaBrokers } from '@sluice/test-support';
import OpenAI from 'openai';
import type { Profile } from '../profile';
import { percentile } from '../workload';

export interface StreamingRow {
  mode: HarnessMode;
  streams: number;
  directTtftP50Ms: number;
  directTtftP99Ms: number;
  viaTtftP50Ms: number;
  viaTtftP99Ms: number;
  /** Gaps between consecutive content chunks of one stream. */
  directGapP50Ms: number;
  directGapP99Ms: number;
  viaGapP50Ms: number;
  viaGapP99Ms: number;
  addedTtftP50Ms: number;
  addedTtftP99Ms: number;
  addedGapP50Ms: number;
  /** Streams held open at once through one Sluice process, and how many ended complete. */
  concurrent: number;
  concurrentCompleted: number;
  /** Heap growth per open stream at the peak of the concurrent run (KiB), everything in this process. */
  heapPerStreamKiB: number;
  goals: { ttftP50: boolean; ttftP99: boolean; gapP50: boolean; concurrent: boolean };
}

const UNLIMITED = { rpm: 10_000_000, tpm: 10_000_000_000 };
const messages = [{ role: 'user' as const, content: 'Tell me a story about a sluice gate' }];

interface Timings {
  ttft: number[];
  gaps: number[];
}

/** Streams one answer; when its first content came and the gaps between content chunks. */
async function timeStream(client: OpenAI, maxTokens: number, into: Timings): Promise<boolean> {
  const started = performance.now();
  let last: number | undefined;
  let finished = false;
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    max_tokens: maxTokens,
    stream: true,
  });
  for await (const chunk of stream) {
    if (chunk.choices[0]?.finish_reason) finished = true;
    if (!chunk.choices[0]?.delta.content) continue;
    const now = performance.now();
    if (last === undefined) into.ttft.push(now - started);
    else into.gaps.push(now - last);
    last = now;
  }
  return finished;
}

/**
 * Streaming, next to streaming straight from the simulator in the same run: the time to the first
 * token and the gaps between chunks that Sluice adds (pacing unlimited, so only the relay counts),
 * then many streams held open at once through one process.
 */
export async function streaming(profile: Profile, log: (line: string) => void): Promise<StreamingRow[]> {
  const { sequential, tokens, perTokenMs, concurrent } = profile.streaming;
  const rows: StreamingRow[] = [];
  for (const mode of ['embedded', 'kafka'] as const) {
    const s = await startTestSluice({
      mode,
      simulator: { limits: { default: UNLIMITED }, latency: { baseMs: 20, perTokenMs } },
    });
    try {
      const direct = new OpenAI({ apiKey: 'sk-direct', baseURL: s.simulator.url, maxRetries: 0 });
      const via = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const d: Timings = { ttft: [], gaps: [] };
      const v: Timings = { ttft: [], gaps: [] };
      for (let i = 0; i < 5; i++)
        await Promise.all([
          timeStream(direct, 4, { ttft: [], gaps: [] }),
          timeStream(via, 4, { ttft: [], gaps: [] }),
        ]);
      // Alternating, so both see the same machine.
      for (let i = 0; i < sequential; i++) {
        await timeStream(direct, tokens, d);
        await timeStream(via, tokens, v);
      }

      // Many at once: each generates for tokens × perTokenMs × 4.
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      let heapPeak = heapBefore;
      const sampler = setInterval(() => {
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      }, 50);
      const held = await Promise.all(
        Array.from({ length: concurrent }, () =>
          timeStream(via, tokens * 4, { ttft: [], gaps: [] }).catch(() => false),
        ),
      );
      clearInterval(sampler);
      const row: StreamingRow = {
        mode,
        streams: sequential,
        directTtftP50Ms: percentile(d.ttft, 50),
        directTtftP99Ms: percentile(d.ttft, 99),
        viaTtftP50Ms: percentile(v.ttft, 50),
        viaTtftP99Ms: percentile(v.ttft, 99),
        directGapP50Ms: percentile(d.gaps, 50),
        directGapP99Ms: percentile(d.gaps, 99),
        viaGapP50Ms: percentile(v.gaps, 50),
        viaGapP99Ms: percentile(v.gaps, 99),
        addedTtftP50Ms: percentile(v.ttft, 50) - percentile(d.ttft, 50),
        addedTtftP99Ms: percentile(v.ttft, 99) - percentile(d.ttft, 99),
        addedGapP50Ms: percentile(v.gaps, 50) - percentile(d.gaps, 50),
        concurrent,
        concurrentCompleted: held.filter(Boolean).length,
        heapPerStreamKiB: (heapPeak - heapBefore) / concurrent / 1024,
        goals: { ttftP50: false, ttftP99: false, gapP50: false, concurrent: false },
      };
      row.goals = {
        ttftP50: row.addedTtftP50Ms <= 5,
        ttftP99: row.addedTtftP99Ms <= 20,
        gapP50: row.addedGapP50Ms <= 1,
        concurrent: row.concurrentCompleted === concurrent,
      };
      rows.push(row);
      log(
        `streaming ${mode}: added TTFT p50 ${row.addedTtftP50Ms.toFixed(1)} ms, p99 ${row.addedTtftP99Ms.toFixed(1)} ms; added gap p50 ${row.addedGapP50Ms.toFixed(2)} ms; ${row.concurrentCompleted}/${concurrent} concurrent streams, ${row.heapPerStreamKiB.toFixed(1)} KiB heap each`,
      );
    } finally {
      await s.close();
      if (s.config.log.kind === 'kafka' && s.config.log.namespace)
        await deleteKafkaNamespace(kafkaBrokers(), s.config.log.namespace).catch(() => {});
    }
  }
  return rows;
}
