import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@sluice/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { createProcessGroup, until, waitReady } from './__tests__/processes';

// `sluice serve` as an operator starts it: what it prints, and what it says when it cannot start.
describe('sluice serve start-up', () => {
  const dirs: string[] = [];
  const groups: Array<ReturnType<typeof createProcessGroup>> = [];
  afterAll(async () => {
    await Promise.all(groups.map((g) => g.stopAll()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }, 60_000);

  it('prints no key (stdout is where the JSON logs go): it names the files that hold them', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-start-up-'));
    dirs.push(dataDir);
    const port = await freePort();
    const procs = createProcessGroup({
      PATH: process.env.PATH,
      SLUICE_DATA_DIR: dataDir,
      PORT: String(port),
    });
    groups.push(procs);
    procs.start('serve', ['serve']);
    await waitReady(`http://127.0.0.1:${port}`, () => procs.output());
    // A ready server implies the key files: they are written before the API listens.
    expect(existsSync(join(dataDir, 'demo-tenant.key'))).toBe(true);
    expect(existsSync(join(dataDir, 'admin.key'))).toBe(true);
    // The banner comes just after listening.
    await until('the start banner', async () => procs.output(1_000_000).includes('"msg":"Sluice started"'), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const demoKey = (await readFile(join(dataDir, 'demo-tenant.key'), 'utf8')).trim();
    const adminKey = (await readFile(join(dataDir, 'admin.key'), 'utf8')).trim();
    const printed = procs.output(1_000_000);
    expect(printed).toContain(`${dataDir}/demo-tenant.key`);
    expect(printed).toMatch(/"msg":"Sluice started"/);
    expect(printed).not.toContain(demoKey);
    expect(printed).not.toContain(adminKey);
  }, 120_000);

  it('says Postgres is unreachable at DATABASE_URL, not which query failed', async () => {
    const procs = createProcessGroup({
      PATH: process.env.PATH,
      DATABASE_URL: `postgres://127.0.0.1:${await freePort()}/sluice`,
      PORT: String(await freePort()),
    });
    groups.push(procs);
    const exit = await procs.start('serve', ['serve']).exited;
    expect(exit.code).toBe(1);
    expect(procs.output()).toMatch(/cannot reach Postgres at DATABASE_URL/);
    expect(procs.output()).not.toMatch(/Failed query/);
  }, 120_000);
});
