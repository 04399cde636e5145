import { randomBytes } from 'node:crypto';
import { promptTokens } from '../completion';
import {
  badRequest,
  choiceCount,
  type EndpointAnswer,
  includeUsage,
  integerOutOfRange,
  interleave,
  missingParameter,
  modelRefusal,
  type RequestBody,
  type RequestError,
  type SimulatedEndpoint,
  type StreamChunk,
  streamOptionsRefusal,
  unsupportedValue,
} from '../endpoint';
import { chatLogprobs, type TokenLogprob } from '../internal/logprobs';
import { encodeText, type TokenPiece, tokenPieces } from '../internal/tokenizer';
import { simulatedModelInfo } from '../models';
import { chargedTokens } from '../rate-limits';
import { type ChatReply, chatReply, toolName } from './chat-reply';

export const SYSTEM_FINGERPRINT = 'fp_sluice_sim';

const ROLES = ['system', 'assistant', 'user', 'function', 'tool', 'developer'];
const SERVICE_TIERS = ['auto', 'default', 'flex', 'scale', 'priority'];
const RESPONSE_FORMATS = ['text', 'json_object', 'json_schema'];

/** `/v1/chat/completions`: text, tool calls, structured output, `n`, logprobs, streamed or not. */
export const chatCompletions: SimulatedEndpoint = {
  name: 'chat.completions',
  method: 'POST',
  path: '/v1/chat/completions',
  model: (body) => String(body.model ?? ''),
  refuse: chatRefusal,
  charge: (body, ctx) => {
    const byChars = chargedTokens(body, ctx.defaultMaxTokens);
    if (ctx.promptCharge !== 'tokens') return byChars;
    const model = String(body.model ?? '');
    const chars = Math.ceil(JSON.stringify(body.messages ?? []).length / 4);
    const prompt =
      promptTokens(model, (body.messages ?? []) as Array<Record<string, unknown>>) +
      definitionTokens(model, body);
    return byChars - chars + prompt;
  },
  answer(body, ctx): EndpointAnswer {
    const model = String(body.model);
    const replies = Array.from({ length: choiceCount(body) }, (_, i) => chatReply(model, body, i));
    const prompt =
      promptTokens(model, body.messages as Array<Record<string, unknown>>) + definitionTokens(model, body);
    const completion = replies.reduce((sum, r) => sum + r.tokens, 0);
    const usage = completionUsage(prompt, completion);
    const meta: ChatMeta = {
      id: newCompletionId(),
      created: ctx.createdSeconds,
      model,
      serviceTier: answeredServiceTier(body.service_tier),
    };
    const top = body.logprobs === true ? Number(body.top_logprobs ?? 0) : undefined;
    const pieces = replies.map((r) => once(() => tokenPieces(model, r.kind === 'text' ? r.text : r.payload)));
    const logprobs = replies.map((r, i) =>
      once(() => (top !== undefined && r.kind === 'text' ? chatLogprobs(pieces[i]!(), top) : undefined)),
    );
    return {
      promptTokens: prompt,
      outputTokens: completion,
      body: () => chatCompletionBody(meta, replies, logprobs, usage),
      stream:
        body.stream === true
          ? () =>
              chatCompletionChunks(meta, replies, pieces, logprobs, includeUsage(body) ? usage : undefined)
          : undefined,
    };
  },
};

