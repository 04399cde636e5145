import { randomBytes } from 'node:crypto';
import {
  describeZodError,
  type EventLog,
  eventIdFor,
  type Priority,
  type RequestSubmitted,
  requestKey,
  requestTopic,
  SluiceError,
} from '@sluice/events';
import { LRUCache } from 'lru-cache';
import type { RouteRequest } from '../batch/route-policy';
import type { CacheAdmission } from '../cache/cache-admission';
import type { Estimator } from '../estimation/estimator';
import { measureRequest } from '../estimation/measure';
import type { Metrics } from '../metrics';
import type { AnyOperation, StateRef } from '../operations/operation';
import { knownEndpointOf } from '../operations/registry';
import type { OutcomeHub } from '../outcomes/outcome-hub';
import type { RequestView } from '../outcomes/request-view';
import type { ChooseTier } from '../tiers/tier-admission';
import type { ModelCatalog } from '../upstream/model-catalog';
import { type PoolConfig, poolForModel } from '../upstream/pools';
import { idempotentRequestId, requestFingerprint } from './idempotency';
import { findUnsafeJson, inspectJson } from './json-guard';
import { type ParsedSubmitOptions, SubmitOptionsSchema } from './submit-options';

/** One submission as a front door (tRPC or `/v1`) received it: validated here, once. */
export interface SubmitCommand {
  tenantId: string;
  operation: AnyOperation;
  /** The body as received. */
  body: unknown;
  /** Sluice's own options as received (the SDK's object, or parsed from `x-sluice-*` headers). */
  options: unknown;
  source: RequestSubmitted['source'];
  /** Where the caller of a streamed request waits for its chunks (this API process). */
  replyTo?: RequestSubmitted['replyTo'];
}

export interface Submission {
  requestId: string;
  /** True when an earlier submission with the same idempotency key is returned instead. */
  duplicate: boolean;
  priority: Priority;
  /** `hit` = answered from the response cache, `miss` = eligible and goes upstream, null = not cached. */
  cache: 'hit' | 'miss' | null;
  /** The event this call appended (absent for a duplicate or a cache hit): a waiter starts from it. */
  submitted?: RequestSubmitted;
  /** The validated body and options. */
  body: Record<string, unknown>;
  options: ParsedSubmitOptions;
}

export interface IntakeStore {
  append(events: RequestSubmitted[]): Promise<unknown>;
  findByIdempotencyKey(
    tenantId: string,
    key: string,
  ): Promise<{ requestId: string; fingerprint: string | null } | undefined>;
}

/** Where the upstream state a request continues lives (see `Operation.upstreamState`). */
export interface StatePin {
  /** The pool (and so the key) that created it: the request must go there. */
  pool: string;
  /** Tokens the upstream adds to the request from that state (a chain's earlier context): charged too. */
  carriedTokens: number;
  /** A top-level field to name the state by the upstream's id (a Sluice-minted response id). */
  replace?: { param: string; id: string };
}

/** Resolves a request's state references for a tenant; throws for one the tenant may not continue. */
export type StateOwners = (tenantId: string, refs: readonly StateRef[]) => Promise<StatePin | undefined>;

export interface SubmitDeps {
  log: EventLog;
  store: IntakeStore;
  catalog: ModelCatalog;
  pools: readonly PoolConfig[];
  hub: Pick<OutcomeHub, 'expect' | 'waitForOutcome'>;
  metrics?: Metrics;
  clock?: () => number;
  /** Throws `rate_limited` when the tenant submits faster than Sluice's own submit rate allows. */
  submitRate?: (tenantId: string) => void | Promise<void>;
  /** The priority a tenant's budget allows (refuses with `budget_exceeded`, or lowers to `batch`). */
  budget?: (tenantId: string, priority: Priority) => Promise<Priority>;
  /** The exact response cache at admission; absent = nothing is cached. */
  cache?: CacheAdmission;
  /** Sync or Batch API (see `batch/route-policy`); absent = always synchronous. */
  route?: RouteRequest;
  /** The service tier (see `tiers/tier-admission`); absent = the upstream's default, explicit tiers pass through. */
  tier?: ChooseTier;
  /** Pins requests that continue upstream state to the pool holding it; absent = no operation keeps state. */
  stateOwners?: StateOwners;
  /** Measures large requests off the serving thread; absent = every estimate inline. */
  estimator?: Estimator;
  /** How long a synchronous call waits at most (the caller's `timeoutMs` may shorten it). */
  syncWaitTimeoutMs: number;
}

