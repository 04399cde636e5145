import { ConfigError, loadConfig, type SluiceConfig } from './env';
import { localState } from './local-state';
import { createLogger, type Logger } from './logger';
import { createRuntime, type Role, type Runtime, reachableUrl } from './runtime';

/**
 * Runs Sluice as a long-lived process (`npm start`, `sluice serve`, `sluice dispatch`):
 * starts the runtime, announces what it is doing, and shuts down gracefully on SIGTERM/SIGINT.
 */
export async function runServerProcess(roles: readonly Role[], env = process.env): Promise<void> {
  let config: SluiceConfig;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  if (config.mode === 'embedded') roles = ['api', 'dispatcher']; // PGlite: one process holds the data

  const dataDir =
    config.mode === 'embedded' && 'dataDir' in config.database ? config.database.dataDir : undefined;
  let runtime: Runtime;
  try {
    runtime = await createRuntime(config, {
      roles,
      logger,
      // The key files exist before the API answers: a ready server implies a usable key on disk.
      ...(dataDir ? { beforeListen: (rt: Runtime) => ensureLocalKeys(rt, dataDir) } : {}),
    });
  } catch (error) {
    process.stderr.write(`\nSluice could not start: ${explainStartError(error, config)}\n`);
    logger.debug({ err: error }, 'start failed');
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 45_000);
    force.unref();
    await runtime.close();
    if (dataDir) await localState(dataDir).clearServer();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (dataDir) {
    await announceEmbedded(runtime, config, dataDir, logger);
  } else {
    logger.info(
      {
        roles,
        url: runtime.url,
        log: config.log.kind,
        ...(runtime.url
          ? { console: `${reachableUrl(runtime.url)}/console (log in with an admin or tenant key)` }
          : {}),
      },
      'Sluice started',
    );
    if (runtime.simulator) warnSimulator(runtime, config);
  }
}

/** The embedded install's admin and demo-tenant keys, created on first start, kept in files. */
async function ensureLocalKeys(runtime: Runtime, dataDir: string) {
  const state = localState(dataDir);
  const adminKey = await ensureKey(runtime, await state.readAdminKey(), 'admin', () =>
    runtime.tenants.createAdminKey(),
  );
  if (adminKey.created) await state.writeAdminKey(adminKey.apiKey);
  const demoKey = await ensureKey(runtime, await state.readDemoKey(), 'tenant', async () => {
    const existing = await runtime.tenants.getTenant('demo');
    if (existing) return runtime.tenants.createKey(existing.id);
    return runtime.tenants.createTenant('demo');
  });
  if (demoKey.created) await state.writeDemoKey(demoKey.apiKey);
}

async function announceEmbedded(runtime: Runtime, config: SluiceConfig, dataDir: string, logger: Logger) {
  const state = localState(dataDir);
  await state.writeServer({ url: runtime.url ?? '', pid: process.pid });

  if (runtime.simulator) warnSimulator(runtime, config);
  const url = reachableUrl(runtime.url ?? `http://127.0.0.1:${config.port}`);
  const demoKeyFile = `${state.root}/demo-tenant.key`;
  // Keys are never printed: stdout is where the JSON logs go, and log collection keeps them.
  // The banner names the files that hold them (readable by their owner only) instead.
  const lines = [
    '',
    `  Sluice is running at ${url}  (embedded mode: data in ${state.root})`,
    '',
    `  Demo tenant key:  in ${demoKeyFile}`,
    '',
    '  Try it:',
    `    curl -s ${url}/v1/chat/completions \\`,
    `      -H "Authorization: Bearer $(cat ${demoKeyFile})" -H "Content-Type: application/json" \\`,
    `      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, Sluice"}],"max_tokens":32}'`,
    '',
    `  Or point any OpenAI SDK at baseURL ${url}/v1 with that key.`,
    `  Manage tenants: npm run sluice -- tenants create <name>   ·   Status: npm run sluice -- status`,
    '',
    `  Console: ${url}/console`,
    `    log in with the admin key in ${state.root}/admin.key,`,
    "    or with a tenant key for that tenant's own view. /metrics takes the admin key as a Bearer token.",
    '',
  ];
  // The banner is for the person at the terminal: stderr, apart from the JSON logs on stdout.
  process.stderr.write(`${lines.join('\n')}\n`);
  logger.info({ url }, 'Sluice started');
}

function warnSimulator(runtime: Runtime, config: SluiceConfig) {
  const sim = 'simulator' in config.upstream ? config.upstream.simulator : undefined;
  const bar = '!'.repeat(78);
  process.stderr.write(
    [
      bar,
      '!! OPENAI_API_KEY is not set: Sluice is using its BUILT-IN OPENAI SIMULATOR.',
      `!! Answers are synthetic. Simulated limits: ${sim?.rpm} RPM, ${sim?.tpm} TPM (${runtime.simulator?.url}).`,
      '!! Set OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint) to use the real API.',
      bar,
      '',
    ].join('\n'),
  );
}

async function ensureKey(
  runtime: Runtime,
  stored: string | undefined,
  role: 'admin' | 'tenant',
  create: () => Promise<{ apiKey: string }>,
): Promise<{ apiKey: string; created: boolean }> {
  if (stored) {
    const auth = await runtime.tenants.authenticate(stored);
    if (auth && auth.role === role) return { apiKey: stored, created: false };
  }
  return { apiKey: (await create()).apiKey, created: true };
}

function explainStartError(error: unknown, config: SluiceConfig): string {
  // drizzle wraps the driver's error ("Failed query: …"): the cause says what went wrong.
  const cause = (error as { cause?: unknown }).cause;
  const e = (cause && typeof (cause as { code?: unknown }).code === 'string' ? cause : error) as {
    code?: string;
    message?: string;
  };
  if (e.code === 'EADDRINUSE')
    return `port ${config.port} is already in use. Stop the other process or set PORT.`;
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(e.code ?? '') &&
    'url' in config.database
  ) {
    return 'cannot reach Postgres at DATABASE_URL. Is the server running and the URL right?';
  }
  if (/lock|already in use|Aborted/i.test(e.message ?? '') && 'dataDir' in config.database) {
    return `the data directory ${config.database.dataDir} is in use by another Sluice process (PGlite allows one). Stop it, or set SLUICE_DATA_DIR.`;
  }
  return e.message ?? String(error);
}
