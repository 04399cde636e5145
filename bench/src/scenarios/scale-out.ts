import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deleteKafkaNamespace } from '@sluice/events/kafka';
import type { Enforcement, RunningSimulator } from '@sluice/openai-simulator';
import { createTestDatabase, freePort, kafkaBrokers, requireKafka, uniqueName } from '@sluice/test-support';
import { Kafka, logLevel } from 'kafkajs';
import { exhaustQuota, runViaSluice, type SluiceEndpoint, startSimulator } from '../contenders';
import type { Profile } from '../profile';
import { type Second, sleep, snapshot, steadyUtilisation, upstreamSince } from '../workload';

const run = promisify(execFile);
const SLUICE = fileURLToPath(new URL('../../../apps/broker/bin/sluice.mjs', import.meta.url));
const UPSTREAM_KEY = 'sk-bench-scale-out-upstream';
/** One upstream pool per enforcement, so both runs share one set of processes and learn independently. */
const POOLS = [
  { enforcement: 'continuous', pool: 'continuous', model: 'gpt-4o-mini', warmUpModel: 'gpt-4.1-nano' },
  { enforcement: 'quantized', pool: 'quantized', model: 'gpt-4.1-mini', warmUpModel: 'gpt-4.1' },
] as const;

/** `sluice serve` and two `sluice dispatch` processes, ready (the dispatcher group stable with 2 members). */
export interface Deployment {
  endpoint: SluiceEndpoint;
  tenants: string[];
  members: number;
  sims: Map<Enforcement, RunningSimulator>;
  close(): Promise<void>;
}

export interface ScaleOutRow {
  enforcement: string;
  dispatchers: number;
  groupMembers: number;
  requests: number;
  completed: number;
  upstreamAttempts: number;
  upstream429s: number;
  wallSeconds: number;
  steadyUtilisation: number;
  goal: boolean;
  timeline: Second[];
}

/**
 * Production mode as operators run it: `sluice serve` and two `sluice dispatch` processes on Kafka
 * and Postgres, sharing one pool's quota (the dispatchers' group gives the pool's partition to one).
 */
