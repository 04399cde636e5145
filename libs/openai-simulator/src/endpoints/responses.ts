import { randomBytes } from 'node:crypto';
import {
  badRequest,
  type EndpointAnswer,
  type EndpointContext,
  type EndpointSession,
  errorBody,
  integerOutOfRange,
  isJsonObject as isObject,
  modelRefusal,
  notFound,
  type RequestBody,
  type RequestError,
  type RouteAnswer,
  type SimulatedEndpoint,
  type SimulatedRoute,
  unsupportedValue,
} from '../endpoint';
import { cutToTokens } from '../internal/tokenizer';
import { simulatedModelInfo } from '../models';
import { answeredServiceTier } from './chat-completions';
import { chatReply } from './chat-reply';
import {
  chatMessages,
  chatResponseFormat,
  chatToolChoice,
  chatTools,
  contentText,
  definitionTokens,
  type Generated,
  type Item,
  inputItems,
  itemTokens,
  offersWebSearch,
  outputItems,
  responseEvents,
} from './response-items';

/** A response as the Responses API returns it (`object: 'response'`). */
type ResponseObject = Record<string, unknown> & { id: string; status: string; output: Item[] };

interface StoredResponse {
  owner: string;
  /** What GET answers once the work is done (for a background response: its final state). */
  final: ResponseObject;
  /** This request's input items (what `input_items` lists). */
  input: Item[];
  /** Everything the model saw: the chain before it, then this input (a follow-up continues from it and `final.output`). */
  context: Item[];
  /** Background work: queued until `startMs`, in progress until `doneMs` (the simulator's clock). */
  background?: { startMs: number; doneMs: number; cancelled: ResponseObject | null };
}

interface Conversation {
  owner: string;
  id: string;
  createdAt: number;
  metadata: unknown;
  items: Item[];
}

/** One simulator instance's Responses API state: stored responses, their items, conversations. */
interface ResponsesState {
  responses: Map<string, StoredResponse>;
  items: Map<string, { owner: string; item: Item }>;
  conversations: Map<string, Conversation>;
}

const stateOf = (session: EndpointSession) =>
  session.state<ResponsesState>(responses, () => ({
    responses: new Map(),
    items: new Map(),
    conversations: new Map(),
  }));

const REASONING_EFFORTS = ['minimal', 'low', 'medium', 'high'];
/** Reasoning tokens spent per effort: deterministic, so tests can bill them exactly. */
const REASONING_TOKENS: Record<string, number> = { minimal: 0, low: 16, medium: 64, high: 256 };
/** Prompt caching: a prefix of at least 1,024 tokens is cached in steps of 128 (OpenAI's rule). */
const CACHE_MIN_TOKENS = 1_024;
const CACHE_STEP_TOKENS = 128;

function conversationIdOf(body: RequestBody): string | undefined {
  const c = body.conversation;
  if (typeof c === 'string') return c;
  return isObject(c) && typeof c.id === 'string' ? c.id : undefined;
}

function stored(session: EndpointSession, id: string): StoredResponse | undefined {
  const r = stateOf(session).responses.get(id);
  return r && r.owner === session.owner ? r : undefined;
}

