// npm run bench [-- --quick] [--only saturation,priority,fairness,overhead,scale-out,cost,tiers,embeddings,mixed] [--variants "limit change,daily limit"] [--publish]
// (--publish also writes the reference report to docs/benchmark-report.md; --render only re-renders out/summary.json)
// One run, one machine: Sluice against the official openai SDK called directly, on the project's simulator.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promptTokens } from '@sluice/openai-simulator';
import { closed } from './contenders';
import { PROFILES } from './profile';
import { charts, goals, markdown, type Summary, tables } from './report';
import { cost, deployCost, tierCost } from './scenarios/cost';
import { fairness } from './scenarios/fairness';
import { embeddingsSaturation, mixed, sharedQuota } from './scenarios/operations';
import { overhead } from './scenarios/overhead';
import { priority } from './scenarios/priority';
import { saturation, selectVariants } from './scenarios/saturation';
import { deployScaleOut, scaleOut } from './scenarios/scale-out';
import { streaming } from './scenarios/streaming';

const SCENARIOS = [
  'saturation',
  'priority',
  'fairness',
  'overhead',
  'scale-out',
  'cost',
  'tiers',
  'embeddings',
  'mixed',
  'shared-quota',
  'streaming',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const args = process.argv.slice(2);
const profile = PROFILES[args.includes('--quick') ? 'quick' : 'full'];
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = (onlyArg?.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf('--only') + 1])
  ?.split(',')
  .map((s) => s.trim());
const selected = SCENARIOS.filter((s) => !onlyArg || only?.includes(s));
// Saturation variants by name (`--variants "limit change,daily limit"` or BENCH_VARIANTS); unknown names fail here.
const variantsArg = args.find((a) => a.startsWith('--variants'));
const variants = selectVariants(
  variantsArg
    ? variantsArg.includes('=')
      ? variantsArg.slice(variantsArg.indexOf('=') + 1)
      : args[args.indexOf('--variants') + 1]
    : process.env.BENCH_VARIANTS,
);
const outDir = fileURLToPath(new URL('../out/', import.meta.url));
const root = new URL('../../', import.meta.url);

