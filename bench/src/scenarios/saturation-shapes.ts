import { setMaxListeners } from 'node:events';
import type { RunningSimulator } from '@sluice/openai-simulator';
import {
  CONTENDERS,
  closeLater,
  exhaustQuota,
  ORG_KEY,
  type Outcome,
  runDirect,
  runViaSluice,
  type SimulatorVariant,
  type SluiceUnderTest,
  startSimulator,
  startSluice,
} from '../contenders';
import type { Profile } from '../profile';
import {
  bindingRate,
  CHARGE,
  type Limits,
  MODEL,
  modelSecondsSince,
  percentile,
  type Second,
  snapshot,
  steadyUtilisation,
  upstreamSince,
} from '../workload';
import type { SaturationRow } from './saturation';

/** The second model of `two models, one limit`: a chat model of another family, same announced limits. */
export const SECOND_MODEL = 'gpt-4.1-mini';
const DAY_SECONDS = 86_400;
/** Utilisation of the new limit that counts as using it, over `ADOPTION_SPAN` consecutive seconds. */
const ADOPTED_AT = 0.95;
const ADOPTION_SPAN = 3;

/** One contender's upstream and how to send through it. */
interface Run {
  contender: (typeof CONTENDERS)[number];
  sim: RunningSimulator;
  upstreamKey: string;
  sut?: SluiceUnderTest;
}

interface Traffic {
  name: string;
  requests: number;
  priority: Outcome['priority'];
  model?: string;
  ratePerSecond?: number;
}

/**
 * Sends `tenants`' traffic through one contender: via Sluice (backlogs at once, interactive ones
 * open-loop; abandoned at `deadline`), or straight to the simulator with the SDK's retries.
 */
async function send(
  run: Run,
  profile: Profile,
  tenants: readonly Traffic[],
  deadline?: number,
): Promise<Outcome[]> {
  const until = deadline === undefined ? undefined : () => Date.now() >= deadline;
  if (run.sut) {
    const abort = new AbortController();
    setMaxListeners(Number.POSITIVE_INFINITY, abort.signal); // one listener per request of the backlog
    const timer = deadline === undefined ? undefined : setTimeout(() => abort.abort(), deadline - Date.now());
    try {
      return await runViaSluice({ sut: run.sut, tenants, signal: abort.signal, ...(until ? { until } : {}) });
    } finally {
      clearTimeout(timer);
    }
  }
  const maxRetries = run.contender.includes('10') ? 10 : 2;
  const outcomes = await runDirect({
    sim: run.sim,
    maxRetries,
    tenants: tenants.map((t) => ({
      name: t.name,
      // Until the deadline, a backlog never runs out: requests that fail fast must not end the run early.
      requests: until && !t.ratePerSecond ? Number.POSITIVE_INFINITY : t.requests,
      concurrency: t.ratePerSecond ? t.requests : profile.saturation.directConcurrencyPerTenant,
      ...(t.ratePerSecond ? { ratePerSecond: t.ratePerSecond } : {}),
      ...(t.model ? { model: t.model } : {}),
    })),
    ...(until ? { until } : {}),
  });
  // runDirect does not know the class; the tenant says it.
  const priorityOf = new Map(tenants.map((t) => [t.name, t.priority]));
  return outcomes.map((o) => ({ ...o, priority: priorityOf.get(o.tenant) ?? o.priority }));
}

/**
 * Runs `measure` once per contender, each on its own simulator started with `simulator` (Sluice's
 * started first, while the direct contenders run, as in the backlog variants).
 */
async function eachContender(
  profile: Profile,
  opts: { limits: Limits; simulator: SimulatorVariant; tenants: readonly string[] },
  quietAfter: Promise<unknown> | undefined,
  measure: (run: Run) => Promise<SaturationRow>,
): Promise<SaturationRow[]> {
  const sluiceStarting = startSluice({
    mode: 'kafka',
    limits: opts.limits,
    enforcement: 'continuous',
    simulator: opts.simulator,
    latency: profile.latency,
    tenants: opts.tenants,
  });
  sluiceStarting.catch(() => {});
  const rows: SaturationRow[] = [];
  for (const contender of CONTENDERS) {
    if (contender === 'Sluice') {
      const sut = await sluiceStarting;
      await quietAfter?.catch(() => {});
      try {
        rows.push(await measure({ contender, sim: sut.sluice.simulator, upstreamKey: sut.upstreamKey, sut }));
      } finally {
        closeLater(() => sut.close());
      }
    } else {
      const sim = await startSimulator(opts.limits, 'continuous', profile.latency, opts.simulator);
      try {
        rows.push(await measure({ contender, sim, upstreamKey: ORG_KEY }));
      } finally {
        await sim.close();
      }
    }
  }
  return rows;
}