/** Why OpenAI refuses this body before running it, with the stored state (earlier responses, items, conversations). */
export function responsesRefusal(body: RequestBody, session?: EndpointSession): RequestError | null {
  if (body.model === undefined || body.model === null)
    return badRequest("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  const model = String(body.model);
  const wrong = modelRefusal(model, 'chat', (right) =>
    badRequest(
      `The model \`${model}\` is not supported with the Responses API. Did you mean to use ${right}?`,
      'model',
    ),
  );
  if (wrong) return wrong;
  const input = body.input;
  if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input))
    return badRequest(
      "Invalid type for 'input': expected a string or an array of input items.",
      'input',
      'invalid_type',
    );
  if (input === undefined && body.previous_response_id == null && conversationIdOf(body) === undefined)
    return badRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  const range = integerOutOfRange('max_output_tokens', body.max_output_tokens, 16, 1_000_000);
  if (range) return range;
  const info = simulatedModelInfo(model);
  const reasoning = isObject(body.reasoning) ? body.reasoning : undefined;
  if (reasoning?.effort !== undefined && reasoning.effort !== null) {
    if (!info?.reasoning)
      return badRequest(
        "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
        'reasoning.effort',
        'unsupported_parameter',
      );
    if (!REASONING_EFFORTS.includes(String(reasoning.effort)))
      return unsupportedValue('reasoning.effort', reasoning.effort, REASONING_EFFORTS);
  }
  if (info?.reasoning && typeof body.temperature === 'number' && body.temperature !== 1)
    return badRequest(
      "Unsupported parameter: 'temperature' is not supported with this model.",
      'temperature',
      'unsupported_parameter',
    );
  if (body.background === true && body.store === false)
    return badRequest('Background mode requires `store` to be true.', 'background', 'invalid_value');
  const text = isObject(body.text) ? body.text : {};
  const format = isObject(text.format) ? text.format : undefined;
  if (format) {
    if (!['text', 'json_object', 'json_schema'].includes(String(format.type)))
      return unsupportedValue('text.format.type', format.type, ['text', 'json_object', 'json_schema']);
    if (format.type === 'json_schema' && typeof format.name !== 'string')
      return badRequest(
        "Missing required parameter: 'text.format.name'.",
        'text.format.name',
        'missing_required_parameter',
      );
    if (format.type === 'json_schema' && !isObject(format.schema))
      return badRequest(
        "Missing required parameter: 'text.format.schema'.",
        'text.format.schema',
        'missing_required_parameter',
      );
    if (
      format.type === 'json_object' &&
      !/json/i.test(`${JSON.stringify(body.input ?? '')}${String(body.instructions ?? '')}`)
    )
      return badRequest(
        "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.",
        'input',
      );
  }
  if (!session) return null;
  const previous = body.previous_response_id;
  if (previous !== undefined && previous !== null) {
    const prev = stored(session, String(previous));
    if (!prev)
      return badRequest(
        `Previous response with id '${String(previous)}' not found.`,
        'previous_response_id',
        'previous_response_not_found',
      );
    if (prev.background && statusAt(prev, session.now()) !== prev.final.status)
      return badRequest(
        `Previous response with id '${String(previous)}' is still in progress.`,
        'previous_response_id',
        'previous_response_in_progress',
      );
  }
  const conversation = conversationIdOf(body);
  if (conversation !== undefined) {
    const c = stateOf(session).conversations.get(conversation);
    if (!c || c.owner !== session.owner)
      return notFound(`Conversation with id '${conversation}' not found.`, 'conversation');
    if (previous !== undefined && previous !== null)
      return badRequest('Cannot use both `previous_response_id` and `conversation`.', 'conversation');
  }
  if (Array.isArray(input)) {
    const items = stateOf(session).items;
    for (const [i, raw] of input.entries()) {
      if (!isObject(raw) || raw.type !== 'item_reference') continue;
      const found = items.get(String(raw.id));
      if (!found || found.owner !== session.owner)
        return notFound(`Item with id '${String(raw.id)}' not found.`, `input[${i}]`);
    }
  }
  return null;
}

/** The response's status at `now`: a background response is queued, then in progress, then final. */
function statusAt(r: StoredResponse, now: number): string {
  const bg = r.background;
  if (!bg) return r.final.status;
  if (bg.cancelled) return 'cancelled';
  if (now < bg.startMs) return 'queued';
  if (now < bg.doneMs) return 'in_progress';
  return r.final.status;
}

/** What GET shows at `now`: the final response, or a background one's current state. */
function viewAt(r: StoredResponse, now: number): ResponseObject {
  const status = statusAt(r, now);
  if (r.background?.cancelled) return r.background.cancelled;
  if (status === r.final.status) return r.final;
  return { ...r.final, status, output: [], usage: null, incomplete_details: null, error: null };
}

function generate(model: string, body: RequestBody, context: readonly Item[]): Generated {
  const info = simulatedModelInfo(model);
  const reasoningOpts = isObject(body.reasoning) ? body.reasoning : {};
  const effort = String(reasoningOpts.effort ?? 'medium');
  const limit = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : undefined;
  const reasoningTokens = info?.reasoning ? (REASONING_TOKENS[effort] ?? REASONING_TOKENS.medium!) : 0;
  if (limit !== undefined && reasoningTokens >= limit) {
    // Thinking used the whole allowance: no visible output, as OpenAI answers it.
    return {
      reasoning: { tokens: limit, summary: null },
      search: null,
      reply: null,
      incomplete: true,
    };
  }
  const text = isObject(body.text) ? body.text : {};
  const chatBody: RequestBody = {
    model,
    messages: chatMessages(body.instructions, context),
    tools: chatTools(body.tools),
    tool_choice: chatToolChoice(body.tool_choice),
    response_format: chatResponseFormat(text.format),
    ...(limit !== undefined ? { max_completion_tokens: limit - reasoningTokens } : {}),
  };
  if ((chatBody.tools as unknown[]).length === 0) delete chatBody.tools;
  if (chatBody.tools === undefined) delete chatBody.tool_choice;
  const reply = chatReply(model, chatBody, 0);
  const lastUser = [...context]
    .reverse()
    .find((i) => i.type === 'message' || i.type === 'function_call_output');
  const searched =
    reply.kind === 'text' && offersWebSearch(body) && lastUser?.type === 'message' && lastUser.role === 'user'
      ? { query: cutToTokens(model, contentText(lastUser.content), 16).text }
      : null;
  const summary = reasoningOpts.summary;
  return {
    reasoning:
      reasoningTokens > 0 || info?.reasoning
        ? {
            tokens: reasoningTokens,
            summary:
              typeof summary === 'string' && summary !== 'none' ? 'Simulated reasoning summary.' : null,
          }
        : null,
    search: searched,
    reply,
    incomplete: reply.finish === 'length',
  };
}

