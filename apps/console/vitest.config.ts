import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The browser tests (test/*.e2e.test.ts) start a broker, open one Chromium and share it.
export default mergeConfig(sharedTestConfig, defineConfig({ test: { testTimeout: 60_000 } }));