/** Per-second utilisation: the larger of requests / RPM and tokens / TPM. */
const used = (s: Second, l: Limits) => Math.max(s.ok / (l.rpm / 60), s.tokens / (l.tpm / 60));
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : Number.NaN);

function baseRow(
  variant: string,
  run: Run,
  outcomes: readonly Outcome[],
  upstream: ReturnType<typeof upstreamSince>,
  t0: number,
): Omit<SaturationRow, 'wholeRunUtilisation' | 'steadyUtilisation' | 'steadySeconds'> {
  const completed = outcomes.filter((o) => o.ok).length;
  return {
    enforcement: variant,
    contender: run.contender,
    requests: outcomes.length,
    completed,
    failed: outcomes.length - completed,
    upstreamAttempts: upstream.attempts,
    upstream429s: upstream.rateLimited,
    share429: upstream.rateLimited / Math.max(1, upstream.attempts),
    wallSeconds: (Math.max(t0, ...outcomes.map((o) => o.endedAt)) - t0) / 1000,
    timeline: upstream.seconds,
  };
}

/**
 * `limit change`: a minute bucket at half the profile's limits whose RPM and TPM double
 * `beforeSeconds` into the run (a tier upgrade, the simulator's `limitChanges`), then
 * `afterSeconds` more. Utilisation is against the limit in force; the adoption time is how long
 * after the change the throughput first holds ≥ 0.95 of the new limit for 3 s.
 */
export async function limitChange(
  variant: string,
  profile: Profile,
  log: (line: string) => void,
  quietAfter?: Promise<unknown>,
): Promise<SaturationRow[]> {
  const after = profile.limits;
  const before: Limits = { rpm: after.rpm / 2, tpm: after.tpm / 2 };
  const { beforeSeconds, afterSeconds } = profile.saturation.limitChange;
  const { tenants } = profile.saturation;
  const names = Array.from({ length: tenants }, (_, i) => `tenant-${i + 1}`);
  // More than the run admits at the limits in force: the backlog never runs out before the deadline.
  const admitted =
    bindingRate(before).perSecond * beforeSeconds + bindingRate(after).perSecond * afterSeconds;
  const perTenant = Math.ceil((1.3 * admitted) / tenants);
  return eachContender(
    profile,
    { limits: before, simulator: {}, tenants: names },
    quietAfter,
    async (run) => {
      await exhaustQuota(run.sim.url, run.upstreamKey, before);
      const snap = snapshot(run.sim.stats());
      // The change counts from here (limitChanges given to configure count from the call).
      run.sim.configure({ limitChanges: [{ afterMs: beforeSeconds * 1_000, limits: { default: after } }] });
      const t0 = Date.now();
      const outcomes = await send(
        run,
        profile,
        names.map((name) => ({ name, requests: perTenant, priority: 'batch' as const })),
        t0 + (beforeSeconds + afterSeconds) * 1_000,
      );
      const upstream = upstreamSince(snap, run.sim.stats());
      // Second `beforeSeconds` holds the change (seconds[0] is the one the run started in).
      const seconds = upstream.seconds.slice(0, beforeSeconds + afterSeconds);
      const change = beforeSeconds;
      const beforeWindow = seconds.slice(profile.skipFirst, change).map((s) => used(s, before));
      const afterWindow = seconds
        .slice(change + 1 + profile.skipFirst, seconds.length - profile.skipLast)
        .map((s) => used(s, after));
      let adoptionSeconds = Number.NaN;
      for (let t = change + 1; t + ADOPTION_SPAN <= seconds.length; t++) {
        const span = seconds.slice(t, t + ADOPTION_SPAN).map((s) => used(s, after));
        if (mean(span) >= ADOPTED_AT) {
          adoptionSeconds = t + 1 - change; // the change fell somewhere in second `change`: an upper bound
          break;
        }
      }
      const base = baseRow(variant, run, outcomes, upstream, t0);
      const inForce =
        bindingRate(before).perSecond * beforeSeconds +
        bindingRate(after).perSecond * Math.max(0, base.wallSeconds - beforeSeconds);
      const utilisationBefore = mean(beforeWindow);
      const utilisationAfter = mean(afterWindow);
      const row: SaturationRow = {
        ...base,
        wholeRunUtilisation: base.completed / inForce,
        steadyUtilisation: mean([...beforeWindow, ...afterWindow]),
        steadySeconds: beforeWindow.length + afterWindow.length,
        limitChange: {
          before,
          after,
          changeAtSecond: change,
          utilisationBefore,
          utilisationAfter,
          adoptionSeconds,
        },
        ...(run.sut
          ? {
              goals: {
                steady: utilisationBefore >= 0.99 && utilisationAfter >= 0.99,
                rateLimits: base.share429 <= 0.001,
                adoption: adoptionSeconds <= 60,
              },
            }
          : {}),
      };
      log(
        `saturation ${variant} ${run.contender}: ${row.completed}/${row.requests} completed, ${row.upstream429s} 429s of ${row.upstreamAttempts} attempts, before ${utilisationBefore.toFixed(3)} of ${before.tpm} TPM, after ${utilisationAfter.toFixed(3)} of ${after.tpm} TPM, new limit used after ${adoptionSeconds} s`,
      );
      return row;
    },
  );
}

