import { SluiceError } from '@sluice/events';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../services';

type Tenant = (req: FastifyRequest) => Promise<{ tenantId: string }>;
type ById = { Params: { id: string }; Querystring: Record<string, string | string[]> };

/** A response id as OpenAI writes them (`resp_…`); anything else is refused naming the parameter. */
function responseIdOf(req: FastifyRequest<ById>): string {
  const id = req.params.id;
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(id))
    throw new SluiceError(
      'invalid_request',
      `Invalid 'response_id': '${id.slice(0, 64)}'. Expected an ID that contains letters, numbers, underscores, or dashes.`,
      { details: { param: 'response_id' } },
    );
  return id;
}

/** Query parameters as given (`include[]=…` arrives as `include[]`), passed on to the owning pool. */
function queryOf(req: FastifyRequest<ById>): Record<string, string | string[]> {
  return { ...(req.query ?? {}) };
}

/**
 * The Responses API's routes besides `POST /v1/responses` (which is the registry's, like every
 * operation's): retrieve, cancel, delete and input items — each for the tenant that created the
 * response, a 404 for everyone else.
 */
export function registerResponsesRoutes(app: FastifyInstance, services: Services, tenant: Tenant): void {
  app.get<ById>('/v1/responses/:id', async (req, reply) => {
    const { tenantId } = await tenant(req);
    return reply.send(await services.responses.retrieve(tenantId, responseIdOf(req), queryOf(req)));
  });
  app.post<ById>('/v1/responses/:id/cancel', async (req, reply) => {
    const { tenantId } = await tenant(req);
    return reply.send(await services.responses.cancel(tenantId, responseIdOf(req)));
  });
  app.delete<ById>('/v1/responses/:id', async (req, reply) => {
    const { tenantId } = await tenant(req);
    return reply.send(await services.responses.remove(tenantId, responseIdOf(req)));
  });
  app.get<ById>('/v1/responses/:id/input_items', async (req, reply) => {
    const { tenantId } = await tenant(req);
    return reply.send(await services.responses.inputItems(tenantId, responseIdOf(req), queryOf(req)));
  });
}
