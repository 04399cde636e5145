import { lineChart } from './chart';
import type { Profile } from './profile';
import { type CostRow, type TierCostRow, tierWorkloadShape } from './scenarios/cost';
import type { FairnessRow } from './scenarios/fairness';
import { INPUTS_PER_REQUEST, type OperationsRow } from './scenarios/operations';
import type { OverheadRow } from './scenarios/overhead';
import type { PriorityRow } from './scenarios/priority';
import type { SaturationRow } from './scenarios/saturation';
import type { ScaleOutRow } from './scenarios/scale-out';
import type { StreamingRow } from './scenarios/streaming';
import { bindingRate, CHARGE, refillIntervalMs } from './workload';

export interface Summary {
  profile: Profile;
  machine: Record<string, string | number>;
  startedAt: string;
  wallSeconds: number;
  saturation?: SaturationRow[];
  priority?: PriorityRow[];
  fairness?: FairnessRow[];
  overhead?: OverheadRow[];
  scaleOut?: ScaleOutRow[];
  cost?: CostRow[];
  /** The same deadline-tagged workload at the default tier only, flex, the Batch API, and Sluice's choice. */
  tiers?: TierCostRow[];
  /** Other endpoints: embeddings saturation, and chat with embeddings at once. */
  operations?: OperationsRow[];
  /** Streams relayed as generated: added time to first token and between chunks, streams held at once. */
  streaming?: StreamingRow[];
  errors: Array<{ scenario: string; message: string }>;
}

const COLORS: Record<string, string> = {
  'openai SDK, maxRetries 2 (default)': '#d62728',
  'openai SDK, maxRetries 10': '#ff7f0e',
  Sluice: '#1f77b4',
};

const n = (v: number, d = 0) =>
  Number.isFinite(v)
    ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
    : '–';
