import OpenAI from 'openai';
import type { Logger } from '../logger';
import type { PoolConfig } from './pools';

/** Models any OpenAI-compatible upstream is assumed to serve when its /v1/models cannot be read. */
const FALLBACK_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-5',
  'gpt-5-mini',
  'o3',
  'o4-mini',
  'gpt-4',
  'gpt-3.5-turbo',
  'gpt-3.5-turbo-instruct',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'text-embedding-ada-002',
  'omni-moderation-latest',
  'text-moderation-latest',
];

export interface ModelEntry {
  id: string;
  pool: string;
  ownedBy: string;
  created: number;
}

export interface ModelCatalog {
  refresh(): Promise<void>;
  get(model: string): ModelEntry | undefined;
  list(): ModelEntry[];
}

/**
 * The models Sluice accepts: the union of what each pool's /v1/models lists (or its configured
 * `models`). An unknown model is refused at the edge with 404, as OpenAI does.
 */
export function createModelCatalog(pools: readonly PoolConfig[], logger: Logger): ModelCatalog {
  let entries = new Map<string, ModelEntry>();
  const created = Math.floor(Date.now() / 1000);
  return {
    async refresh() {
      const next = new Map<string, ModelEntry>();
      for (const pool of pools) {
        let ids = pool.models;
        if (!ids) {
          try {
            const client = new OpenAI({
              apiKey: pool.apiKey,
              ...(pool.baseURL ? { baseURL: pool.baseURL } : {}),
              maxRetries: 1,
              timeout: 10_000,
            });
            ids = [];
            for await (const m of client.models.list()) ids.push(m.id);
          } catch (error) {
            logger.warn(
              { pool: pool.name, err: error },
              'could not list upstream models; using the built-in list',
            );
            ids = FALLBACK_MODELS;
          }
        }
        for (const id of ids)
          if (!next.has(id)) next.set(id, { id, pool: pool.name, ownedBy: 'sluice', created });
      }
      entries = next;
    },
    get: (model) => entries.get(model),
    list: () => [...entries.values()],
  };
}