const started = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
// --render re-writes the report and charts from an existing summary.json, without running anything.
const summary = args.includes('--render')
  ? (JSON.parse(readFileSync(`${outDir}summary.json`, 'utf8')) as Summary)
  : await runScenarios();
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const svgs = charts(summary);
for (const [file, svg] of svgs) writeFileSync(`${outDir}${file}`, svg);
writeFileSync(`${outDir}summary.json`, `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(`${outDir}report.md`, markdown(summary, [...svgs.keys()], './'));
if (args.includes('--publish')) {
  // The reference report under docs/, its charts next to it.
  const docs = fileURLToPath(new URL('docs/', root));
  mkdirSync(`${docs}benchmark-report`, { recursive: true });
  for (const [file, svg] of svgs) writeFileSync(`${docs}benchmark-report/${file}`, svg);
  writeFileSync(`${docs}benchmark-report.md`, markdown(summary, [...svgs.keys()], 'benchmark-report/'));
}
console.log(`\n${tables(summary).join('\n\n')}\n\n### Goals\n\n${goals(summary)}\n`);
log(
  `wrote ${outDir}summary.json, report.md and ${svgs.size} charts; the run took ${summary.wallSeconds.toFixed(0)} s`,
);
process.exit(summary.errors.length > 0 ? 1 : 0);

async function runScenarios(): Promise<Summary> {
  const summary: Summary = {
    profile,
    machine: machine(),
    startedAt: new Date(started).toISOString(),
    wallSeconds: 0,
    errors: [],
  };
  log(
    `Sluice benchmark, ${profile.name} run: ${selected.join(', ')}${variantsArg || process.env.BENCH_VARIANTS ? ` (saturation variants: ${variants.map((v) => v.name).join('; ')})` : ''}`,
  );
  // The simulator loads its tokenizer on its first answer (a second or more, blocking); load it now so
  // no run's quota refills meanwhile.
  promptTokens('gpt-4o-mini', [{ role: 'user', content: 'warm up' }]);

  // The scale-out processes start now: their start-up is mostly waiting on Kafka and overlaps the other scenarios.
  const deployment = selected.includes('scale-out') ? deployScaleOut(profile) : undefined;
  deployment?.catch(() => {});
  // The cost scenario's Sluice starts with the scale-out scenario, whose Sluice runs in other processes and
  // is bound by the upstream: started earlier, its idle Kafka consumers slowed the in-process measurements.
  let costDeployment: ReturnType<typeof deployCost> | undefined;
  const deployCostOnce = () => {
    costDeployment ??= deployCost(profile);
    costDeployment.catch(() => {});
    return costDeployment;
  };
  const runners: Record<Scenario, () => Promise<void>> = {
    saturation: async () => {
      summary.saturation = await saturation(profile, log, deployment, variants);
    },
    priority: async () => {
      summary.priority = await priority(profile, log);
    },
    fairness: async () => {
      summary.fairness = await fairness(profile, log);
    },
    overhead: async () => {
      summary.overhead = await overhead(profile, log);
    },
    'scale-out': async () => {
      if (selected.includes('cost')) deployCostOnce();
      summary.scaleOut = await scaleOut(profile, log, deployment);
    },
    cost: async () => {
      summary.cost = await cost(profile, log, deployCostOnce());
    },
    tiers: async () => {
      summary.tiers = await tierCost(profile, log);
    },
    embeddings: async () => {
      summary.operations = [...(summary.operations ?? []), ...(await embeddingsSaturation(profile, log))];
    },
    mixed: async () => {
      summary.operations = [...(summary.operations ?? []), ...(await mixed(profile, log))];
    },
    'shared-quota': async () => {
      summary.operations = [...(summary.operations ?? []), ...(await sharedQuota(profile, log))];
    },
    streaming: async () => {
      summary.streaming = await streaming(profile, log);
    },
  };
  for (const s of selected) {
    try {
      await runners[s]();
    } catch (error) {
      // One broken scenario must not hide the others' figures; the report says it did not complete.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`${s} failed: ${message}`);
      summary.errors.push({ scenario: s, message: message.split('\n')[0] ?? message });
    }
  }
  await closed();
  summary.wallSeconds = (Date.now() - started) / 1000;
  // A shared machine changes the CPU-bound figures (Sluice's), not the upstream-bound ones: say how busy it was.
  summary.machine['load average at the end (1/5/15 min)'] = loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  summary.machine['benchmark process CPU (s)'] = Math.round(
    (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  );

  return summary;
}

function machine(): Record<string, string | number> {
  const version = (pkg: string) => {
    try {
      return (
        JSON.parse(readFileSync(new URL(`node_modules/${pkg}/package.json`, root), 'utf8')) as {
          version: string;
        }
      ).version;
    } catch {
      return 'unknown';
    }
  };
  let kafka = 'unknown';
  try {
    const jar = readdirSync(new URL('infra/kafka/lib/', root)).find((f) => /^kafka-clients-.+\.jar$/.test(f));
    if (jar) kafka = jar.replace(/^kafka-clients-|\.jar$/g, '');
  } catch {}
  return {
    cpus: cpus().length,
    'load average at the start (1/5/15 min)': loadavg()
      .map((l) => l.toFixed(1))
      .join(' / '),
    'cpu model': cpus()[0]?.model ?? 'unknown',
    'memory (GiB)': Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    kafka,
    openai: version('openai'),
    kafkajs: version('kafkajs'),
    '@sluice/broker': version('@sluice/broker'),
    '@sluice/limiter': version('@sluice/limiter'),
    '@sluice/openai-simulator': version('@sluice/openai-simulator'),
  };
}