const pct = (v: number, d = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(d)} %` : '–');
/** Seconds until the new limit was used; NaN when it never was in the run. */
const adoption = (seconds: number) => (Number.isFinite(seconds) ? `≤ ${n(seconds)} s` : 'not in the run');
const mark = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'pass' : '**missed**');

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The SVG charts of a run, by file name. */
export function charts(s: Summary): Map<string, string> {
  const files = new Map<string, string>();
  const limit = bindingRate(s.profile.limits);
  for (const enforcement of ['continuous', 'quantized'] as const) {
    const rows = s.saturation?.filter((r) => r.enforcement === enforcement) ?? [];
    if (rows.length === 0) continue;
    // Two charts: 429s run to hundreds per second and would flatten the throughput lines.
    files.set(
      `saturation-${enforcement}-throughput.svg`,
      lineChart({
        title: `Saturation, ${enforcement} enforcement: requests the upstream answered per second`,
        xLabel: 'seconds since the run started',
        yLabel: 'completed requests per second',
        series: rows.map((r) => ({
          name: r.contender,
          color: COLORS[r.contender] ?? '#555',
          points: r.timeline.map((x) => [x.t, x.ok] as const),
        })),
        reference: {
          y: limit.perSecond,
          label: `binding limit (${limit.dimension}) ${n(limit.perSecond, 1)}/s`,
        },
      }),
    );
    files.set(
      `saturation-${enforcement}-429s.svg`,
      lineChart({
        title: `Saturation, ${enforcement} enforcement: upstream 429s per second`,
        xLabel: 'seconds since the run started',
        yLabel: '429 answers per second',
        series: rows.map((r) => ({
          name: r.contender,
          color: COLORS[r.contender] ?? '#555',
          points: r.timeline.map((x) => [x.t, x.rateLimited] as const),
        })),
      }),
    );
  }
  const changed = s.saturation?.filter((r) => r.limitChange) ?? [];
  const after = changed[0]?.limitChange?.after;
  if (after) {
    const doubled = bindingRate(after);
    files.set(
      'saturation-limit-change-throughput.svg',
      lineChart({
        title: `Saturation, a limit that doubles at ${changed[0]!.limitChange!.changeAtSecond} s: requests the upstream answered per second`,
        xLabel: 'seconds since the run started',
        yLabel: 'completed requests per second',
        series: changed.map((r) => ({
          name: r.contender,
          color: COLORS[r.contender] ?? '#555',
          points: r.timeline.map((x) => [x.t, x.ok] as const),
        })),
        reference: { y: doubled.perSecond, label: `limit after the change ${n(doubled.perSecond, 1)}/s` },
      }),
    );
  }
  if (s.scaleOut?.length) {
    files.set(
      'scale-out.svg',
      lineChart({
        title: 'Scale-out: two dispatcher processes on one pool',
        xLabel: 'seconds since the run started',
        yLabel: 'requests per second',
        series: s.scaleOut.flatMap((r) => [
          {
            name: `${r.enforcement}: ok/s`,
            color: r.enforcement === 'continuous' ? '#1f77b4' : '#2ca02c',
            points: r.timeline.map((x) => [x.t, x.ok] as const),
          },
          {
            name: `${r.enforcement}: 429/s`,
            color: r.enforcement === 'continuous' ? '#1f77b4' : '#2ca02c',
            dashed: true,
            points: r.timeline.map((x) => [x.t, x.rateLimited] as const),
          },
        ]),
        reference: {
          y: limit.perSecond,
          label: `binding limit (${limit.dimension}) ${n(limit.perSecond, 1)}/s`,
        },
      }),
    );
  }
  return files;
}

/** Every goal of the issue, one line each, with what was measured. */
export function goals(s: Summary): string {
  const rows: string[][] = [];
  for (const r of s.saturation?.filter((x) => x.goals) ?? []) {
    if (r.limitChange)
      rows.push([
        `saturation, ${r.enforcement}`,
        'Sluice steady-state throughput ≥ 0.99 of the limit in force, before and after it doubles',
        `before ${n(r.limitChange.utilisationBefore, 3)}, after ${n(r.limitChange.utilisationAfter, 3)}`,
        mark(r.goals?.steady),
      ]);
    else if (r.models)
      rows.push([
        `saturation, ${r.enforcement}`,
        'Sluice steady-state throughput ≥ 0.99 of the one limit, both models together',
        `${n(r.steadyUtilisation, 3)} (${r.models.map((m) => `${m.model} ${n(m.steadyUtilisation, 3)}`).join(', ')})`,
        mark(r.goals?.steady),
      ]);
    else
      rows.push([
        `saturation, ${r.enforcement}`,
        'Sluice steady-state throughput ≥ 0.99 of the binding limit',
        n(r.steadyUtilisation, 3),
        mark(r.goals?.steady),
      ]);
    rows.push([
      `saturation, ${r.enforcement}`,
      'Sluice upstream 429s ≤ 0.1 % of attempts',
      `${n(r.upstream429s)} of ${n(r.upstreamAttempts)} (${pct(r.share429, 2)})`,
      mark(r.goals?.rateLimits),
    ]);
    if (r.limitChange && r.goals?.adoption !== undefined)
      rows.push([
        `saturation, ${r.enforcement}`,
        'Sluice uses the doubled limit within a minute of the change',
        adoption(r.limitChange.adoptionSeconds),
        mark(r.goals.adoption),
      ]);
  }
  for (const r of s.saturation?.filter((x) => x.daily?.goals) ?? []) {
    const d = r.daily!;
    rows.push(
      [
        `saturation, ${r.enforcement}`,
        'Sluice learns the daily limit for about one 429 (≤ 3 in the run)',
        `${n(r.upstream429s)} 429s (${n(d.dailyRateLimited)} daily) of ${n(r.upstreamAttempts)} (${pct(r.share429, 2)})`,
        mark(d.goals?.rateLimits),
      ],
      [
        `saturation, ${r.enforcement}`,
        'after the daily limit is reached, every interactive request is still answered',
        `${n(d.interactiveAnsweredAfter)} of ${n(d.interactiveAfter)}, latency p50 ${n(d.interactiveLatencyP50Ms)} ms`,
        mark(d.goals?.interactive),
      ],
      [
        `saturation, ${r.enforcement}`,
        "after it, batch-class work no faster than the day's refill",
        `${n(d.batchPerSecondAfter, 2)}/s (refill ${n(d.refillPerSecond, 2)}/s)`,
        mark(d.goals?.batch),
      ],
    );
  }
  for (const r of s.priority?.filter((x) => x.goal !== undefined) ?? []) {
    rows.push([
      `priority, ${r.enforcement}, batch backlog ${n(r.batchBacklog)}`,
      `interactive queue wait p99 ≤ one refill interval (${n(r.refillIntervalMs, 1)} ms)`,
      `${n(r.queueWaitP99Ms, 1)} ms`,
      mark(r.goal),
    ]);
  }
  for (const r of s.fairness?.filter((x) => x.goal !== undefined) ?? []) {
    rows.push([
      `fairness, ${r.enforcement}`,
      'every tenant served ≥ 0.95 of its max-min fair share',
      `worst ${n(r.worstRatio, 3)}`,
      mark(r.goal),
    ]);
  }
  for (const r of s.scaleOut ?? []) {
    rows.push([
      `scale-out, ${r.enforcement}`,
      'two dispatchers together: 0.97 ≤ throughput / limit ≤ 1.00, no 429s',
      `${n(r.steadyUtilisation, 3)}, ${n(r.upstream429s)} 429s`,
      mark(r.goal),
    ]);
  }
  for (const r of s.operations?.filter((x) => x.goals) ?? []) {
    rows.push([
      `${r.scenario}, ${r.traffic}`,
      'Sluice steady-state throughput ≥ 0.99 of the binding limit, ≤ 0.1 % 429s',
      `${n(r.steadyUtilisation, 3)}, ${n(r.upstream429s)} of ${n(r.upstreamAttempts)} (${pct(r.share429, 2)})`,
      mark(r.goals?.steady && r.goals.rateLimits),
    ]);
  }
  for (const r of s.streaming ?? []) {
    rows.push([
      `streaming, ${r.mode}`,
      'added time to first token p50 ≤ 5 ms',
      `${n(r.addedTtftP50Ms, 1)} ms`,
      mark(r.goals.ttftP50),
    ]);
    rows.push([
      `streaming, ${r.mode}`,
      'added time to first token p99 ≤ 20 ms',
      `${n(r.addedTtftP99Ms, 1)} ms`,
      mark(r.goals.ttftP99),
    ]);
    rows.push([
      `streaming, ${r.mode}`,
      'added gap between chunks p50 ≤ 1 ms',
      `${n(r.addedGapP50Ms, 2)} ms`,
      mark(r.goals.gapP50),
    ]);
    rows.push([
      `streaming, ${r.mode}`,
      `${n(r.concurrent)} concurrent streams held by one process`,
      `${n(r.concurrentCompleted)} complete, ${n(r.heapPerStreamKiB, 1)} KiB heap each`,
      mark(r.goals.concurrent),
    ]);
  }
  const auto = s.tiers?.find((r) => r.way === 'auto');
  if (auto)
    rows.push([
      'service tiers, auto',
      '≤ 0.55 × the default tier only, 0 deadline misses',
      `${n(auto.costVsDefault, 3)} ×, ${n(auto.deadlineMisses)} misses`,
      mark(auto.costVsDefault <= 0.55 && auto.deadlineMisses === 0),
    ]);
  return table(['scenario', 'goal', 'measured', 'result'], rows);
}

/** Section 1b: the variants whose upstream changes (a limit change, two models on one limit, a daily limit). */
function shapeTables(s: Summary): string | undefined {
  const parts: string[] = [];
  const changed = s.saturation?.filter((r) => r.limitChange) ?? [];
  if (changed.length)
    parts.push(
      "**Limit change** (a minute bucket at half the limits whose RPM and TPM double mid-run, the simulator's `limitChanges`; utilisation against the limit in force; *new limit used after* = seconds from the change until the throughput held ≥ 0.95 of the new limit for 3 s, goal: within a minute)\n\n" +
        table(
          [
            'variant',
            'contender',
            'limit before → after (TPM)',
            'steady before / its limit',
            'steady after / its limit',
            'new limit used after',
            'upstream 429s',
            '429s / attempts',
          ],
          changed.map((r) => {
            const c = r.limitChange!;
            return [
              r.enforcement,
              r.contender,
              `${n(c.before.tpm)} → ${n(c.after.tpm)} (at ${c.changeAtSecond} s)`,
              n(c.utilisationBefore, 3),
              n(c.utilisationAfter, 3),
              adoption(c.adoptionSeconds),
              n(r.upstream429s),
              pct(r.share429, 2),
            ];
          }),
        ),
    );
  const shared = s.saturation?.filter((r) => r.models) ?? [];
  if (shared.length)
    parts.push(
      "**Two models, one limit** (half the tenants call one model, half another; the upstream counts both against one limit, the simulator's `sharedLimits`, and both announce the same limits)\n\n" +
        table(
          [
            'variant',
            'contender',
            'together / the limit',
            'each model / the limit (completed)',
            'upstream 429s by model',
            '429s / attempts',
          ],
          shared.map((r) => [
            r.enforcement,
            r.contender,
            `${n(r.steadyUtilisation, 3)} (${r.steadySeconds} s)`,
            r.models!.map((m) => `${m.model} ${n(m.steadyUtilisation, 3)} (${n(m.completed)})`).join(', '),
            r.models!.map((m) => `${m.model} ${n(m.upstream429s)}`).join(', '),
            pct(r.share429, 2),
          ]),
        ),
    );
  const daily = s.saturation?.filter((r) => r.daily) ?? [];
  const d0 = daily[0]?.daily;
  if (d0) {
    const shape = s.profile.saturation.dailyLimit;
    parts.push(
      `**Daily limit** (TPD ${n(d0.tpd)}, all but ${n(d0.leftAtStart)} tokens already spent by the day's earlier traffic, the simulator's \`dailySpentAtStart\`, so the day runs out about ${shape?.secondsToExhaust ?? '?'} s into the run; a batch-class backlog and one interactive request every ${shape?.interactiveEverySeconds ?? '?'} s from another tenant. The day's refill admits ${n(d0.refillPerSecond, 2)} requests/s. A day is 86,400 s: Sluice keeps ${pct(0.2, 0)} of the day for interactive traffic once it knows the limit, so in a minutes-long run its batch work stops after the daily 429 and waits for the refill; the SDK contenders keep hitting the daily 429)\n\n` +
        table(
          [
            'contender',
            'upstream 429s (daily)',
            '429s / attempts',
            'day ran out at (s)',
            'steady until then / limit',
            'interactive after: answered / sent',
            'interactive latency p50 (ms)',
            'batch after (req/s) vs refill',
          ],
          daily.map((r) => {
            const d = r.daily!;
            return [
              r.contender,
              `${n(r.upstream429s)} (${n(d.dailyRateLimited)})`,
              pct(r.share429, 2),
              n(d.exhaustedAtSecond, 1),
              n(r.steadyUtilisation, 3),
              `${n(d.interactiveAnsweredAfter)} / ${n(d.interactiveAfter)}`,
              n(d.interactiveLatencyP50Ms),
              `${n(d.batchPerSecondAfter, 2)} vs ${n(d.refillPerSecond, 2)}`,
            ];
          }),
        ),
    );
  }
  return parts.length ? `### 1b. Saturation when the upstream changes\n\n${parts.join('\n\n')}` : undefined;
}

