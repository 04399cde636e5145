import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Readiness } from '../observability/health';

/**
 * The operations endpoints of a process without the API (`sluice dispatch`): /healthz (alive),
 * /readyz (dependencies reachable) and /metrics for Prometheus.
 */
export async function startOpsServer(opts: {
  port: number;
  host: string;
  metrics: Metrics;
  readiness: () => Promise<Readiness>;
  logger: Logger;
}): Promise<{ url: string; close(): Promise<void> }> {
  const app: FastifyInstance = Fastify();
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const r = await opts.readiness();
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ready' : 'degraded', checks: r.checks });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  let url: string;
  try {
    url = await app.listen({ port: opts.port, host: opts.host });
  } catch (error) {
    // Several dispatchers on one host: the first takes the port, the others pick a free one.
    if ((error as { code?: string }).code !== 'EADDRINUSE' || opts.port === 0) throw error;
    url = await app.listen({ port: 0, host: opts.host });
    opts.logger.warn(
      { wanted: opts.port, url },
      'metrics port in use; serving /metrics on a free port instead',
    );
  }
  opts.logger.info({ url }, 'serving /metrics, /healthz and /readyz');
  return { url, close: () => app.close() };
}
