import { randomBytes } from 'node:crypto';
import { type BatchError, type BatchInputLine, validateBatchInput } from './batch-validation';
import type { EndpointSession, SimulatedEndpoint } from './endpoint';
import type { FileStore } from './files';
import { seededRandom, shuffledIndices } from './internal/seeded-random';

export interface BatchOptions {
  /** Creation → `completed` for a batch that runs to the end (default 200 ms), on the simulator's clock. */
  completionDelayMs?: number;
  /** A batch not finished this long after creation becomes `expired` (OpenAI: the 24 h window; default 24 h). */
  expireAfterMs?: number;
  /** Fraction of lines that end in the error file with a 500. */
  lineErrorRate?: number;
  /** Per model (or `default`): tokens of unfinished batches allowed per organisation; unset = unlimited. */
  enqueuedTokenLimit?: Record<string, number>;
  /** Requests per input file (OpenAI: 50,000). Lower it in tests. */
  maxLinesPerBatch?: number;
  /** Bytes per input file (OpenAI: 200 MB). */
  maxInputBytes?: number;
  /** Batches kept in memory; the oldest finished ones are forgotten past this. */
  maxBatches?: number;
}

export interface BatchStats {
  filesUploaded: number;
  batchesCreated: number;
  batchesCompleted: number;
  batchesFailed: number;
  batchesExpired: number;
  batchesCancelled: number;
  linesOk: number;
  linesErrored: number;
  promptTokens: number;
  completionTokens: number;
}

export function emptyBatchStats(): BatchStats {
  return {
    filesUploaded: 0,
    batchesCreated: 0,
    batchesCompleted: 0,
    batchesFailed: 0,
    batchesExpired: 0,
    batchesCancelled: 0,
    linesOk: 0,
    linesErrored: 0,
    promptTokens: 0,
    completionTokens: 0,
  };
}

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** OpenAI's `batch` object (the openai SDK's `Batch`); unset fields are null as OpenAI sends them. */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  model: string | null;
  errors: { object: 'list'; data: BatchError[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
  metadata: Record<string, string> | null;
}

/** Why a batch could not be created at all: an HTTP error at the edge, in OpenAI's shape. */
export class BatchRequestError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message);
    this.name = 'BatchRequestError';
  }
}

const DEFAULTS = {
  completionDelayMs: 200,
  expireAfterMs: 24 * 3600 * 1000,
  lineErrorRate: 0,
  maxLinesPerBatch: 50_000,
  maxInputBytes: 200 * 1024 * 1024,
  maxBatches: 10_000,
} as const;

const TERMINAL: ReadonlySet<BatchStatus> = new Set(['failed', 'completed', 'expired', 'cancelled']);

/** When each phase of one batch ends, fixed at creation from the options then in force (epoch ms). */
interface BatchSchedule {
  validatedMs: number;
  linesDoneMs: number;
  completeMs: number;
  expiresMs: number;
  /** Set by cancel: when `cancelling` becomes `cancelled`. */
  cancelledMs: number | null;
}

interface BatchRecord {
  owner: string;
  seq: number;
  batch: BatchObject;
  schedule: BatchSchedule;
  /** Decided at creation (so concurrent batches see each other's enqueued tokens in creation order), shown once validation ends. */
  failure: BatchError[] | null;
  lines: BatchInputLine[];
  /** Processing order: a seeded shuffle, which is also the order of the output file. */
  order: number[];
  processed: number;
  /** Random per batch; line ids append a counter (ids only need to be unique, and this is cheap). */
  idBase: string;
  enqueuedTokens: number;
  outputLines: string[];
  errorLines: string[];
}

const sec = (ms: number) => Math.floor(ms / 1000);

/** Lines run per background step before yielding the event loop (tokenising ~50 µs a line). */
const LINES_PER_STEP = 500;
const PUMP_INTERVAL_MS = 20;

/**
 * The Batch API's engine: batches, their lifecycle on the simulator's clock, and their results.
 * State advances lazily — every call first brings all unfinished batches up to `now()` — so a
 * polling client sees `validating → in_progress → finalizing → completed` with growing
 * `request_counts`, without background timers to leak.
 */