/** The tables, as printed and as written into the report. */
export function tables(s: Summary): string[] {
  const out: string[] = [];
  if (s.saturation?.length) {
    out.push(
      '### 1. Saturation\n\n' +
        table(
          [
            'enforcement',
            'contender',
            'completed',
            'failed',
            'upstream 429s',
            '429s / attempts',
            'wall (s)',
            'wall / SDK default',
            'whole run / limit',
            'steady state / limit',
            'goal ≥ 0.99',
            'goal 429s ≤ 0.1 %',
          ],
          s.saturation.map((r) => {
            const base = s.saturation!.find(
              (b) => b.enforcement === r.enforcement && b.contender.includes('maxRetries 2'),
            );
            return [
              r.enforcement,
              r.contender,
              `${n(r.completed)} / ${n(r.requests)}`,
              n(r.failed),
              n(r.upstream429s),
              pct(r.share429, 2),
              n(r.wallSeconds, 1),
              base ? n(r.wallSeconds / base.wallSeconds, 2) : '–',
              n(r.wholeRunUtilisation, 3),
              `${n(r.steadyUtilisation, 3)} (${r.steadySeconds} s)`,
              mark(r.goals?.steady),
              mark(r.goals?.rateLimits),
            ];
          }),
        ),
    );
  }
  const changes = shapeTables(s);
  if (changes) out.push(changes);
  if (s.priority?.length) {
    out.push(
      '### 2. Priority under load\n\n' +
        table(
          [
            'enforcement',
            'contender',
            'batch backlog',
            'interactive (failed)',
            'queue wait p50 / p99 (ms)',
            'refill interval (ms)',
            'p99 / refill interval',
            'latency p50 / p99 (ms)',
            'upstream use during trickle',
            'goal p99 ≤ 1 interval',
          ],
          s.priority.map((r) => [
            r.enforcement,
            r.contender,
            n(r.batchBacklog),
            `${r.interactive} (${r.interactiveFailed})`,
            r.contender === 'Sluice'
              ? `${n(r.queueWaitP50Ms, 1)} / ${n(r.queueWaitP99Ms, 1)}`
              : 'no queue: 429s and retries',
            n(r.refillIntervalMs, 1),
            r.contender === 'Sluice' ? n(r.queueWaitP99Ms / r.refillIntervalMs, 2) : '–',
            `${n(r.latencyP50Ms)} / ${n(r.latencyP99Ms)}`,
            n(r.utilisationDuringTrickle, 3),
            mark(r.goal),
          ]),
        ),
    );
  }
  if (s.fairness?.length) {
    out.push(
      '### 3. Fairness\n\n' +
        table(
          [
            'enforcement',
            'contender',
            'tenant',
            'demand (req/s)',
            'served (req/s)',
            'max-min fair share (req/s)',
            'served / fair',
            'goal worst ≥ 0.95',
          ],
          s.fairness.flatMap((r) =>
            r.tenants.map((t, i) => [
              r.enforcement,
              r.contender,
              t.tenant,
              t.demandPerSecond === 'backlog' ? `backlog of ${n(r.heavyBacklog)}` : n(t.demandPerSecond, 2),
              n(t.servedPerSecond, 2),
              n(t.fairPerSecond, 2),
              n(t.ratio, 3),
              i === 0 ? `${mark(r.goal)} (worst ${n(r.worstRatio, 3)})` : '',
            ]),
          ),
        ),
    );
  }
  if (s.overhead?.length) {
    out.push(
      '### 4. Overhead (no limit, no latency)\n\n' +
        table(
          [
            'mode',
            'direct p50 / p99 (ms)',
            'via Sluice p50 / p99 (ms)',
            'added p50 / p99 (ms)',
            'via / direct p50',
            'durable submits/s (tRPC; dispatcher draining, same process)',
            'direct calls/s (same concurrency)',
            'submits / direct calls',
          ],
          s.overhead.map((r) => [
            r.mode,
            `${n(r.directP50Ms, 2)} / ${n(r.directP99Ms, 2)}`,
            `${n(r.viaSluiceP50Ms, 2)} / ${n(r.viaSluiceP99Ms, 2)}`,
            `${n(r.addedP50Ms, 2)} / ${n(r.addedP99Ms, 2)}`,
            n(r.viaSluiceP50Ms / r.directP50Ms, 1),
            n(r.durableSubmitsPerSecond),
            n(r.directCallsPerSecond),
            n(r.durableSubmitsPerSecond / r.directCallsPerSecond, 3),
          ]),
        ),
    );
  }
  if (s.scaleOut?.length) {
    out.push(
      '### 5. Scale-out (Kafka, `sluice serve` + 2 × `sluice dispatch` processes)\n\n' +
        table(
          [
            'enforcement',
            'dispatchers in group',
            'completed',
            'upstream 429s',
            'wall (s)',
            'steady state / limit',
            'goal 0.97 ≤ x ≤ 1.00, no 429s',
          ],
          s.scaleOut.map((r) => [
            r.enforcement,
            String(r.groupMembers),
            `${n(r.completed)} / ${n(r.requests)}`,
            `${n(r.upstream429s)} of ${n(r.upstreamAttempts)}`,
            n(r.wallSeconds, 1),
            n(r.steadyUtilisation, 3),
            mark(r.goal),
          ]),
        ),
    );
  }
  if (s.cost?.length) {
    const c = s.profile.cost;
    out.push(
      `### 6. Cost: the same workload with and without the cost levers (Kafka; ${n(c.requests)} batch-class requests in ${c.waves} nightly runs, ${pct(c.repeatShare, 0)} of a later night's requests repeat an earlier one, \`temperature: 0\`)\n\n` +
        table(
          [
            'levers',
            'completed',
            'sync calls upstream',
            'Batch API lines',
            'cache hits',
            'billed (USD)',
            'USD per 1,000 requests',
            'cost / no levers',
            'wall (s)',
          ],
          s.cost.map((r) => [
            r.levers,
            `${n(r.completed)} / ${n(r.requests)}`,
            n(r.upstreamSyncCalls),
            n(r.upstreamBatchLines),
            n(r.cacheHits),
            (r.costMicros / 1e6).toFixed(6),
            r.usdPer1000Requests.toFixed(6),
            n(r.costVsNone, 3),
            n(r.wallSeconds, 1),
          ]),
        ),
    );
  }
  if (s.tiers?.length) {
    const t = tierWorkloadShape(s.profile);
    out.push(
      `### 6b. Service tiers: one deadline-tagged workload four ways (Kafka; ${n(t.requests)} gpt-5-mini requests: batch-class ones, ${pct(t.mix.day, 0)} due in 48 h and ${pct(t.mix.minutes, 0)} in 10 min, and ${pct(t.mix.urgent, 0)} interactive ones due within ${n(t.deadlinesMs.urgent / 1000, 1)} s; flex ${t.flexSlowdown}× slower with ${pct(t.flexUnavailableRate, 0)} "resource unavailable" refusals; goal: auto ≤ 0.55 × default only, 0 misses)\n\n` +
        table(
          [
            'way',
            'completed',
            'deadline misses',
            'USD per 1,000 requests',
            'cost / default only',
            'spend by tier (USD)',
            'flex refusals retried',
            'wall (s)',
          ],
          s.tiers.map((r) => [
            r.way,
            `${n(r.completed)} / ${n(r.requests)}`,
            r.callerErrors
              ? `${n(r.deadlineMisses)} (${n(r.callerErrors)} never heard)`
              : n(r.deadlineMisses),
            r.usdPer1000Requests.toFixed(6),
            n(r.costVsDefault, 3),
            Object.entries(r.costByTier)
              .map(([tier, c]) => `${tier} ${(c / 1e6).toFixed(6)}`)
              .join(', '),
            n(r.flexUnavailable),
            n(r.wallSeconds, 1),
          ]),
        ),
    );
  }
  if (s.operations?.length) {
    const o = s.profile.operations;
    out.push(
      `### 7. Other endpoints: ${INPUTS_PER_REQUEST}-input embedding requests against their own TPM limit (${n(o.embeddingLimits.tpm)} TPM), chat with embeddings at once, and chat with the Responses API on one model's shared quota (utilisation of both together; Kafka, continuous)\n\n` +
        table(
          [
            'scenario',
            'traffic',
            'contender',
            'completed',
            'upstream 429s',
            '429s / attempts',
            'steady state / limit',
            'goal ≥ 0.99',
            'goal 429s ≤ 0.1 %',
          ],
          s.operations.map((r) => [
            r.scenario,
            r.traffic,
            r.contender,
            `${n(r.completed)} / ${n(r.requests)}`,
            n(r.upstream429s),
            pct(r.share429, 2),
            `${n(r.steadyUtilisation, 3)} (${r.steadySeconds} s)`,
            mark(r.goals?.steady),
            mark(r.goals?.rateLimits),
          ]),
        ),
    );
  }
  if (s.streaming?.length) {
    const p = s.profile.streaming;
    out.push(
      `### 8. Streaming: ${p.tokens}-token answers, one token every ${p.perTokenMs} ms, direct from the simulator and via Sluice in the same run (pacing unlimited: only the relay counts)\n\n` +
        table(
          [
            'mode',
            'TTFT direct p50 / p99 (ms)',
            'TTFT via Sluice p50 / p99 (ms)',
            'added TTFT p50 / p99 (ms)',
            'gap direct p50 / p99 (ms)',
            'gap via Sluice p50 / p99 (ms)',
            'added gap p50 (ms)',
            'concurrent streams (complete)',
            'heap per stream (KiB)',
          ],
          s.streaming.map((r) => [
            r.mode,
            `${n(r.directTtftP50Ms, 1)} / ${n(r.directTtftP99Ms, 1)}`,
            `${n(r.viaTtftP50Ms, 1)} / ${n(r.viaTtftP99Ms, 1)}`,
            `${n(r.addedTtftP50Ms, 1)} / ${n(r.addedTtftP99Ms, 1)}`,
            `${n(r.directGapP50Ms, 2)} / ${n(r.directGapP99Ms, 2)}`,
            `${n(r.viaGapP50Ms, 2)} / ${n(r.viaGapP99Ms, 2)}`,
            n(r.addedGapP50Ms, 2),
            `${n(r.concurrent)} (${n(r.concurrentCompleted)})`,
            n(r.heapPerStreamKiB, 1),
          ]),
        ),
    );
  }
  for (const e of s.errors) out.push(`**${e.scenario} did not complete:** ${e.message}`);
  return out;
}