/**
 * `two models, one limit`: half the tenants call `MODEL`, half `SECOND_MODEL`, and the upstream
 * counts both against one limit (the simulator's `sharedLimits`; both announce the same limits).
 * Utilisation is both together, and each model's part of the one limit.
 */
export async function twoModelsOneLimit(
  variant: string,
  profile: Profile,
  log: (line: string) => void,
  quietAfter?: Promise<unknown>,
): Promise<SaturationRow[]> {
  const { limits } = profile;
  const { tenants, requests } = profile.saturation;
  const names = Array.from({ length: tenants }, (_, i) => `tenant-${i + 1}`);
  const modelOf = (i: number) => (i < tenants / 2 ? MODEL : SECOND_MODEL);
  const perTenant = Math.ceil(requests / tenants);
  const simulator: SimulatorVariant = { sharedLimits: [[MODEL, SECOND_MODEL]] };
  return eachContender(profile, { limits, simulator, tenants: names }, quietAfter, async (run) => {
    await exhaustQuota(run.sim.url, run.upstreamKey, limits); // the one shared bucket
    const snap = snapshot(run.sim.stats());
    const t0 = Date.now();
    const outcomes = await send(
      run,
      profile,
      names.map((name, i) => ({ name, requests: perTenant, priority: 'batch' as const, model: modelOf(i) })),
    );
    const stats = run.sim.stats();
    const upstream = upstreamSince(snap, stats);
    const steady = steadyUtilisation(upstream.seconds, limits, profile.skipFirst, profile.skipLast);
    const base = baseRow(variant, run, outcomes, upstream, t0);
    const models = [MODEL, SECOND_MODEL].map((model) => {
      const seconds = modelSecondsSince(snap, stats, model, upstream.firstSecond, upstream.seconds.length);
      const own = names.filter((_, i) => modelOf(i) === model);
      return {
        model,
        completed: outcomes.filter((o) => o.ok && own.includes(o.tenant)).length,
        upstream429s: seconds.reduce((a, s) => a + s.rateLimited, 0),
        steadyUtilisation: steadyUtilisation(seconds, limits, profile.skipFirst, profile.skipLast)
          .utilisation,
      };
    });
    const row: SaturationRow = {
      ...base,
      wholeRunUtilisation: base.completed / base.wallSeconds / bindingRate(limits).perSecond,
      steadyUtilisation: steady.utilisation,
      steadySeconds: steady.seconds,
      models,
      ...(run.sut
        ? { goals: { steady: steady.utilisation >= 0.99, rateLimits: base.share429 <= 0.001 } }
        : {}),
    };
    log(
      `saturation ${variant} ${run.contender}: ${row.completed}/${row.requests} completed, ${row.upstream429s} 429s of ${row.upstreamAttempts} attempts, steady ${steady.utilisation.toFixed(3)} of the one limit (${models.map((m) => `${m.model} ${m.steadyUtilisation.toFixed(3)}`).join(', ')})`,
    );
    return row;
  });
}

/**
 * `daily limit`: a TPD whose refill serves twice the interactive stream, with the day already
 * spent but for `secondsToExhaust` of work at the binding limit (the simulator's
 * `dailySpentAtStart`); a batch-class backlog from the usual tenants, and one interactive request
 * every `interactiveEverySeconds` from another. After the daily 429, interactive requests should
 * still be answered, and batch-class work go no faster than the day's refill (Sluice keeps a
 * reserve of the day for interactive traffic, so in a minutes-long run its batch work stops).
 */
