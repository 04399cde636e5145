// Sums every package's vitest JSON report into one line: "Tests: N passed, N failed".
// `--node <major>` sums only the reports of a run on another Node (`tooling/ci/on-node <major>`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const packages = [
  'apps/broker',
  'apps/console',
  'apps/sdk',
  'libs/events',
  'libs/limiter',
  'libs/openai-simulator',
  'libs/tokenizer',
  'tooling/test-support',
  'tooling/compat',
];
const nodeFlag = process.argv.indexOf('--node');
const onlyNode = nodeFlag === -1 ? undefined : process.argv[nodeFlag + 1];

/** Reports a run on another Node wrote (`test-results/vitest-node<major>.json`), by package. */
function otherNodeReports(pkg) {
  const dir = join(root, pkg, 'test-results');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^vitest-node(\d+)\.json$/.exec(f))
    .filter((m) => m && (onlyNode === undefined || m[1] === onlyNode))
    .map((m) => ({ file: `${pkg}/test-results/${m[0]}`, label: `${pkg} (node ${m[1]})`, required: false }));
}

// Every package's report, plus the fault suite's (`npm run test:faults`), unless only another Node's are asked for.
const reports = [
  ...(onlyNode === undefined
    ? [
        ...packages.map((p) => ({ file: `${p}/test-results/vitest.json`, label: p, required: true })),
        { file: 'apps/broker/test-results/faults.json', label: 'apps/broker (faults)', required: true },
      ]
    : []),
  ...packages.flatMap(otherNodeReports),
];
let passed = 0;
let failed = 0;
let skipped = 0;
// A suite whose setup failed reports its tests as skipped, not failed: count failed suites too (a file and each describe block is a suite).
let failedSuites = 0;
for (const { file: report, label, required } of reports) {
  const file = join(root, report);
  if (!existsSync(file)) {
    if (!required) continue;
    console.log(`${label}: no test report (its tests did not run)`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
  failedSuites += r.numFailedTestSuites;
  const suites = r.numFailedTestSuites ? ` (${r.numFailedTestSuites} failed suites)` : '';
  console.log(`${label}: ${r.numPassedTests} passed, ${r.numFailedTests} failed${suites}`);
}
const suiteNote = failedSuites ? `, ${failedSuites} failed suites` : '';
const scope = onlyNode === undefined ? '' : ` on node ${onlyNode}`;
console.log(
  `Tests${scope}: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${suiteNote}`,
);
process.exit(failed > 0 || failedSuites > 0 || passed === 0 ? 1 : 0);
