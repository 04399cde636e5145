#!/usr/bin/env node
// The `sluice` command: runs the TypeScript CLI through tsx (Sluice ships its sources, not a build).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
