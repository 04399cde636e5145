import { randomBytes } from 'node:crypto';

export type FilePurpose =
  | 'assistants'
  | 'assistants_output'
  | 'batch'
  | 'batch_output'
  | 'fine-tune'
  | 'fine-tune-results'
  | 'vision'
  | 'user_data'
  | 'evals';

export const UPLOAD_PURPOSES: readonly string[] = [
  'assistants',
  'batch',
  'fine-tune',
  'vision',
  'user_data',
  'evals',
];

/** OpenAI's `file` object (the openai SDK's `FileObject`). */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: FilePurpose;
  status: 'uploaded' | 'processed' | 'error';
  expires_at?: number;
  status_details?: string | null;
}

interface StoredFile {
  owner: string;
  meta: FileObject;
  content: Buffer;
  /** Insertion order, the tie-break of list order when files share a second. */
  seq: number;
}

const BATCH_FILE_TTL_SECONDS = 30 * 24 * 3600;

export class FileStorageFullError extends Error {
  constructor(readonly limitBytes: number) {
    super(`file storage of ${limitBytes} bytes is full`);
    this.name = 'FileStorageFullError';
  }
}

/**
 * The in-memory Files store, partitioned by owner (an organisation or an API key) so one owner never
 * sees another's files. Uploads are refused past `maxStoredBytes`. Files the simulator writes itself
 * (batch output and error files) are always accepted; to stay bounded, the oldest such files are
 * forgotten once the store is over its size (with the default 1 GiB, only long benchmark runs get there).
 */
export function createFileStore(options: { maxStoredBytes: number }) {
  const files = new Map<string, StoredFile>();
  let storedBytes = 0;
  let seq = 0;

  function put(
    owner: string,
    input: { filename: string; purpose: FilePurpose; content: Buffer; createdSeconds: number },
    { generated }: { generated: boolean },
  ): FileObject {
    if (!generated && storedBytes + input.content.length > options.maxStoredBytes) {
      throw new FileStorageFullError(options.maxStoredBytes);
    }
    const meta: FileObject = {
      id: `file-${randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 22)}`,
      object: 'file',
      bytes: input.content.length,
      created_at: input.createdSeconds,
      filename: input.filename,
      purpose: input.purpose,
      status: 'processed',
      status_details: null,
    };
    if (input.purpose === 'batch' || input.purpose === 'batch_output') {
      meta.expires_at = input.createdSeconds + BATCH_FILE_TTL_SECONDS;
    }
    files.set(meta.id, { owner, meta, content: input.content, seq: seq++ });
    storedBytes += input.content.length;
    if (generated) evictOldOutputs(meta.id);
    return meta;
  }

  function evictOldOutputs(keep: string) {
    for (const [id, f] of files) {
      if (storedBytes <= options.maxStoredBytes) return;
      if (id === keep || f.meta.purpose !== 'batch_output') continue;
      files.delete(id);
      storedBytes -= f.content.length;
    }
  }

  function get(owner: string, id: string): StoredFile | undefined {
    const f = files.get(id);
    return f && f.owner === owner ? f : undefined;
  }

  return {
    upload: (
      owner: string,
      input: { filename: string; purpose: FilePurpose; content: Buffer; createdSeconds: number },
    ) => put(owner, input, { generated: false }),
    /** A file the simulator produced (batch output/error): never refused. */
    write: (
      owner: string,
      input: { filename: string; purpose: FilePurpose; content: Buffer; createdSeconds: number },
    ) => put(owner, input, { generated: true }),
    retrieve: (owner: string, id: string): FileObject | undefined => get(owner, id)?.meta,
    content: (owner: string, id: string): Buffer | undefined => get(owner, id)?.content,
    delete(owner: string, id: string): boolean {
      const f = get(owner, id);
      if (!f) return false;
      files.delete(id);
      storedBytes -= f.content.length;
      return true;
    },
    /** Cursor page like OpenAI's: `after` is the id of the last file of the previous page. */
    list(
      owner: string,
      query: { after?: string; limit: number; order: 'asc' | 'desc'; purpose?: string },
    ): { data: FileObject[]; has_more: boolean } {
      const mine = [...files.values()]
        .filter((f) => f.owner === owner && (!query.purpose || f.meta.purpose === query.purpose))
        .sort((a, b) => (query.order === 'asc' ? a.seq - b.seq : b.seq - a.seq));
      const start = query.after ? mine.findIndex((f) => f.meta.id === query.after) + 1 : 0;
      const page = mine.slice(start, start + query.limit);
      return { data: page.map((f) => f.meta), has_more: start + page.length < mine.length };
    },
    storedBytes: () => storedBytes,
  };
}

export type FileStore = ReturnType<typeof createFileStore>;
