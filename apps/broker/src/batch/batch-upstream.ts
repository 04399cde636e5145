import type { Endpoint } from '@sluice/events';
import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { scrubSecrets } from '../logger';
import type { PoolConfig } from '../upstream/pools';
import { openaiClientsByPool } from '../upstream/upstream-client';
import type { BatchFailure } from './batch-outcomes';

/** What Sluice needs to know of an upstream batch. */
export interface UpstreamBatchInfo {
  id: string;
  status: Batch['status'];
  outputFileId: string | null;
  errorFileId: string | null;
  /** Why the batch failed as a whole (its first `errors.data` entry), if it did. */
  failure: BatchFailure | null;
}

/** The Batch API refused a call (as opposed to not answering): `status` and `code` say why. */
export class BatchApiError extends Error {
  override readonly name = 'BatchApiError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | null,
  ) {
    super(message);
  }
}

export interface BatchUpstream {
  uploadInput(pool: string, jsonl: string, localId: string): Promise<string>;
  create(pool: string, endpoint: Endpoint, inputFileId: string, localId: string): Promise<UpstreamBatchInfo>;
  retrieve(pool: string, batchId: string): Promise<UpstreamBatchInfo>;
  /** The batch created for `localId` (its `metadata.sluice_batch`), among the newest `scan` batches. */
  findByLocalId(pool: string, localId: string, scan?: number): Promise<UpstreamBatchInfo | undefined>;
  fileText(pool: string, fileId: string): Promise<string>;
}

/** The metadata key naming Sluice's own id of a batch upstream. */
export const LOCAL_ID_METADATA_KEY = 'sluice_batch';

/**
 * The Files and Batches APIs through the official openai SDK, one client per pool (its own retries
 * off, as for chat: the poller retries on its own schedule).
 */
export function createBatchUpstream(pools: readonly PoolConfig[]): BatchUpstream {
  const clients = openaiClientsByPool(pools);
  function client(pool: string): OpenAI {
    const c = clients.get(pool);
    if (!c) throw new BatchApiError(`no upstream pool named ${pool}`, 404, null);
    return c;
  }
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof OpenAI.APIError && error.status !== undefined) {
        const body = error.error as { code?: string; message?: string } | undefined;
        throw new BatchApiError(
          scrubSecrets(body?.message ?? error.message),
          error.status,
          (typeof error.code === 'string' ? error.code : undefined) ?? body?.code ?? null,
        );
      }
      throw error instanceof Error ? new Error(scrubSecrets(error.message)) : error;
    }
  }
  return {
    uploadInput: (pool, jsonl, localId) =>
      call(async () => {
        const file = await client(pool).files.create({
          file: await toFile(Buffer.from(jsonl, 'utf8'), `${localId}.jsonl`, { type: 'application/jsonl' }),
          purpose: 'batch',
        });
        return file.id;
      }),
    create: (pool, endpoint, inputFileId, localId) =>
      call(async () =>
        infoOf(
          await client(pool).batches.create({
            input_file_id: inputFileId,
            endpoint,
            completion_window: '24h',
            metadata: { [LOCAL_ID_METADATA_KEY]: localId },
          }),
        ),
      ),
    retrieve: (pool, batchId) => call(async () => infoOf(await client(pool).batches.retrieve(batchId))),
    findByLocalId: (pool, localId, scan = 1_000) =>
      call(async () => {
        let seen = 0;
        for await (const b of client(pool).batches.list({ limit: 100 })) {
          if (b.metadata?.[LOCAL_ID_METADATA_KEY] === localId) return infoOf(b);
          if (++seen >= scan) break;
        }
        return undefined;
      }),
    fileText: (pool, fileId) => call(async () => (await client(pool).files.content(fileId)).text()),
  };
}

function infoOf(b: Batch): UpstreamBatchInfo {
  const first = b.errors?.data?.[0];
  return {
    id: b.id,
    status: b.status,
    outputFileId: b.output_file_id ?? null,
    errorFileId: b.error_file_id ?? null,
    failure: first ? { code: first.code ?? null, message: first.message ?? '' } : null,
  };
}