/** What admission has learnt of a submission so far; each step fills in its part. */
interface Admission {
  command: SubmitCommand;
  now: number;
  body: Record<string, unknown>;
  /** Characters of text in the body, counted by the body guard. */
  textChars: number;
  options: ParsedSubmitOptions;
  priority: Priority;
  requestId: string;
  model: string;
  pool: string;
  estimate: RequestSubmitted['estimate'];
  /** Where the upstream state the request continues lives; undefined: it continues none. */
  pin: StatePin | undefined;
  cache: RequestSubmitted['cache'];
  route: RequestSubmitted['route'];
  tier: RequestSubmitted['tier'];
}

/** A step either lets the submission go on, or answers it (a duplicate). */
type AdmissionStep = (a: Admission, deps: SubmitDeps) => Promise<Submission | undefined>;

/** Body guard first: hostile JSON never reaches a schema; malformed input never reaches the log. */
const guardBody: AdmissionStep = async (a) => {
  const { body, options, operation } = a.command;
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new SluiceError('invalid_request', 'The request body must be a JSON object.', {
      details: { param: null },
    });
  const inspected = inspectJson(body);
  const unsafe = inspected.problem ?? findUnsafeJson(options);
  if (unsafe)
    throw new SluiceError(
      'invalid_request',
      `Invalid request: ${unsafe.path || '(root)'}: ${unsafe.message}`,
      {
        details: { param: unsafe.path || null },
      },
    );
  const parsed = operation.request.safeParse(body);
  if (!parsed.success)
    throw new SluiceError('invalid_request', `Invalid request: ${describeZodError(parsed.error)}`, {
      details: { param: parsed.error.issues[0]?.path.join('.') || null },
    });
  const opts = SubmitOptionsSchema.safeParse(options ?? {});
  if (!opts.success)
    throw new SluiceError('invalid_request', `Invalid Sluice option: ${describeZodError(opts.error)}`, {
      details: { param: opts.error.issues[0]?.path.join('.') || null },
    });
  a.body = parsed.data;
  a.textChars = inspected.textChars ?? 0;
  a.options = opts.data;
  a.priority = opts.data.priority;
  return undefined;
};

/** Counted only once the request is well formed: refused input costs no submit budget. */
const limitSubmitRate: AdmissionStep = async (a, deps) => {
  await deps.submitRate?.(a.command.tenantId);
  return undefined;
};

const admitBudget: AdmissionStep = async (a, deps) => {
  if (deps.budget) a.priority = await deps.budget(a.command.tenantId, a.priority);
  return undefined;
};

/**
 * State held upstream (a response chain) pins the request to the pool holding it. Resolved before
 * the idempotency check: a Sluice-minted id is replaced by the upstream's in the body that is
 * logged, the same way on a retry, so the retry's body matches the first one's.
 */
const pinState: AdmissionStep = async (a, deps) => {
  const refs = a.command.operation.upstreamState?.(a.body) ?? [];
  a.pin = refs.length && deps.stateOwners ? await deps.stateOwners(a.command.tenantId, refs) : undefined;
  if (a.pin?.replace) a.body = { ...a.body, [a.pin.replace.param]: a.pin.replace.id };
  return undefined;
};

/** Model, endpoint and size: refused here with the message OpenAI would give, before anything is spent. */
const fitRequest: AdmissionStep = async (a, deps) => {
  const op = a.command.operation;
  const model = (typeof a.body.model === 'string' ? a.body.model : undefined) ?? op.models.default;
  if (!model || !deps.catalog.get(model))
    throw new SluiceError(
      'not_found',
      `The model \`${model ?? ''}\` does not exist or you do not have access to it.`,
      { details: { param: 'model', openaiCode: 'model_not_found' } },
    );
  const servedBy = op.models.known.test(model) ? op.endpoint : knownEndpointOf(model);
  if (servedBy && servedBy !== op.endpoint) {
    const refusal = op.models.refuse(model, servedBy);
    throw new SluiceError(refusal.status === 404 ? 'not_found' : 'invalid_request', refusal.message, {
      details: { param: 'model', openaiCode: refusal.status === 404 ? 'model_not_found' : 'invalid_model' },
    });
  }
  const pin = a.pin;
  const carried = pin?.carriedTokens ?? 0;
  const estimate = deps.estimator
    ? await deps.estimator.measure(a.command.tenantId, op, a.body, model, carried, a.textChars)
    : measureRequest(op, a.body, model, carried);
  const pool = pin ? pinnedPool(deps.pools, pin.pool) : poolForModel(deps.pools, model);
  const tpmLimit = pool.limits?.[model]?.tpm ?? pool.limits?.['*']?.tpm;
  if (tpmLimit !== undefined && estimate.tpmCost > tpmLimit)
    throw new SluiceError(
      'request_too_large',
      `Request too large for ${model}: it needs about ${estimate.tpmCost} tokens per minute (input + output allowance) but the pool's limit is ${tpmLimit}. Lower the output limit or shorten the input.`,
      {
        details: {
          param: OUTPUT_LIMIT_PARAM[op.endpoint] ?? 'input',
          openaiCode: 'request_too_large',
        },
      },
    );
  a.model = model;
  a.pool = pool.name;
  a.estimate = estimate;
  return undefined;
};

