import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The fault suite has its own config (vitest.faults.config.ts, `npm run test:faults`).
export default mergeConfig(
  sharedTestConfig,
  defineConfig({ test: { exclude: [...configDefaults.exclude, 'src/faults/**'] } }),
);
