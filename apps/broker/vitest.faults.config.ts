import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The fault suite (`npm run test:faults`): real processes killed, Kafka restarted, Postgres cut off.
// It runs alone, after the other tests, because it disturbs shared services.
export default defineConfig({
  test: {
    ...sharedTestConfig.test,
    include: ['src/faults/**/*.fault.test.ts'],
    testTimeout: 300_000,
    outputFile: { json: 'test-results/faults.json' },
  },
});