/** The field that sets the output allowance, where an endpoint has one. */
const OUTPUT_LIMIT_PARAM: Partial<Record<string, string>> = {
  '/v1/chat/completions': 'max_tokens',
  '/v1/responses': 'max_output_tokens',
};

function pinnedPool(pools: readonly PoolConfig[], name: string): PoolConfig {
  const pool = pools.find((p) => p.name === name);
  if (!pool)
    throw new SluiceError(
      'invalid_request',
      `The state this request continues is held by upstream pool ${name}, which is no longer configured; it cannot be continued.`,
      { details: { param: null } },
    );
  return pool;
}

const decideCache: AdmissionStep = async (a, deps) => {
  a.cache =
    (await deps.cache?.directive(a.command.tenantId, a.command.operation, a.body, a.options.cache)) ?? null;
  return undefined;
};

const decideRoute: AdmissionStep = async (a, deps) => {
  const op = a.command.operation;
  const stream = op.stream?.requested(a.body) ?? false;
  a.route =
    deps.route && op.batch
      ? await deps.route({
          tenantId: a.command.tenantId,
          priority: a.priority,
          deadline: a.options.timeoutMs ? a.now + a.options.timeoutMs : null,
          // A deferred (background) request is polled synchronously, never batched.
          stream: stream || (op.deferred?.requested(a.body) ?? false),
        })
      : 'sync';
  return undefined;
};

/**
 * The service tier, after the route (a Batch API request has none): an explicit tier the tenant
 * may not use is refused here (403), before the log. The body stays as the client sent it (its
 * idempotency fingerprint too); the dispatcher sends the tier chosen.
 */
const decideServiceTier: AdmissionStep = async (a, deps) => {
  a.tier = deps.tier
    ? await deps.tier({
        tenantId: a.command.tenantId,
        endpoint: a.command.operation.endpoint,
        model: a.model,
        body: a.body,
        priority: a.priority,
        route: a.route,
        deadline: a.options.timeoutMs ? a.now + a.options.timeoutMs : null,
      })
    : null;
  return undefined;
};

/**
 * Submission: admission as one ordered list run once per request (the edge has authenticated the
 * tenant before reading the body), then the cache or the log. `submit` returns once the log holds
 * the request durably; `submitAndWait` also waits for its outcome. Both front doors call these.
 */