export async function deployScaleOut(profile: Profile): Promise<Deployment> {
  await requireKafka();
  const db = await createTestDatabase('sluice_bench');
  const namespace = uniqueName('bench');
  const sims = new Map<Enforcement, RunningSimulator>();
  const children: ChildProcess[] = [];
  const output: string[] = [];
  const close = async () => {
    await Promise.all(children.map((c) => stop(c)));
    for (const sim of sims.values()) await sim.close();
    await db.drop().catch(() => {});
    await deleteKafkaNamespace(kafkaBrokers(), namespace).catch(() => {});
  };
  try {
    for (const p of POOLS)
      sims.set(p.enforcement, await startSimulator(profile.limits, p.enforcement, profile.latency));
    const poolsFile = join(tmpdir(), `${namespace}-pools.json`);
    writeFileSync(
      poolsFile,
      JSON.stringify({
        pools: POOLS.map((p) => ({
          name: p.pool,
          baseURL: sims.get(p.enforcement)!.url,
          apiKeyEnv: 'BENCH_UPSTREAM_KEY',
          models: [p.model, p.warmUpModel],
        })),
      }),
    );
    const port = await freePort();
    const opsPorts = new Map<string, number>();
    for (const id of ['d1', 'd2']) opsPorts.set(id, await freePort());
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      SLUICE_KAFKA_NAMESPACE: namespace,
      SLUICE_KAFKA_PARTITIONS: '3',
      OPENAI_API_KEY: UPSTREAM_KEY,
      BENCH_UPSTREAM_KEY: UPSTREAM_KEY,
      SLUICE_POOLS_FILE: poolsFile,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };
    const start = (command: string, id?: string) => {
      const child = spawn(process.execPath, [SLUICE, command], {
        // Each dispatcher serves its own /metrics and /readyz: two on one machine need two ports.
        env: {
          ...env,
          ...(id ? { SLUICE_DISPATCHER_ID: id, SLUICE_METRICS_PORT: String(opsPorts.get(id)) } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (chunk: Buffer) => void output.push(`[${id ?? command}] ${chunk.toString().trimEnd()}`);
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      children.push(child);
    };

    await run(process.execPath, [SLUICE, 'migrate'], { env });
    const tenants = new Map<string, { id: string; apiKey: string }>();
    const names = Array.from({ length: profile.saturation.tenants }, (_, i) => `tenant-${i + 1}`);
    await Promise.all(
      names.map(async (name) => {
        const { stdout } = await run(process.execPath, [SLUICE, 'tenants', 'create', name, '--json'], {
          env,
        });
        const t = JSON.parse(stdout) as { tenantId: string; apiKey: string };
        tenants.set(name, { id: t.tenantId, apiKey: t.apiKey });
      }),
    );
    start('serve');
    start('dispatch', 'd1');
    start('dispatch', 'd2');
    const url = `http://127.0.0.1:${port}`;
    const members = await waitUntilReady(url, `${namespace}.sluice-dispatchers`, () => output.join('\n'));
    return { endpoint: { url, tenants }, tenants: names, members, sims, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Production mode as operators run it: `sluice serve` and two `sluice dispatch` processes on Kafka
 * and Postgres, sharing one pool's quota (the dispatchers' group gives the pool's partition to one).
 * The deployment may have been started earlier (its start-up is mostly waiting on Kafka).
 */
export async function scaleOut(
  profile: Profile,
  log: (line: string) => void,
  deployment: Promise<Deployment> = deployScaleOut(profile),
): Promise<ScaleOutRow[]> {
  const d = await deployment;
  try {
    const names = d.tenants;
    // Fresh processes run cold code: warm them up on other models (their own upstream buckets and
    // learned limits), so what is measured is the dispatchers, not the JIT compiler.
    await Promise.all(
      POOLS.map((p) =>
        runViaSluice({
          sut: d.endpoint,
          tenants: names.map((name) => ({
            name,
            requests: Math.ceil(profile.scaleOut.warmUp / names.length),
            model: p.warmUpModel,
            firstIndex: 1_000_000,
          })),
        }),
      ),
    );
    const rows: ScaleOutRow[] = [];
    for (const p of POOLS) {
      const sim = d.sims.get(p.enforcement)!;
      await exhaustQuota(sim.url, UPSTREAM_KEY, profile.limits, p.model);
      const before = snapshot(sim.stats());
      const t0 = Date.now();
      const perTenant = Math.ceil(profile.scaleOut.requests / names.length);
      const outcomes = await runViaSluice({
        sut: d.endpoint,
        tenants: names.map((name) => ({
          name,
          requests: perTenant,
          priority: 'batch' as const,
          model: p.model,
        })),
      });
      const upstream = upstreamSince(before, sim.stats());
      const steady = steadyUtilisation(upstream.seconds, profile.limits, profile.skipFirst, profile.skipLast);
      const completed = outcomes.filter((o) => o.ok).length;
      const row: ScaleOutRow = {
        enforcement: p.enforcement,
        dispatchers: 2,
        groupMembers: d.members,
        requests: outcomes.length,
        completed,
        upstreamAttempts: upstream.attempts,
        upstream429s: upstream.rateLimited,
        wallSeconds: (Math.max(...outcomes.map((o) => o.endedAt)) - t0) / 1000,
        steadyUtilisation: steady.utilisation,
        // ≤ 100 %: the upstream refused (almost) nothing; ≥ 97 % of the limit in steady state.
        goal:
          steady.utilisation >= 0.97 &&
          steady.utilisation <= 1.005 &&
          upstream.rateLimited <= 0.001 * upstream.attempts,
        timeline: upstream.seconds,
      };
      rows.push(row);
      log(
        `scale-out ${p.enforcement}: ${completed}/${outcomes.length} completed by 2 dispatchers, ${upstream.rateLimited} 429s, steady ${steady.utilisation.toFixed(3)} of the limit`,
      );
    }
    return rows;
  } finally {
    await d.close();
  }
}

/** The API answers and both dispatchers have joined their group, with the rebalance over. */
async function waitUntilReady(url: string, group: string, output: () => string): Promise<number> {
  const deadline = Date.now() + 120_000;
  while (
    !(await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline)
      throw new Error(`sluice serve did not become ready\n${output().slice(-4_000)}`);
    await sleep(250);
  }
  const admin = new Kafka({
    clientId: 'bench-probe',
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    for (;;) {
      const { groups } = await admin.describeGroups([group]);
      const g = groups[0];
      if (g?.state === 'Stable' && g.members.length === 2) return g.members.length;
      if (Date.now() > deadline)
        throw new Error(
          `dispatcher group ${group}: ${g?.state} with ${g?.members.length} members\n${output().slice(-4_000)}`,
        );
      await sleep(250);
    }
  } finally {
    await admin.disconnect();
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