/** Why OpenAI would refuse this chat body: the checks its synchronous endpoint makes before running it. */
export function chatRefusal(body: RequestBody): RequestError | null {
  if (!Array.isArray(body.messages) || body.messages.length === 0) return missingParameter('messages');
  const model = String(body.model ?? '');
  const wrong = modelRefusal(model, 'chat', (right) => ({
    status: 404,
    message: `This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use ${right}?`,
    type: 'invalid_request_error',
    code: null,
    param: 'model',
  }));
  if (wrong) return wrong;
  for (const [i, m] of body.messages.entries()) {
    const role = (m as { role?: unknown } | null)?.role;
    if (!ROLES.includes(String(role))) {
      return role === undefined
        ? missingParameter(`messages[${i}].role`)
        : unsupportedValue(`messages[${i}].role`, role, ROLES);
    }
  }
  if (simulatedModelInfo(model)?.reasoning) {
    if (body.max_tokens !== undefined && body.max_tokens !== null) {
      return badRequest(
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        'max_tokens',
        'unsupported_parameter',
      );
    }
    if (typeof body.temperature === 'number' && body.temperature !== 1) {
      return badRequest(
        `Unsupported value: 'temperature' does not support ${body.temperature} with this model. Only the default (1) value is supported.`,
        'temperature',
        'unsupported_value',
      );
    }
  }
  const range =
    integerOutOfRange('n', body.n, 1, 128) ?? integerOutOfRange('top_logprobs', body.top_logprobs, 0, 20);
  if (range) return range;
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && body.logprobs !== true) {
    return badRequest(
      "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is specified.",
      'top_logprobs',
      'invalid_value',
    );
  }
  if (
    body.service_tier !== undefined &&
    body.service_tier !== null &&
    !SERVICE_TIERS.includes(String(body.service_tier))
  ) {
    return unsupportedValue('service_tier', body.service_tier, SERVICE_TIERS);
  }
  return streamOptionsRefusal(body) ?? toolRefusal(body) ?? responseFormatRefusal(body);
}

function toolRefusal(body: RequestBody): RequestError | null {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) return null;
  if (tools.length === 0) {
    return badRequest(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      'tool_choice',
      'invalid_value',
    );
  }
  if (typeof choice === 'string') {
    return ['none', 'auto', 'required'].includes(choice)
      ? null
      : unsupportedValue('tool_choice', choice, ['none', 'auto', 'required']);
  }
  const type = (choice as { type?: unknown }).type;
  if (type === 'allowed_tools') return null;
  const name = toolName(choice);
  if (!tools.some((t) => toolName(t) === name)) {
    return badRequest(
      `Invalid value for 'tool_choice': the tool '${String(name)}' is not among the 'tools' of this request.`,
      'tool_choice',
      'invalid_value',
    );
  }
  return null;
}

function responseFormatRefusal(body: RequestBody): RequestError | null {
  const format = body.response_format as
    | { type?: unknown; json_schema?: { name?: unknown } }
    | null
    | undefined;
  if (format === undefined || format === null) return null;
  if (!RESPONSE_FORMATS.includes(String(format.type))) {
    return unsupportedValue('response_format.type', format.type, RESPONSE_FORMATS);
  }
  if (format.type === 'json_schema') {
    if (!format.json_schema) return missingParameter('response_format.json_schema');
    if (typeof format.json_schema.name !== 'string')
      return missingParameter('response_format.json_schema.name');
  }
  if (format.type === 'json_object' && !/json/i.test(JSON.stringify(body.messages))) {
    return badRequest(
      "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
      'messages',
    );
  }
  return null;
}

/** The tier that answered: `auto` is served by `default`; a named tier answers as itself. */
export function answeredServiceTier(requested: unknown): string {
  return typeof requested === 'string' && requested !== 'auto' && SERVICE_TIERS.includes(requested)
    ? requested
    : 'default';
}

