import { SluiceError } from '@sluice/events';
import { estimateChatTokens, modelInfo } from '@sluice/limiter';
import { simulatedEndpoints } from '@sluice/openai-simulator';
import type { Response } from 'openai/resources/responses/responses';
import { type Operation, serviceTierOf, type Usage } from '../operation';
import { typedEventStreamPolicy } from '../stream-policies';
import { responseAssembler } from './assemble';
import { backgroundPolicy, settlePolicy } from './background';
import { responseToEvents } from './events';
import { conversationOf, type ResponsesRequest, ResponsesRequestSchema, stateRefsOf } from './request';

type Part = { type?: string; text?: string; image_url?: unknown; detail?: unknown };

/** Parts as the chat estimator reads them: text as text, images as images, the rest counted as JSON. */
function chatParts(content: unknown): unknown {
  if (!Array.isArray(content)) return content ?? '';
  return content.map((raw) => {
    const p = (raw ?? {}) as Part;
    if (p.type === 'input_text' || p.type === 'output_text') return { type: 'text', text: p.text ?? '' };
    if (p.type === 'input_image' && typeof p.image_url === 'string')
      return { type: 'image_url', image_url: { url: p.image_url, detail: p.detail } };
    return p;
  });
}

/**
 * The request as the chat messages the limiter's estimator counts: instructions, messages, tool
 * calls and their outputs (the Responses API reads the same tokens, with the model's encoding).
 */
function estimatedMessages(body: ResponsesRequest): unknown[] {
  const messages: unknown[] = [];
  if (body.instructions) messages.push({ role: 'developer', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  for (const item of Array.isArray(body.input) ? body.input : []) {
    if (item.type === undefined || item.type === 'message')
      messages.push({ role: item.role ?? 'user', content: chatParts(item.content) });
    else if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output')
      messages.push({ role: 'tool', content: chatParts(item.output), tool_call_id: item.call_id ?? '' });
    else if (item.type !== 'item_reference')
      // An earlier output item sent again (a function call, reasoning): read as it is written.
      messages.push({ role: 'assistant', content: [item] });
  }
  return messages.length ? messages : [{ role: 'user', content: '' }];
}

/** Built-in tools the upstream runs itself, each call a billable unit: every `*_call` item but the caller's own tools. */
const CALLER_RUN_CALLS: ReadonlySet<string> = new Set([
  'function_call',
  'custom_tool_call',
  'computer_call',
  'local_shell_call',
  'shell_call',
  'apply_patch_call',
]);

/** Built-in tool calls of an answer by kind (`web_search_call: 2`): the units billing prices per call. */
export function builtInToolCalls(r: Pick<Response, 'output'>): Record<string, number> {
  const units: Record<string, number> = {};
  for (const item of r.output ?? []) {
    const type = (item as { type?: unknown }).type;
    if (typeof type === 'string' && type.endsWith('_call') && !CALLER_RUN_CALLS.has(type))
      units[type] = (units[type] ?? 0) + 1;
  }
  return units;
}

const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0);

/** `POST /v1/responses`: OpenAI's recommended interface, on the same per-model limits as chat. */
export const responses: Operation<'/v1/responses', ResponsesRequest, Response> = {
  endpoint: '/v1/responses',
  request: ResponsesRequestSchema,
  models: {
    // Every chat model, and the models served only here.
    known: /^(gpt-(?!3\.5-turbo-instruct)(3\.5-turbo|4|5)|o\d|chatgpt-|codex-|computer-use-)/,
    refuse: (model, right) => ({
      status: 400,
      message: `The model \`${model}\` is not supported with the Responses API; it is served by ${right.slice(1)}.`,
    }),
  },
  estimate: (body) =>
    estimateChatTokens({
      model: body.model,
      messages: estimatedMessages(body),
      tools: body.tools ?? undefined,
      // `max_output_tokens` includes the reasoning tokens: all of it is charged.
      max_completion_tokens: body.max_output_tokens ?? undefined,
      response_format:
        body.text?.format?.type === 'json_schema'
          ? { type: 'json_schema', json_schema: body.text.format }
          : undefined,
    }),
  fit(body, model, estimate) {
    const info = modelInfo(model);
    if (estimate.promptTokens > info.contextWindow)
      throw new SluiceError(
        'request_too_large',
        `Your input exceeds the context window of this model: about ${estimate.promptTokens} tokens, at most ${info.contextWindow}. Please adjust your input and try again.`,
        { details: { param: 'input', openaiCode: 'context_length_exceeded' } },
      );
    if (body.max_output_tokens != null && body.max_output_tokens > info.maxOutputTokens)
      throw new SluiceError(
        'invalid_request',
        `max_output_tokens is too large: ${body.max_output_tokens}. This model supports at most ${info.maxOutputTokens} output tokens.`,
        { details: { param: 'max_output_tokens' } },
      );
    if (body.background === true && body.stream === true)
      throw new SluiceError(
        'invalid_request',
        'stream: true with background: true is not served yet: it comes with Sluice’s streaming transport. Create the response in the background and poll GET /v1/responses/{id}.',
        { details: { param: 'stream' } },
      );
  },
  usage(r): Usage | undefined {
    const u = r.usage;
    if (!u || typeof u !== 'object') return undefined;
    const promptTokens = count(u.input_tokens);
    const completionTokens = count(u.output_tokens);
    return {
      promptTokens,
      cachedTokens: count(u.input_tokens_details?.cached_tokens),
      completionTokens,
      reasoningTokens: count(u.output_tokens_details?.reasoning_tokens),
      totalTokens: count(u.total_tokens) || promptTokens + completionTokens,
      serviceTier: serviceTierOf(r),
      units: builtInToolCalls(r),
    };
  },
  cache: {
    // Explicitly `temperature: 0`, and nothing that changes between two equal requests: a
    // conversation grows, built-in tools (web search) read the world, background work is polled.
    deterministic: (body) =>
      body.temperature === 0 &&
      body.background !== true &&
      conversationOf(body) === undefined &&
      (body.tools ?? []).every((t) => t.type === 'function' || t.type === 'custom'),
    storable: (r) => r.status === 'completed',
  },
  batch: { url: '/v1/responses' },
  stream: typedEventStreamPolicy({ assembler: responseAssembler, chunks: responseToEvents }),
  priceTable: 'tokens',
  simulator: simulatedEndpoints.responses,
  upstreamState: stateRefsOf,
  deferred: backgroundPolicy,
  settle: settlePolicy,
};
