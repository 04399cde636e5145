import type { IncomingMessage, ServerResponse } from 'node:http';
import { firstInvalidJsonlLine } from './batch-validation';
import { type BatchEngine, BatchRequestError, type BatchStats } from './batches';
import { type FilePurpose, FileStorageFullError, type FileStore, UPLOAD_PURPOSES } from './files';
import { BodyTooLargeError, readBodyBuffer, readJsonObject, sendError, sendJson } from './internal/http';

/** Who a request acts for: files and batches belong to the owner; `organization` names it in messages. */
export interface Caller {
  owner: string;
  organization: string;
}

/** OpenAI accepts uploads up to 512 MB. */
const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

export function isFilesOrBatchesPath(path: string): boolean {
  return /^\/v1\/(files|batches)(\/|$)/.test(path);
}

/**
 * The HTTP edge of the Files and Batches APIs: parses requests, calls the file store and the batch
 * engine, and answers with OpenAI's objects and error bodies.
 */
export function createFilesAndBatchesRoutes(deps: {
  files: FileStore;
  batches: BatchEngine;
  now: () => number;
  stats: () => BatchStats;
}) {
  const { files, batches } = deps;

  async function handle(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const segments = path.split('/').slice(2).map(decodeURIComponent); // ['files', id?, 'content'?]
    const [resource, id, action] = segments;

    if (resource === 'files') {
      if (!id && method === 'POST') return upload(req, res, caller);
      if (!id && method === 'GET') {
        const order = url.searchParams.get('order') === 'asc' ? 'asc' : 'desc';
        const page = files.list(caller.owner, {
          after: url.searchParams.get('after') ?? undefined,
          limit: pageLimit(url, 10_000, 10_000),
          order,
          purpose: url.searchParams.get('purpose') ?? undefined,
        });
        return sendJson(res, 200, listBody(page));
      }
      if (id && !action && method === 'GET') {
        const file = files.retrieve(caller.owner, id);
        return file ? sendJson(res, 200, file) : noSuchFile(res, id);
      }
      if (id && !action && method === 'DELETE') {
        return files.delete(caller.owner, id)
          ? sendJson(res, 200, { id, object: 'file', deleted: true })
          : noSuchFile(res, id);
      }
      if (id && action === 'content' && method === 'GET') {
        // Batch output appears lazily: bring batches up to date so a just-finished batch's file exists.
        batches.advanceAll();
        const content = files.content(caller.owner, id);
        if (!content) return noSuchFile(res, id);
        res.writeHead(200, { 'content-type': 'application/jsonl', 'content-length': content.length });
        res.end(content);
        return;
      }
    }

    if (resource === 'batches') {
      if (!id && method === 'POST') return createBatch(req, res, caller);
      if (!id && method === 'GET') {
        const page = batches.list(caller.owner, {
          after: url.searchParams.get('after') ?? undefined,
          limit: pageLimit(url, 20, 100),
        });
        return sendJson(res, 200, listBody(page));
      }
      if (id && !action && method === 'GET') {
        const batch = batches.retrieve(caller.owner, id);
        return batch ? sendJson(res, 200, batch) : noSuchBatch(res, id);
      }
      if (id && action === 'cancel' && method === 'POST') {
        try {
          const batch = batches.cancel(caller.owner, id);
          return batch ? sendJson(res, 200, batch) : noSuchBatch(res, id);
        } catch (error) {
          return batchRequestError(res, error);
        }
      }
    }
    return sendError(res, 404, `Unknown endpoint ${method} ${path}`, 'invalid_request_error', 'unknown_url');
  }

  async function upload(req: IncomingMessage, res: ServerResponse, caller: Caller) {
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data')) {
      return sendError(
        res,
        400,
        'Files must be uploaded as multipart/form-data with the fields `purpose` and `file`.',
        'invalid_request_error',
        null,
      );
    }
    let form: FormData;
    try {
      const body = await readBodyBuffer(req, MAX_UPLOAD_BYTES);
      // Node's own fetch implementation parses multipart bodies; no extra dependency needed.
      form = await new Request('http://simulator/upload', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: new Uint8Array(body),
      }).formData();
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return sendError(
          res,
          413,
          `File is too large; the maximum upload size is ${MAX_UPLOAD_BYTES} bytes.`,
          'invalid_request_error',
          'file_too_large',
          'file',
        );
      }
      return sendError(
        res,
        400,
        'Could not parse the multipart/form-data body.',
        'invalid_request_error',
        null,
      );
    }
    const purpose = form.get('purpose');
    if (typeof purpose !== 'string' || !purpose) {
      return sendError(
        res,
        400,
        "Missing required parameter: 'purpose'.",
        'invalid_request_error',
        'missing_required_parameter',
        'purpose',
      );
    }
    if (!UPLOAD_PURPOSES.includes(purpose)) {
      return sendError(
        res,
        400,
        `Invalid value for 'purpose': '${purpose}'. Supported values are: ${UPLOAD_PURPOSES.map((p) => `'${p}'`).join(', ')}.`,
        'invalid_request_error',
        'invalid_value',
        'purpose',
      );
    }
    const file = form.get('file');
    if (!file || typeof file === 'string') {
      return sendError(
        res,
        400,
        "Missing required parameter: 'file'.",
        'invalid_request_error',
        'missing_required_parameter',
        'file',
      );
    }
    const content = Buffer.from(await file.arrayBuffer());
    if (purpose === 'batch') {
      const bad = firstInvalidJsonlLine(content.toString('utf8'));
      if (bad !== null) {
        return sendError(
          res,
          400,
          `Invalid file format for Batch API. Must be .jsonl: line ${bad} is not a JSON object.`,
          'invalid_request_error',
          'invalid_file_format',
          'file',
        );
      }
    }
    try {
      const created = files.upload(caller.owner, {
        filename: file.name || 'upload',
        purpose: purpose as FilePurpose,
        content,
        createdSeconds: Math.floor(deps.now() / 1000),
      });
      deps.stats().filesUploaded++;
      return sendJson(res, 200, created);
    } catch (error) {
      if (error instanceof FileStorageFullError) {
        return sendError(
          res,
          400,
          `File storage limit of ${error.limitBytes} bytes reached; delete files before uploading more.`,
          'invalid_request_error',
          'storage_limit_exceeded',
          'file',
        );
      }
      throw error;
    }
  }

  async function createBatch(req: IncomingMessage, res: ServerResponse, caller: Caller) {
    const params = await readJsonObject(req, res);
    if (!params) return;
    try {
      return sendJson(res, 200, batches.create(caller.owner, caller.organization, params));
    } catch (error) {
      return batchRequestError(res, error);
    }
  }

  return { handle };
}

function batchRequestError(res: ServerResponse, error: unknown) {
  if (!(error instanceof BatchRequestError)) throw error;
  return sendError(res, error.status, error.message, 'invalid_request_error', error.code, error.param);
}

function pageLimit(url: URL, fallback: number, max: number): number {
  const raw = Number(url.searchParams.get('limit') ?? fallback);
  return Number.isFinite(raw) ? Math.min(max, Math.max(1, Math.floor(raw))) : fallback;
}

function listBody<T extends { id: string }>(page: { data: T[]; has_more: boolean }) {
  return {
    object: 'list',
    data: page.data,
    first_id: page.data[0]?.id ?? null,
    last_id: page.data[page.data.length - 1]?.id ?? null,
    has_more: page.has_more,
  };
}

function noSuchFile(res: ServerResponse, id: string) {
  return sendError(res, 404, `No such File object: ${id}`, 'invalid_request_error', null, 'id');
}

function noSuchBatch(res: ServerResponse, id: string) {
  return sendError(res, 404, `No such Batch object: ${id}`, 'invalid_request_error', null, 'id');
}