/** Tool and schema definitions are part of the prompt the model reads. */
function definitionTokens(model: string, body: RequestBody): number {
  const definitions = [
    body.tools,
    body.functions,
    (body.response_format as { json_schema?: unknown })?.json_schema,
  ];
  return definitions.reduce<number>(
    (sum, d) => sum + (d === undefined || d === null ? 0 : encodeText(model, JSON.stringify(d)).length),
    0,
  );
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

export function completionUsage(prompt: number, completion: number): CompletionUsage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString('base64url')}`;
}

interface ChatMeta {
  id: string;
  created: number;
  model: string;
  serviceTier: string;
}

type Lazy<T> = () => T;
function once<T>(make: () => T): Lazy<T> {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

function message(reply: ChatReply) {
  const base = { role: 'assistant', refusal: null, annotations: [] };
  switch (reply.kind) {
    case 'text':
      return { ...base, content: reply.text };
    case 'tool_call':
      return { ...base, content: null, tool_calls: [reply.call] };
    case 'function_call':
      return { ...base, content: null, function_call: { name: reply.name, arguments: reply.payload } };
    default: {
      const unreachable: never = reply;
      return unreachable;
    }
  }
}

/** The non-streamed `chat.completion` object, as the synchronous endpoint and batch output lines carry it. */
function chatCompletionBody(
  meta: ChatMeta,
  replies: ChatReply[],
  logprobs: Array<Lazy<TokenLogprob[] | undefined>>,
  usage: CompletionUsage,
) {
  return {
    id: meta.id,
    object: 'chat.completion' as const,
    created: meta.created,
    model: meta.model,
    choices: replies.map((reply, index) => {
      const content = logprobs[index]!();
      return {
        index,
        message: message(reply),
        logprobs: content ? { content, refusal: null } : null,
        finish_reason: reply.finish,
      };
    }),
    usage,
    service_tier: meta.serviceTier,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

/**
 * The streamed form: per choice a first chunk with the role (and the tool call's id and name), one
 * chunk per output piece (content, tool-call arguments or function arguments, with its logprobs),
 * a finish chunk; choices interleaved; then the usage chunk when asked.
 */
function chatCompletionChunks(
  meta: ChatMeta,
  replies: ChatReply[],
  pieces: Array<Lazy<TokenPiece[]>>,
  logprobs: Array<Lazy<TokenLogprob[] | undefined>>,
  usage: CompletionUsage | undefined,
): StreamChunk[] {
  const envelope = {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    service_tier: meta.serviceTier,
    system_fingerprint: SYSTEM_FINGERPRINT,
    ...(usage ? { usage: null } : {}),
  };
  const chunk = (index: number, delta: object, finish: string | null, lp: unknown, tokens: number) => ({
    data: { ...envelope, choices: [{ index, delta, logprobs: lp, finish_reason: finish }] },
    tokens,
  });
  const perChoice = replies.map((reply, index) => {
    const entries = logprobs[index]!();
    const parts = pieces[index]!();
    const first = chunk(index, firstDelta(reply), null, null, 0);
    const body = parts.map((p, k) =>
      chunk(
        index,
        pieceDelta(reply, p.text),
        null,
        entries ? { content: entries.slice(k, k + 1), refusal: null } : null,
        p.tokens,
      ),
    );
    return [first, ...body, chunk(index, {}, reply.finish, null, 0)];
  });
  const out = interleave(perChoice);
  if (usage) out.push({ data: { ...envelope, choices: [], usage }, tokens: 0 });
  return out;
}

function firstDelta(reply: ChatReply) {
  switch (reply.kind) {
    case 'text':
      return { role: 'assistant', content: '', refusal: null };
    case 'tool_call': {
      const call = reply.call;
      const named =
        call.type === 'custom'
          ? { custom: { name: call.custom.name, input: '' } }
          : { function: { name: call.function.name, arguments: '' } };
      return {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [{ index: 0, id: call.id, type: call.type, ...named }],
      };
    }
    case 'function_call':
      return {
        role: 'assistant',
        content: null,
        refusal: null,
        function_call: { name: reply.name, arguments: '' },
      };
    default: {
      const unreachable: never = reply;
      return unreachable;
    }
  }
}

function pieceDelta(reply: ChatReply, text: string) {
  switch (reply.kind) {
    case 'text':
      return { content: text };
    case 'tool_call':
      return {
        tool_calls: [
          reply.call.type === 'custom'
            ? { index: 0, custom: { input: text } }
            : { index: 0, function: { arguments: text } },
        ],
      };
    case 'function_call':
      return { function_call: { arguments: text } };
    default: {
      const unreachable: never = reply;
      return unreachable;
    }
  }
}