export function createBatchEngine(deps: {
  /** The endpoints a batch may name; each line runs through its endpoint's refusals and answer. */
  endpoints: readonly SimulatedEndpoint[];
  files: FileStore;
  now: () => number;
  seed: number;
  defaultMaxTokens: number;
  options: BatchOptions;
  stats: () => BatchStats;
  /** The simulator instance as the owner's calls see it: a line may continue a stored response. */
  session?: (owner: string) => EndpointSession;
}) {
  let options: BatchOptions = { ...deps.options };
  // Its own RNG, so batch traffic does not shift the synchronous endpoint's fault sequence.
  const random = seededRandom((deps.seed ^ 0x5bd1e995) >>> 0);
  const records = new Map<string, BatchRecord>();
  const active = new Set<BatchRecord>();
  let seq = 0;
  const endpointByPath = new Map(deps.endpoints.map((e) => [e.path, e]));
  const supported = deps.endpoints.map((e) => `'${e.path}'`).join(', ');

  const opt = <K extends keyof typeof DEFAULTS>(k: K): number => options[k] ?? DEFAULTS[k];

  function enqueuedTokenLimit(model: string): number | undefined {
    const table = options.enqueuedTokenLimit;
    return table?.[model] ?? table?.default;
  }

  function currentlyEnqueued(owner: string, model: string): number {
    let sum = 0;
    for (const r of active) {
      if (r.owner === owner && r.batch.model === model && r.failure === null) sum += r.enqueuedTokens;
    }
    return sum;
  }

  function create(
    owner: string,
    organization: string,
    params: {
      input_file_id?: unknown;
      endpoint?: unknown;
      completion_window?: unknown;
      metadata?: unknown;
    },
  ): BatchObject {
    advanceAll();
    if (typeof params.input_file_id !== 'string' || !params.input_file_id) {
      throw new BatchRequestError(
        400,
        "Missing required parameter: 'input_file_id'.",
        'missing_required_parameter',
        'input_file_id',
      );
    }
    const endpoint = typeof params.endpoint === 'string' ? endpointByPath.get(params.endpoint) : undefined;
    if (!endpoint) {
      throw new BatchRequestError(
        400,
        `Invalid value for 'endpoint': ${JSON.stringify(params.endpoint ?? null)}. Supported values are: ${supported}.`,
        'invalid_value',
        'endpoint',
      );
    }
    if (params.completion_window !== '24h') {
      throw new BatchRequestError(
        400,
        `Invalid value for 'completion_window': ${JSON.stringify(params.completion_window ?? null)}. Supported values are: '24h'.`,
        'invalid_value',
        'completion_window',
      );
    }
    const metadata = checkMetadata(params.metadata);
    const file = deps.files.retrieve(owner, params.input_file_id);
    const content = deps.files.content(owner, params.input_file_id);
    if (!file || !content) {
      throw new BatchRequestError(
        404,
        `No such File object: ${params.input_file_id}`,
        'file_not_found',
        'input_file_id',
      );
    }
    if (file.purpose !== 'batch') {
      throw new BatchRequestError(
        400,
        `The input file ${file.id} was uploaded with purpose '${file.purpose}'; a batch needs purpose 'batch'.`,
        'invalid_value',
        'input_file_id',
      );
    }

    const nowMs = deps.now();
    const verdict = validateBatchInput(
      { text: content.toString('utf8'), bytes: content.length },
      endpoint.path,
      {
        maxLines: opt('maxLinesPerBatch'),
        maxBytes: opt('maxInputBytes'),
      },
    );
    let failure: BatchError[] | null = verdict.ok ? null : verdict.errors;
    const lines = verdict.ok ? verdict.lines : [];
    const model = verdict.ok ? verdict.model : null;
    // Charged as the endpoint charges TPM at admission (chat: prompt estimate + max_tokens × n).
    const charge = { defaultMaxTokens: deps.defaultMaxTokens, createdSeconds: sec(nowMs) };
    const enqueuedTokens = lines.reduce((sum, l) => sum + endpoint.charge(l.body, charge), 0);
    if (verdict.ok && model) {
      const limit = enqueuedTokenLimit(model);
      const enqueued = currentlyEnqueued(owner, model);
      if (limit !== undefined && enqueued + enqueuedTokens > limit) {
        failure = [
          {
            code: 'token_limit_exceeded',
            message: `Enqueued token limit reached for ${model} in organization ${organization}. Limit: ${fmt(limit)} enqueued tokens, Currently enqueued: ${fmt(enqueued)}, Requested: ${fmt(enqueuedTokens)}. Please try again once some in_progress batches have been completed.`,
            param: null,
            line: null,
          },
        ];
      }
    }

    const delay = opt('completionDelayMs');
    const step = phaseMs(delay);
    const schedule: BatchSchedule = {
      validatedMs: nowMs + step,
      linesDoneMs: nowMs + delay - step,
      completeMs: nowMs + delay,
      expiresMs: nowMs + opt('expireAfterMs'),
      cancelledMs: null,
    };
    const batch: BatchObject = {
      id: `batch_${randomBytes(12).toString('hex')}`,
      object: 'batch',
      endpoint: endpoint.path,
      model: model || null,
      errors: null,
      input_file_id: file.id,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: sec(nowMs),
      in_progress_at: null,
      expires_at: sec(schedule.expiresMs),
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      usage: {
        input_tokens: 0,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 0,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 0,
      },
      metadata,
    };
    const record: BatchRecord = {
      owner,
      seq: seq++,
      batch,
      schedule,
      failure,
      lines,
      order: shuffledIndices(lines.length, random),
      processed: 0,
      idBase: randomBytes(9).toString('hex'),
      enqueuedTokens,
      outputLines: [],
      errorLines: [],
    };
    records.set(batch.id, record);
    active.add(record);
    deps.stats().batchesCreated++;
    forgetOldBatches();
    schedulePump();
    return batch;
  }

  function lineDueMs(r: BatchRecord, k: number): number {
    const { validatedMs, linesDoneMs } = r.schedule;
    return validatedMs + ((k + 1) / r.lines.length) * (linesDoneMs - validatedMs);
  }

  function lineIds(r: BatchRecord, k: number) {
    const n = k.toString(16).padStart(5, '0');
    return { id: `batch_req_${r.idBase}${n}`, requestId: `req_${r.idBase}${n}` };
  }

  function processLine(r: BatchRecord, k: number) {
    const line = r.lines[r.order[k]!]!;
    const ids = lineIds(r, k);
    const stats = deps.stats();
    const endpoint = endpointByPath.get(r.batch.endpoint)!;
    const session = deps.session?.(r.owner);
    const refusal = endpoint.refuse(line.body, session);
    const failWith = (status: number, error: Record<string, unknown>) => {
      r.errorLines.push(
        JSON.stringify({
          id: ids.id,
          custom_id: line.customId,
          response: { status_code: status, request_id: ids.requestId, body: { error } },
          error: null,
        }),
      );
      r.batch.request_counts.failed++;
      stats.linesErrored++;
    };
    if (refusal) {
      const { status, message, type, param, code } = refusal;
      return failWith(status, { message, type, param, code });
    }
    const rate = options.lineErrorRate ?? DEFAULTS.lineErrorRate;
    if (rate > 0 && random() < rate) {
      return failWith(500, {
        message: 'The server had an error while processing your request. Sorry about that!',
        type: 'server_error',
        param: null,
        code: null,
      });
    }
    const answer = endpoint.answer(line.body, {
      defaultMaxTokens: deps.defaultMaxTokens,
      createdSeconds: sec(lineDueMs(r, k)),
      ...(session ? { session } : {}),
    });
    r.outputLines.push(
      JSON.stringify({
        id: ids.id,
        custom_id: line.customId,
        response: { status_code: 200, request_id: ids.requestId, body: answer.body() },
        error: null,
      }),
    );
    r.batch.request_counts.completed++;
    r.batch.usage.input_tokens += answer.promptTokens;
    r.batch.usage.output_tokens += answer.outputTokens;
    r.batch.usage.total_tokens += answer.promptTokens + answer.outputTokens;
    stats.linesOk++;
    stats.promptTokens += answer.promptTokens;
    stats.completionTokens += answer.outputTokens;
  }

  /** Ends a batch: lines never run go to the error file with `code`, then the files are written. */
  function finish(r: BatchRecord, status: 'completed' | 'expired' | 'cancelled', atMs: number) {
    const b = r.batch;
    const unrun =
      status === 'expired'
        ? {
            code: 'batch_expired',
            message: 'This request could not be executed before the completion window expired.',
          }
        : {
            code: 'batch_cancelled',
            message: 'This request was not executed because the batch was cancelled.',
          };
    for (let k = r.processed; k < r.lines.length; k++) {
      const line = r.lines[r.order[k]!]!;
      r.errorLines.push(
        JSON.stringify({ id: lineIds(r, k).id, custom_id: line.customId, response: null, error: unrun }),
      );
      b.request_counts.failed++;
      deps.stats().linesErrored++;
    }
    r.processed = r.lines.length;
    const created = sec(atMs);
    if (r.outputLines.length > 0) {
      b.output_file_id = deps.files.write(r.owner, {
        filename: `${b.id}_output.jsonl`,
        purpose: 'batch_output',
        content: Buffer.from(`${r.outputLines.join('\n')}\n`),
        createdSeconds: created,
      }).id;
    }
    if (r.errorLines.length > 0) {
      b.error_file_id = deps.files.write(r.owner, {
        filename: `${b.id}_error.jsonl`,
        purpose: 'batch_output',
        content: Buffer.from(`${r.errorLines.join('\n')}\n`),
        createdSeconds: created,
      }).id;
    }
    b.status = status;
    const stats = deps.stats();
    if (status === 'completed') {
      b.completed_at = created;
      stats.batchesCompleted++;
    } else if (status === 'expired') {
      b.expired_at = created;
      stats.batchesExpired++;
    } else {
      b.cancelled_at = created;
      stats.batchesCancelled++;
    }
    release(r);
  }

  /** A finished batch keeps only its object: its lines and results now live in files. */
  function release(r: BatchRecord) {
    r.lines = [];
    r.order = [];
    r.outputLines = [];
    r.errorLines = [];
    active.delete(r);
  }

  /** Brings one batch up to `nowMs`, running at most `budget.lines` lines; false if the budget ran out first. */
  function advance(r: BatchRecord, nowMs: number, budget: { lines: number }): boolean {
    const b = r.batch;
    const s = r.schedule;
    for (;;) {
      switch (b.status) {
        case 'validating': {
          if (nowMs < s.validatedMs) return true;
          if (r.failure) {
            b.status = 'failed';
            b.failed_at = sec(s.validatedMs);
            b.errors = { object: 'list', data: r.failure };
            deps.stats().batchesFailed++;
            release(r);
            return true;
          }
          b.status = 'in_progress';
          b.in_progress_at = sec(s.validatedMs);
          b.request_counts.total = r.lines.length;
          continue;
        }
        case 'in_progress': {
          const until = Math.min(nowMs, s.expiresMs);
          while (r.processed < r.lines.length && lineDueMs(r, r.processed) <= until) {
            if (budget.lines <= 0) return false;
            budget.lines--;
            processLine(r, r.processed);
            r.processed++;
          }
          if (r.processed === r.lines.length && nowMs >= s.linesDoneMs) {
            b.status = 'finalizing';
            b.finalizing_at = sec(s.linesDoneMs);
            continue;
          }
          if (nowMs >= s.expiresMs) finish(r, 'expired', s.expiresMs);
          return true;
        }
        case 'finalizing': {
          if (nowMs >= s.completeMs) finish(r, 'completed', s.completeMs);
          return true;
        }
        case 'cancelling': {
          if (s.cancelledMs !== null && nowMs >= s.cancelledMs) finish(r, 'cancelled', s.cancelledMs);
          return true;
        }
        case 'failed':
        case 'completed':
        case 'expired':
        case 'cancelled':
          return true;
        default: {
          const unreachable: never = b.status;
          throw new Error(`unknown batch status ${String(unreachable)}`);
        }
      }
    }
  }

  /** Brings every unfinished batch up to now (fully, unless a line budget is given); false if work is left. */
  function advanceAll(maxLines = Number.POSITIVE_INFINITY): boolean {
    const nowMs = deps.now();
    const budget = { lines: maxLines };
    for (const r of [...active].sort((a, b) => a.seq - b.seq)) {
      if (!advance(r, nowMs, budget)) return false;
    }
    return true;
  }

  // A background pump runs due lines in small steps, so a poll after a 50,000-line batch's delay
  // finds the work done instead of blocking the event loop for seconds. Polls still catch up fully,
  // so what a client sees never depends on the pump's timing.
  let pumpTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  function schedulePump(delayMs = PUMP_INTERVAL_MS) {
    if (pumpTimer || stopped || active.size === 0) return;
    pumpTimer = setTimeout(() => {
      pumpTimer = null;
      const caughtUp = advanceAll(LINES_PER_STEP);
      schedulePump(caughtUp ? PUMP_INTERVAL_MS : 0);
    }, delayMs);
    pumpTimer.unref();
  }

  function find(owner: string, id: string): BatchRecord | undefined {
    const r = records.get(id);
    return r && r.owner === owner ? r : undefined;
  }

  function forgetOldBatches() {
    const max = opt('maxBatches');
    if (records.size <= max) return;
    for (const [id, r] of records) {
      if (records.size <= max) break;
      if (TERMINAL.has(r.batch.status)) records.delete(id);
    }
  }

  return {
    create,
    retrieve(owner: string, id: string): BatchObject | undefined {
      advanceAll();
      return find(owner, id)?.batch;
    },
    /** OpenAI's cursor page, newest first; `after` is the id of the last batch of the previous page. */
    list(
      owner: string,
      query: { after?: string; limit: number },
    ): { data: BatchObject[]; has_more: boolean } {
      advanceAll();
      const mine = [...records.values()].filter((r) => r.owner === owner).sort((a, b) => b.seq - a.seq);
      const start = query.after ? mine.findIndex((r) => r.batch.id === query.after) + 1 : 0;
      const page = mine.slice(start, start + query.limit);
      return { data: page.map((r) => r.batch), has_more: start + page.length < mine.length };
    },
    cancel(owner: string, id: string): BatchObject | undefined {
      advanceAll();
      const r = find(owner, id);
      if (!r) return undefined;
      const b = r.batch;
      if (b.status === 'cancelling') return b;
      if (b.status !== 'validating' && b.status !== 'in_progress') {
        throw new BatchRequestError(
          400,
          `Cannot cancel a batch with status '${b.status}'.`,
          'invalid_state',
          null,
        );
      }
      const nowMs = deps.now();
      if (b.status === 'validating') b.request_counts.total = r.lines.length;
      b.status = 'cancelling';
      b.cancelling_at = sec(nowMs);
      // Cancelling takes a moment (OpenAI: up to 10 minutes); lines already run stay in the output.
      r.schedule.cancelledMs = nowMs + phaseMs(opt('completionDelayMs'));
      return b;
    },
    advanceAll: () => {
      advanceAll();
    },
    /** Stops the background pump (the server is closing); state still advances on calls. */
    stop() {
      stopped = true;
      if (pumpTimer) clearTimeout(pumpTimer);
      pumpTimer = null;
    },
    configure(patch: BatchOptions) {
      options = { ...patch };
    },
  };
}

