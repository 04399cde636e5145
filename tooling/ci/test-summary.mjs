// Sums every package's vitest JSON report into one line: "Tests: N passed, N failed".
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
// Every package's report, plus the fault suite's (`npm run test:faults`).
const reports = [
  'apps/broker/test-results/vitest.json',
  'apps/broker/test-results/faults.json',
  'apps/sdk/test-results/vitest.json',
  'libs/events/test-results/vitest.json',
  'libs/limiter/test-results/vitest.json',
  'libs/openai-simulator/test-results/vitest.json',
  'tooling/test-support/test-results/vitest.json',
  'tooling/compat/test-results/vitest.json',
];
let passed = 0;
let failed = 0;
let skipped = 0;
// A suite whose setup failed reports its tests as skipped, not failed: count failed suites too (a file and each describe block is a suite).
let failedSuites = 0;
for (const report of reports) {
  const file = join(root, report);
  const dir = report.replace(/\/test-results\/(vitest|faults)\.json$/, (_, kind) =>
    kind === 'faults' ? ' (faults)' : '',
  );
  if (!existsSync(file)) {
    console.log(`${dir}: no test report (its tests did not run)`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
  failedSuites += r.numFailedTestSuites;
  const suites = r.numFailedTestSuites ? ` (${r.numFailedTestSuites} failed suites)` : '';
  console.log(`${dir}: ${r.numPassedTests} passed, ${r.numFailedTests} failed${suites}`);
}
const suiteNote = failedSuites ? `, ${failedSuites} failed suites` : '';
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${suiteNote}`);
process.exit(failed > 0 || failedSuites > 0 || passed === 0 ? 1 : 0);
