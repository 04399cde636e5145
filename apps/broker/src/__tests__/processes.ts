import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.mjs', import.meta.url));

/** A real `sluice` process (serve, dispatch) whose output is kept for failure messages. */
export interface SluiceProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts and tracks `sluice` processes; `output()` tells what they printed, `stopAll()` kills what is left. */
export function createProcessGroup(baseEnv: NodeJS.ProcessEnv) {
  const output: string[] = [];
  const live = new Set<SluiceProcess>();

  function start(name: string, args: string[], env: Record<string, string> = {}): SluiceProcess {
    const child = spawn(process.execPath, [SLUICE_BIN, ...args], {
      env: { ...baseEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      output.push(`[${name}] ${chunk.toString().trimEnd()}`);
      if (output.length > 2_000) output.splice(0, output.length - 2_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        output.push(`[${name}] exited code=${code} signal=${signal}`);
        live.delete(p);
        resolve({ code, signal });
      }),
    );
    const p: SluiceProcess = {
      name,
      child,
      exited,
      kill(signal = 'SIGKILL') {
        child.kill(signal);
        return exited;
      },
    };
    live.add(p);
    return p;
  }

  return {
    start,
    /** Runs a CLI command to completion (migrate, tenants create, status …). */
    async cli(args: string[], env: Record<string, string> = {}) {
      return run(process.execPath, [SLUICE_BIN, ...args], { env: { ...baseEnv, ...env } });
    },
    output: (tail = 8_000) => output.join('\n').slice(-tail),
    async stopAll() {
      await Promise.all([...live].map((p) => p.kill('SIGKILL')));
    },
  };
}

/** Polls until `check` holds, or fails with what the processes printed. */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; output?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${opts.output?.() ?? ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

export async function waitReady(url: string, output?: () => string, timeoutMs = 60_000): Promise<void> {
  await until(`${url}/readyz`, async () => (await fetch(`${url}/readyz`)).ok, {
    timeoutMs,
    ...(output ? { output } : {}),
  });
}