function answerResponse(body: RequestBody, ctx: EndpointContext): EndpointAnswer {
  const model = String(body.model);
  const session = ctx.session;
  const state = session ? stateOf(session) : undefined;
  const resolve = (id: string) => {
    const found = state?.items.get(id);
    return found && found.owner === session?.owner ? found.item : undefined;
  };
  const input = inputItems(body.input, resolve);
  const previousId = typeof body.previous_response_id === 'string' ? body.previous_response_id : undefined;
  const prev = session && previousId ? stored(session, previousId) : undefined;
  const conversationId = conversationIdOf(body);
  const conversation = conversationId ? state?.conversations.get(conversationId) : undefined;
  const history = prev ? [...prev.context, ...prev.final.output] : (conversation?.items ?? []);
  const context = [...history, ...input];

  const g = generate(model, body, context);
  const status = g.incomplete ? 'incomplete' : 'completed';
  let output = outputItems(g, status);
  const visibleTokens = g.reply?.tokens ?? 0;
  const outputTokens = (g.reasoning?.tokens ?? 0) + visibleTokens;
  const promptTokens = itemTokens(model, context) + definitionTokens(model, body);
  const historyTokens = prev || conversation ? itemTokens(model, history) : 0;
  const cachedTokens =
    historyTokens >= CACHE_MIN_TOKENS
      ? Math.min(promptTokens, historyTokens - (historyTokens % CACHE_STEP_TOKENS))
      : 0;
  const failed = ctx.failMidway === true;
  if (failed) output = output.slice(0, 1);
  const usage = {
    input_tokens: promptTokens,
    input_tokens_details: { cached_tokens: cachedTokens },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: g.reasoning?.tokens ?? 0 },
    total_tokens: promptTokens + outputTokens,
  };
  const created = ctx.createdSeconds;
  const text = isObject(body.text) ? body.text : {};
  const reasoning = isObject(body.reasoning) ? body.reasoning : {};
  const base: ResponseObject = {
    id: `resp_${randomBytes(24).toString('hex')}`,
    object: 'response',
    created_at: created,
    status: 'in_progress',
    background: body.background === true,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: body.max_tool_calls ?? null,
    model,
    output: [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: previousId ?? null,
    ...(conversationId ? { conversation: { id: conversationId } } : {}),
    reasoning: {
      effort: simulatedModelInfo(model)?.reasoning ? (reasoning.effort ?? 'medium') : null,
      summary: reasoning.summary ?? null,
    },
    service_tier: answeredServiceTier(body.service_tier),
    store: body.store !== false,
    temperature: body.temperature ?? 1,
    text: { format: text.format ?? { type: 'text' }, verbosity: text.verbosity ?? 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_logprobs: body.top_logprobs ?? 0,
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
    usage: null,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
  const final: ResponseObject = failed
    ? {
        ...base,
        status: 'failed',
        output,
        usage,
        error: { code: 'server_error', message: 'The model failed to generate a response (simulated).' },
      }
    : {
        ...base,
        status,
        output,
        usage,
        incomplete_details: g.incomplete ? { reason: 'max_output_tokens' } : null,
      };
  const background = body.background === true && session !== undefined;
  if (session && state && final.store) {
    const now = session.now();
    const startMs = now + session.latency.firstTokenMs;
    state.responses.set(final.id, {
      owner: session.owner,
      final,
      input,
      context,
      ...(background
        ? {
            background: {
              startMs,
              doneMs: startMs + session.latency.perTokenMs * outputTokens,
              cancelled: null,
            },
          }
        : {}),
    });
    for (const item of [...input, ...output])
      state.items.set(String(item.id), { owner: session.owner, item });
  }
  if (conversation && !failed) conversation.items.push(...input, ...output);
  return {
    promptTokens,
    outputTokens,
    immediate: background,
    body: () => (background ? { ...base, status: 'queued' } : final),
    stream:
      body.stream === true ? () => responseEvents(model, base, final, g.reasoning?.tokens ?? 0) : undefined,
    streamFormat: 'typed',
  };
}

// ---- routes besides POST /v1/responses ----

const RESPONSE_ID = '(resp_[A-Za-z0-9_-]+)';

function notFoundResponse(id: string): RouteAnswer {
  return errorBody(notFound(`Response with id '${id}' not found.`, null));
}

const retrieve: SimulatedRoute = {
  name: 'responses.retrieve',
  method: 'GET',
  path: new RegExp(`^/v1/responses/${RESPONSE_ID}$`),
  handle({ params, query }, session) {
    const r = stored(session, params[0]!);
    if (!r) return notFoundResponse(params[0]!);
    if (query.get('stream') === 'true')
      return errorBody(badRequest('Streaming a stored response is not simulated.', 'stream'));
    return { status: 200, body: viewAt(r, session.now()) };
  },
};

const cancel: SimulatedRoute = {
  name: 'responses.cancel',
  method: 'POST',
  path: new RegExp(`^/v1/responses/${RESPONSE_ID}/cancel$`),
  handle({ params }, session) {
    const r = stored(session, params[0]!);
    if (!r) return notFoundResponse(params[0]!);
    const bg = r.background;
    if (!bg)
      return errorBody(badRequest('Only responses created with background=true can be cancelled.', null));
    const now = session.now();
    const status = statusAt(r, now);
    if (status === 'queued' || status === 'in_progress') {
      // What was generated until now is billed: output tokens in proportion to the time spent.
      const usage = r.final.usage as { input_tokens: number; output_tokens: number } | null;
      const spent =
        bg.doneMs > bg.startMs ? Math.max(0, Math.min(1, (now - bg.startMs) / (bg.doneMs - bg.startMs))) : 0;
      const output = status === 'queued' ? 0 : Math.floor((usage?.output_tokens ?? 0) * spent);
      const input = status === 'queued' ? 0 : (usage?.input_tokens ?? 0);
      bg.cancelled = {
        ...r.final,
        status: 'cancelled',
        output: [],
        incomplete_details: null,
        error: null,
        usage: {
          input_tokens: input,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: output,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: input + output,
        },
      };
    }
    // Cancelling a finished background response returns it unchanged.
    return { status: 200, body: viewAt(r, now) };
  },
};

const remove: SimulatedRoute = {
  name: 'responses.delete',
  method: 'DELETE',
  path: new RegExp(`^/v1/responses/${RESPONSE_ID}$`),
  handle({ params }, session) {
    const id = params[0]!;
    if (!stored(session, id)) return notFoundResponse(id);
    stateOf(session).responses.delete(id);
    return { status: 200, body: { id, object: 'response.deleted', deleted: true } };
  },
};

const inputItemsRoute: SimulatedRoute = {
  name: 'responses.input_items',
  method: 'GET',
  path: new RegExp(`^/v1/responses/${RESPONSE_ID}/input_items$`),
  handle({ params, query }, session) {
    const r = stored(session, params[0]!);
    if (!r) return notFoundResponse(params[0]!);
    // Newest first by default, as OpenAI lists them; `after` pages on.
    let items = query.get('order') === 'asc' ? [...r.input] : [...r.input].reverse();
    const after = query.get('after');
    if (after) items = items.slice(items.findIndex((i) => i.id === after) + 1);
    const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 20) || 20));
    const page = items.slice(0, limit);
    return {
      status: 200,
      body: {
        object: 'list',
        data: page,
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
        has_more: items.length > page.length,
      },
    };
  },
};