export async function dailyLimit(
  variant: string,
  profile: Profile,
  log: (line: string) => void,
  quietAfter?: Promise<unknown>,
): Promise<SaturationRow[]> {
  const { limits } = profile;
  const { tenants } = profile.saturation;
  const { secondsToExhaust, secondsAfter, interactiveEverySeconds } = profile.saturation.dailyLimit;
  const tpd = Math.round((2 * CHARGE * DAY_SECONDS) / interactiveEverySeconds);
  const leftAtStart = Math.round(bindingRate(limits).perSecond * CHARGE * secondsToExhaust);
  // The drain request (one minute's worth of tokens) is charged against the day too.
  const simulator: SimulatorVariant = {
    limits: { default: { ...limits, tpd } },
    dailySpentAtStart: { tokens: tpd - leftAtStart - limits.tpm },
  };
  const refillPerSecond = tpd / DAY_SECONDS / CHARGE;
  const runSeconds = secondsToExhaust + secondsAfter;
  const batchNames = Array.from({ length: tenants }, (_, i) => `tenant-${i + 1}`);
  const interactiveName = 'interactive-tenant';
  const backlog = Math.ceil((2 * bindingRate(limits).perSecond * secondsToExhaust) / tenants) + 50;
  const interactiveCount = Math.floor(runSeconds / interactiveEverySeconds);
  return eachContender(
    profile,
    { limits, simulator, tenants: [...batchNames, interactiveName] },
    quietAfter,
    async (run) => {
      await exhaustQuota(run.sim.url, run.upstreamKey, limits);
      const snap = snapshot(run.sim.stats());
      const dailyBefore = run.sim.stats().rateLimited.daily;
      let exhaustedAt = Number.NaN;
      const watch = setInterval(() => {
        if (Number.isNaN(exhaustedAt) && run.sim.stats().rateLimited.daily > dailyBefore)
          exhaustedAt = Date.now();
      }, 50);
      const t0 = Date.now();
      const deadline = t0 + runSeconds * 1_000;
      let outcomes: Outcome[];
      try {
        outcomes = await send(
          run,
          profile,
          [
            ...batchNames.map((name) => ({ name, requests: backlog, priority: 'batch' as const })),
            {
              name: interactiveName,
              requests: interactiveCount,
              priority: 'interactive' as const,
              ratePerSecond: 1 / interactiveEverySeconds,
            },
          ],
          // The last interactive request is sent just before the deadline: give it time to be answered.
          deadline + 5_000,
        );
      } finally {
        clearInterval(watch);
      }
      const stats = run.sim.stats();
      const upstream = upstreamSince(snap, stats);
      const dailyRateLimited = stats.rateLimited.daily - dailyBefore;
      const exhausted = Number.isFinite(exhaustedAt) ? exhaustedAt : deadline;
      const exhaustedAtSecond = Math.floor((exhausted - t0) / 1000);
      const interactiveAfter = outcomes.filter(
        (o) => o.priority === 'interactive' && o.startedAt >= exhausted,
      );
      const interactiveOk = interactiveAfter.filter((o) => o.ok);
      // Batch answers after the limit was reached (requests already in flight then left out).
      const batchAfter = outcomes.filter(
        (o) => o.priority === 'batch' && o.ok && o.startedAt >= exhausted && o.endedAt <= deadline,
      ).length;
      const secondsAfterExhaustion = Math.max(1, (deadline - exhausted) / 1000);
      const base = baseRow(variant, run, outcomes, upstream, t0);
      const untilExhausted = upstream.seconds
        .slice(profile.skipFirst, exhaustedAtSecond)
        .map((s) => used(s, limits));
      const batchPerSecondAfter = batchAfter / secondsAfterExhaustion;
      const row: SaturationRow = {
        ...base,
        wholeRunUtilisation: base.completed / base.wallSeconds / bindingRate(limits).perSecond,
        steadyUtilisation: mean(untilExhausted),
        steadySeconds: untilExhausted.length,
        daily: {
          tpd,
          leftAtStart,
          refillPerSecond,
          dailyRateLimited,
          exhaustedAtSecond: Number.isFinite(exhaustedAt) ? (exhaustedAt - t0) / 1000 : Number.NaN,
          interactiveAfter: interactiveAfter.length,
          interactiveAnsweredAfter: interactiveOk.length,
          interactiveLatencyP50Ms: percentile(
            interactiveOk.map((o) => o.endedAt - o.startedAt),
            50,
          ),
          batchPerSecondAfter,
          ...(run.sut
            ? {
                goals: {
                  rateLimits: base.upstream429s <= 3,
                  interactive:
                    interactiveAfter.length > 0 && interactiveOk.length === interactiveAfter.length,
                  batch: batchPerSecondAfter <= refillPerSecond,
                },
              }
            : {}),
        },
      };
      log(
        `saturation ${variant} ${run.contender}: ${base.upstream429s} 429s (${dailyRateLimited} daily) of ${base.upstreamAttempts} attempts, day exhausted at ${row.daily!.exhaustedAtSecond.toFixed(1)} s; after it interactive ${interactiveOk.length}/${interactiveAfter.length} answered (p50 ${row.daily!.interactiveLatencyP50Ms.toFixed(0)} ms), batch ${batchPerSecondAfter.toFixed(2)}/s (day's refill ${refillPerSecond.toFixed(2)}/s)`,
      );
      return row;
    },
  );
}