export type BatchEngine = ReturnType<typeof createBatchEngine>;

/** Validating, finalizing and cancelling each take a tenth of the delay, at most a second; lines run in between. */
function phaseMs(completionDelayMs: number): number {
  return Math.min(completionDelayMs * 0.1, 1_000);
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** OpenAI's metadata rules: up to 16 string pairs, keys ≤ 64 chars, values ≤ 512 chars. */
function checkMetadata(metadata: unknown): Record<string, string> | null {
  if (metadata === undefined || metadata === null) return null;
  const bad = (message: string) => new BatchRequestError(400, message, 'invalid_value', 'metadata');
  if (typeof metadata !== 'object' || Array.isArray(metadata))
    throw bad("Invalid type for 'metadata': expected an object.");
  const entries = Object.entries(metadata as Record<string, unknown>);
  if (entries.length > 16) throw bad("Invalid 'metadata': at most 16 keys are allowed.");
  for (const [k, v] of entries) {
    if (k.length > 64)
      throw bad(`Invalid 'metadata': key '${k.slice(0, 16)}…' is longer than 64 characters.`);
    if (typeof v !== 'string') throw bad(`Invalid 'metadata.${k}': expected a string.`);
    if (v.length > 512) throw bad(`Invalid 'metadata.${k}': value is longer than 512 characters.`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}
