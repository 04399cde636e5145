import { defineConfig } from 'vitest/config';

/**
 * One vitest setup for every package. Tiers live in the file name:
 * `*.unit.test.ts` (pure, ms), `*.int.test.ts` (real Postgres/Kafka/PGlite), `*.e2e.test.ts` (processes).
 */
export const sharedTestConfig = defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests share one Kafka and one Postgres server on a 2-core box: run files one at a time.
    fileParallelism: false,
    // The JSON report feeds the one-line summary `.ci/run` prints across packages.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