export function createSubmitUseCase(deps: SubmitDeps) {
  const clock = deps.clock ?? Date.now;
  // What this process accepted recently: the store has it only once a dispatcher recorded it.
  const recent = new LRUCache<string, RequestSubmitted>({ max: 50_000 });

  /** A submission with a known idempotency key: the same request again, or a 422 for another body. */
  const resolveIdempotency: AdmissionStep = async (a) => {
    const key = a.options.idempotencyKey;
    if (!key) return undefined;
    const { tenantId, operation } = a.command;
    const requestId = idempotentRequestId(tenantId, key);
    const known = recent.get(requestId);
    const existing = known
      ? { requestId, fingerprint: requestFingerprint(known.endpoint, known.body) }
      : await deps.store.findByIdempotencyKey(tenantId, key);
    if (!existing) return undefined;
    if (
      existing.fingerprint !== null &&
      existing.fingerprint !== requestFingerprint(operation.endpoint, a.body)
    )
      throw new SluiceError(
        'idempotency_key_reused',
        `Keys for idempotent requests can only be used with the same parameters they were first used with. This key (Idempotency-Key ${key}) named request ${existing.requestId}, whose body differs. Use a new key for a different request.`,
        { details: { param: 'Idempotency-Key', requestId: existing.requestId } },
      );
    return {
      requestId: existing.requestId,
      duplicate: true,
      priority: a.priority,
      cache: null,
      body: a.body,
      options: a.options,
    };
  };

  const ADMISSION: readonly AdmissionStep[] = [
    guardBody,
    limitSubmitRate,
    admitBudget,
    pinState,
    resolveIdempotency,
    fitRequest,
    decideCache,
    decideRoute,
    decideServiceTier,
  ];

  async function submit(
    command: SubmitCommand,
    /** For a caller that will wait: told the request id just before the append (`OutcomeHub.expect`). */
    onAppending?: (requestId: string) => void,
  ): Promise<Submission> {
    const a = { command, now: clock() } as Admission;
    for (const step of ADMISSION) {
      const answered = await step(a, deps);
      if (answered) return answered;
    }
    const { tenantId, operation, source } = command;
    const requestId = a.options.idempotencyKey
      ? idempotentRequestId(tenantId, a.options.idempotencyKey)
      : `req_${randomBytes(12).toString('base64url')}`;
    // Validated where it is written (the log, or the store for a cache hit): once, at that edge.
    const event = {
      type: 'request.submitted',
      version: 3,
      endpoint: operation.endpoint,
      eventId: eventIdFor('request.submitted', requestId, 0),
      requestId,
      tenantId,
      pool: a.pool,
      model: a.model,
      priority: a.priority,
      attempt: 0,
      occurredAt: new Date(a.now).toISOString(),
      body: a.body,
      stream: operation.stream?.requested(a.body) ?? false,
      source,
      estimate: a.estimate,
      idempotencyKey: a.options.idempotencyKey ?? null,
      deadline: a.options.timeoutMs ? new Date(a.now + a.options.timeoutMs).toISOString() : null,
      cache: a.cache,
      route: a.route,
      replyTo: operation.stream?.requested(a.body) ? (command.replyTo ?? null) : null,
      tier: a.tier,
    } as RequestSubmitted;
    const accepted = { requestId, duplicate: false, priority: a.priority, body: a.body, options: a.options };

    // A stored answer completes the request here: no log, no quota, no upstream.
    if (await deps.cache?.serve(event)) return { ...accepted, cache: 'hit' };

    const started = clock();
    onAppending?.(requestId);
    try {
      await deps.log.append([{ topic: requestTopic(a.priority), key: requestKey(a.pool), event }]);
    } catch (cause) {
      if (cause instanceof SluiceError && cause.code === 'invalid_event') throw cause;
      throw new SluiceError(
        'log_unavailable',
        'The request log is unavailable; nothing was accepted. Retry shortly.',
        {
          cause,
          details: { retryAfterMs: 1_000 },
        },
      );
    }
    deps.metrics?.logAppendSeconds.observe((clock() - started) / 1000);
    deps.metrics?.submitted.inc({ priority: a.priority, tenant: tenantId, source });
    // The log append made the request durable; the dispatcher records it in the store. Until
    // then this process answers for it from memory, so `get`/`wait` right after submit work.
    recent.set(requestId, event);
    return { ...accepted, cache: event.cache ? 'miss' : null, submitted: event };
  }

  return {
    submit,
    /**
     * Submits and waits for the outcome (at most the caller's `timeoutMs`, else `syncWaitTimeoutMs`).
     * A deferred request (a background response) is not waited for: its placeholder is the answer.
     */
    async submitAndWait(
      command: SubmitCommand,
      wait: { signal?: AbortSignal } = {},
    ): Promise<
      | { submission: Submission; view: RequestView; placeholder?: undefined }
      | { submission: Submission; view?: undefined; placeholder: unknown }
    > {
      const deferred = command.operation.deferred;
      const submission = await submit(command, deferred ? undefined : deps.hub.expect);
      if (deferred?.requested(submission.body))
        return {
          submission,
          placeholder: deferred.placeholder(submission.body, submission.requestId, clock()),
        };
      const view = await deps.hub.waitForOutcome(command.tenantId, submission.requestId, {
        submitted: submission.submitted,
        timeoutMs: submission.options.timeoutMs ?? deps.syncWaitTimeoutMs,
        ...(wait.signal ? { signal: wait.signal } : {}),
      });
      return { submission, view };
    },
    /** A request this process accepted recently (the store may not have it yet). */
    recentlySubmitted(tenantId: string | null, requestId: string): RequestSubmitted | undefined {
      const e = recent.get(requestId);
      return e && (tenantId === null || e.tenantId === tenantId) ? e : undefined;
    },
  };
}

export type SubmitUseCase = ReturnType<typeof createSubmitUseCase>;