export function markdown(s: Summary, chartFiles: readonly string[], chartDir: string): string {
  const p = s.profile;
  const limit = bindingRate(p.limits);
  const machine = Object.entries(s.machine)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `# Sluice against what users do today — benchmark report

Run: **${p.name}** (\`npm run bench${p.name === 'quick' ? ' -- --quick' : ''}\`), ${s.startedAt}, ${n(s.wallSeconds, 0)} s wall time.
Machine and versions: ${machine}.

## Set-up

- Upstream: the project's OpenAI simulator (\`libs/openai-simulator\`), limits **${n(p.limits.rpm)} RPM / ${n(p.limits.tpm)} TPM**,
  latency ${p.latency.baseMs ?? 0} ms + up to ${p.latency.jitterMs ?? 0} ms jitter, in both enforcements:
  \`continuous\` (one-minute buckets refilling continuously) and \`quantized\` (1-second windows of limit/60, headers
  still per minute). Every request is charged ${CHARGE} tokens at admission, so the **binding limit is
  ${limit.dimension}: ${n(limit.perSecond, 2)} requests/s**; one refill interval is ${n(refillIntervalMs(p.limits), 1)} ms.
- Sluice is never told the limits: it learns them from the \`x-ratelimit-*\` headers (a fresh Sluice for every
  scenario and enforcement; in the priority scenario the second, larger backlog is topped up on the same one).
  Scenarios 1–3 run Sluice in production mode (Kafka log, Postgres event store) in the benchmark process, requests
  through its OpenAI-compatible \`/v1\` endpoint with the official \`openai\` SDK (\`maxRetries: 0\`); batch backlogs
  through tRPC \`requests.submit\`.
- Direct contenders: each tenant calls the simulator with the official \`openai\` SDK
  (${p.saturation.directConcurrencyPerTenant} requests in flight per tenant), all sharing the organisation's key as
  they would in reality, with the SDK's retries (it honours \`retry-after-ms\`).
- Each run starts with the quota already spent (one request charging the whole TPM minute, sent with the same upstream
  key), so what is measured is the steady state, not the minute's initial burst that every client gets for free.
- **Steady state** = the seconds of the run after the first ${p.skipFirst} s (start-up, Sluice's learning probe) and
  before the last ${p.skipLast} s (the backlog running out mid-second), counted by the simulator itself
  (\`/_sim/stats\` timeline). Utilisation = max(requests/s ÷ RPM/60, tokens/s ÷ TPM/60).
- The cost scenario bills the tenant from Sluice's own usage report (integer micro-dollars, \`apps/broker/prices.json\`:
  Batch API at its discount, cache hits at \`cacheHitPercent\`); its baseline is the same workload on a Sluice
  with both levers off, in the same run. Batch API runs use the simulator's Files and Batches endpoints with a
  ${n(p.cost.batchCompletionMs)} ms completion delay (the real one takes up to 24 h), so their wall time says nothing about production.
- Ratios are against baselines measured in the same run: the limit itself (enforced by the simulator), the SDK
  default's wall time, direct calls to the same simulator (overhead), the max-min fair share (fairness).
${p.name === 'quick' ? '- Quick run: limits ×4 and smaller backlogs so that every run takes seconds; the ratios are what matters.\n' : ''}
## Goals

${goals(s)}

## Results

${tables(s).join('\n\n')}

## Charts

${chartFiles.map((f) => `![${f}](${chartDir}${f})`).join('\n\n')}

## How to read it

- *429s / attempts* counts every upstream attempt, including the SDK's retries. A 429 costs the upstream
  nothing but costs the caller a round trip and, after the last retry, the request.
- *whole run / limit* includes start-up and learning; *steady state / limit* is the figure the goal is about.
- \`limit change\` and \`daily limit\` run to a deadline with a backlog that outlasts it: their *failed* counts the
  requests still queued (Sluice) or unsent when the run stopped, and their wall time is the deadline's. In
  \`daily limit\` *steady state / limit* is the utilisation until the day ran out; after that the day's refill binds.
- In the priority scenario the direct baseline has no queue to measure: its interactive latency includes the
  429 round trips and back-off waits it suffers behind the batch traffic.
- In the fairness scenario the heavy tenant's served rate is what the upstream admitted in the window minus the
  light tenants' completions; light tenants send at ${n(p.fairness.lightShareOfLimit * 100)} % of the limit each.
  A direct heavy tenant whose requests all fail after the SDK's retries is served nothing in the window.
  Light requests still unanswered 3 s after the window are abandoned and count as not served. Sluice's fair
  queueing works on the requests its dispatcher holds in memory; a pool's requests of one priority share one log
  partition, so a backlog larger than the dispatcher's in-memory queue puts later tenants' requests behind it in
  the log, where the scheduler cannot see them yet.
- Sluice's queue wait is recorded by the dispatcher from the moment the log holds the request to its dispatch,
  so it includes the log hop (Kafka delivery to the dispatcher), not only the wait for quota.
- Sluice learns per-second enforcement from a 429 that arrives while the announced minute bucket still had room
  (the limiter's design), so a quantized run has at least one 429; in a short run that one is a larger share.
- Scenarios 1–3 run Sluice inside the benchmark process, next to the simulator and the load generator: Sluice's
  figures are CPU-bound where the direct callers' are not, so a busy machine lowers them (see the load
  averages above). Scale-out runs Sluice as separate processes, warmed up on other models first.
`;
}