/** `POST /v1/conversations`: a conversation for `conversation` to name (items may seed it). */
const createConversation: SimulatedRoute = {
  name: 'conversations.create',
  method: 'POST',
  path: /^\/v1\/conversations$/,
  handle({ body }, session) {
    const id = `conv_${randomBytes(24).toString('hex')}`;
    const conversation: Conversation = {
      owner: session.owner,
      id,
      createdAt: Math.floor(session.now() / 1000),
      metadata: body?.metadata ?? {},
      items: inputItems(body?.items ?? [], () => undefined),
    };
    stateOf(session).conversations.set(id, conversation);
    return {
      status: 200,
      body: {
        id,
        object: 'conversation',
        created_at: conversation.createdAt,
        metadata: conversation.metadata,
      },
    };
  },
};

/** `/v1/responses`: text, tool calls, structured output, reasoning, web search; stored, chained, streamed, in the background. */
export const responses: SimulatedEndpoint = {
  name: 'responses',
  method: 'POST',
  path: '/v1/responses',
  model: (body) => String(body.model ?? ''),
  refuse: responsesRefusal,
  charge(body, ctx) {
    const chars = JSON.stringify(body.input ?? '').length + String(body.instructions ?? '').length;
    const max = Number(body.max_output_tokens ?? ctx.defaultMaxTokens) || ctx.defaultMaxTokens;
    return Math.ceil(chars / 4) + max;
  },
  answer: answerResponse,
  routes: [retrieve, cancel, remove, inputItemsRoute, createConversation],
};
