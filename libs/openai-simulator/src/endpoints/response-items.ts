import { randomBytes } from 'node:crypto';
import { isJsonObject as isObject, type RequestBody, type StreamChunk } from '../endpoint';
import { encodeText, tokenPieces } from '../internal/tokenizer';
import type { ChatReply } from './chat-reply';

/** One item of a Responses API input or output (message, function_call, reasoning, …), loosely typed. */
export type Item = Record<string, unknown>;

/** The built-in web search tool under each name OpenAI has given it. */
export const WEB_SEARCH_TOOLS: ReadonlySet<unknown> = new Set([
  'web_search',
  'web_search_preview',
  'web_search_2025_08_26',
  'web_search_preview_2025_03_11',
]);

export const itemId = (prefix: string) => `${prefix}_${randomBytes(24).toString('hex')}`;

/** The text of a content list or string, as the model reads it (images and files as a marker). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    return content === undefined || content === null ? '' : JSON.stringify(content);
  return content
    .map((p) => {
      if (!isObject(p)) return '';
      if (typeof p.text === 'string') return p.text;
      if (typeof p.refusal === 'string') return p.refusal;
      if (p.type === 'input_image') return '[image]';
      if (p.type === 'input_file') return '[file]';
      return '';
    })
    .join('');
}

/**
 * `input` as items, each with an id (what `input_items` lists): a string is one user message, a
 * message without `type` is a message, and string content becomes one text part. `item_reference`
 * items are resolved by `resolve` (earlier items this owner's responses produced).
 */
export function inputItems(input: unknown, resolve: (id: string) => Item | undefined): Item[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [userMessage(input)];
  if (!Array.isArray(input)) return [];
  return input.filter(isObject).map((raw) => {
    if (raw.type === 'item_reference') return resolve(String(raw.id)) ?? raw;
    if (raw.type === undefined || raw.type === 'message') {
      const role = String(raw.role ?? 'user');
      const partType = role === 'assistant' ? 'output_text' : 'input_text';
      const content =
        typeof raw.content === 'string' ? [{ type: partType, text: raw.content }] : (raw.content ?? []);
      return { id: itemId('msg'), ...raw, type: 'message', role, content };
    }
    return { ...raw, id: typeof raw.id === 'string' ? raw.id : itemId(idPrefix(raw.type)) };
  });
}

function userMessage(text: string): Item {
  return { id: itemId('msg'), type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
}

function idPrefix(type: unknown): string {
  switch (type) {
    case 'function_call':
      return 'fc';
    case 'function_call_output':
      return 'fco';
    case 'reasoning':
      return 'rs';
    default:
      return 'item';
  }
}

/**
 * The conversation as chat messages, so the chat simulator's reply logic answers it: messages by
 * role, function calls as assistant tool calls, their outputs as `tool` messages; reasoning and
 * built-in tool calls are context the model does not repeat.
 */
export function chatMessages(instructions: unknown, items: readonly Item[]): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [];
  if (typeof instructions === 'string' && instructions)
    messages.push({ role: 'developer', content: instructions });
  for (const item of items) {
    switch (item.type) {
      case 'message':
        messages.push({ role: item.role, content: contentText(item.content) });
        break;
      case 'function_call':
        messages.push({
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } },
          ],
        });
        break;
      case 'custom_tool_call':
        messages.push({
          role: 'assistant',
          content: null,
          tool_calls: [{ id: item.call_id, type: 'custom', custom: { name: item.name, input: item.input } }],
        });
        break;
      case 'function_call_output':
      case 'custom_tool_call_output':
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: contentText(item.output) });
        break;
      default:
        break;
    }
  }
  return messages;
}

/** Function and custom tools in the chat shape (`{type:'function', function:{…}}`); built-in tools are not the model's to call. */
export function chatTools(tools: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(tools)) return [];
  return tools.filter(isObject).flatMap((t): Array<Record<string, unknown>> => {
    if (t.type === 'function')
      return [
        {
          type: 'function',
          function: { name: t.name, description: t.description, parameters: t.parameters },
        },
      ];
    if (t.type === 'custom') return [{ type: 'custom', custom: { name: t.name } }];
    return [];
  });
}

/** `tool_choice` in the chat shape; a built-in tool forced (`{type:'web_search'}`) leaves the model's tools alone. */
export function chatToolChoice(choice: unknown): unknown {
  if (!isObject(choice)) return choice;
  if (choice.type === 'function') return { type: 'function', function: { name: choice.name } };
  if (choice.type === 'custom') return { type: 'custom', custom: { name: choice.name } };
  if (choice.type === 'allowed_tools')
    return { type: 'allowed_tools', allowed_tools: { mode: choice.mode, tools: choice.tools } };
  return 'none';
}

/** `text.format` as chat's `response_format`. */
export function chatResponseFormat(format: unknown): unknown {
  if (!isObject(format)) return undefined;
  if (format.type === 'json_schema')
    return {
      type: 'json_schema',
      json_schema: { name: format.name, schema: format.schema, strict: format.strict },
    };
  return format.type === 'json_object' ? { type: 'json_object' } : undefined;
}

/** Whether the body offers the built-in web search and lets the model use it. */
export function offersWebSearch(body: RequestBody): boolean {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  return body.tool_choice !== 'none' && tools.some((t) => isObject(t) && WEB_SEARCH_TOOLS.has(t.type));
}

/** Tokens the model reads for the items, the instructions and the tool and schema definitions. */
export function itemTokens(model: string, items: readonly Item[]): number {
  let n = 0;
  for (const item of items) {
    const text =
      item.type === 'message'
        ? contentText(item.content)
        : item.type === 'function_call'
          ? `${item.name}${item.arguments}`
          : item.type === 'function_call_output'
            ? contentText(item.output)
            : '';
    n += 4 + encodeText(model, text).length;
  }
  return n;
}

export function definitionTokens(model: string, body: RequestBody): number {
  const text = isObject(body.text) ? body.text : {};
  const parts = [body.instructions, body.tools, text.format];
  return parts.reduce<number>(
    (sum, d) =>
      sum +
      (d === undefined || d === null
        ? 0
        : encodeText(model, typeof d === 'string' ? d : JSON.stringify(d)).length),
    0,
  );
}

/** What the simulated model produced for one response, before it is shaped as output items. */
export interface Generated {
  reasoning: { tokens: number; summary: string | null } | null;
  search: { query: string } | null;
  reply: ChatReply | null;
  /** The reply was cut at `max_output_tokens` (or reasoning used it all). */
  incomplete: boolean;
}

const CITATION = { url: 'https://example.com/sluice-simulator', title: 'Sluice simulator search result' };

/** The output items of what was generated, with fresh ids. */
export function outputItems(g: Generated, status: 'completed' | 'incomplete'): Item[] {
  const items: Item[] = [];
  if (g.reasoning)
    items.push({
      id: itemId('rs'),
      type: 'reasoning',
      summary: g.reasoning.summary ? [{ type: 'summary_text', text: g.reasoning.summary }] : [],
    });
  if (g.search)
    items.push({
      id: itemId('ws'),
      type: 'web_search_call',
      status: 'completed',
      action: { type: 'search', query: g.search.query },
    });
  const reply = g.reply;
  if (!reply) return items;
  switch (reply.kind) {
    case 'text':
    case 'function_call':
      items.push({
        id: itemId('msg'),
        type: 'message',
        status,
        role: 'assistant',
        content: [
          {
            type: 'output_text',
            text: reply.kind === 'text' ? reply.text : reply.payload,
            annotations:
              g.search && reply.kind === 'text'
                ? [
                    {
                      type: 'url_citation',
                      start_index: 0,
                      end_index: Math.min(20, reply.text.length),
                      ...CITATION,
                    },
                  ]
                : [],
            logprobs: [],
          },
        ],
      });
      break;
    case 'tool_call': {
      const call = reply.call;
      items.push(
        call.type === 'custom'
          ? {
              id: itemId('ctc'),
              type: 'custom_tool_call',
              status: 'completed',
              call_id: call.id,
              name: call.custom.name,
              input: call.custom.input,
            }
          : {
              id: itemId('fc'),
              type: 'function_call',
              status: 'completed',
              call_id: call.id,
              name: call.function.name,
              arguments: call.function.arguments,
            },
      );
      break;
    }
    default: {
      const never: never = reply;
      return never;
    }
  }
  return items;
}

/**
 * The typed events of a streamed response, in OpenAI's order: `response.created`,
 * `response.in_progress`, per output item its `output_item.added`, its parts and deltas and
 * `output_item.done`, then `response.completed` / `response.incomplete` with usage — or, when the
 * generation fails midway, `response.failed` after the first item. Each carries `sequence_number`.
 */
export function responseEvents(
  model: string,
  started: Record<string, unknown>,
  final: Record<string, unknown>,
  reasoningTokens: number,
): StreamChunk[] {
  const chunks: StreamChunk[] = [];
  const push = (type: string, data: Record<string, unknown>, tokens = 0) =>
    chunks.push({ event: type, data: { type, sequence_number: chunks.length, ...data }, tokens });
  push('response.created', { response: started });
  push('response.in_progress', { response: started });
  const output = (final.output as Item[]) ?? [];
  output.forEach((item, output_index) => {
    const id = item.id;
    switch (item.type) {
      case 'reasoning':
        push('response.output_item.added', { output_index, item: { ...item, summary: [] } });
        (item.summary as Item[]).forEach((part, summary_index) => {
          push('response.reasoning_summary_part.added', {
            item_id: id,
            output_index,
            summary_index,
            part: { type: 'summary_text', text: '' },
          });
          push('response.reasoning_summary_text.delta', {
            item_id: id,
            output_index,
            summary_index,
            delta: part.text,
          });
          push('response.reasoning_summary_text.done', {
            item_id: id,
            output_index,
            summary_index,
            text: part.text,
          });
          push('response.reasoning_summary_part.done', { item_id: id, output_index, summary_index, part });
        });
        // The model's thinking time: paced like the reasoning tokens it spent.
        push('response.output_item.done', { output_index, item }, reasoningTokens);
        return;
      case 'web_search_call':
        push('response.output_item.added', {
          output_index,
          item: { id, type: item.type, status: 'in_progress' },
        });
        push('response.web_search_call.in_progress', { output_index, item_id: id });
        push('response.web_search_call.searching', { output_index, item_id: id });
        push('response.web_search_call.completed', { output_index, item_id: id });
        push('response.output_item.done', { output_index, item });
        return;
      case 'message': {
        const part = (item.content as Item[])[0] ?? { type: 'output_text', text: '', annotations: [] };
        push('response.output_item.added', {
          output_index,
          item: { ...item, status: 'in_progress', content: [] },
        });
        push('response.content_part.added', {
          item_id: id,
          output_index,
          content_index: 0,
          part: { ...part, text: '', annotations: [] },
        });
        for (const piece of tokenPieces(model, String(part.text)))
          push(
            'response.output_text.delta',
            { item_id: id, output_index, content_index: 0, delta: piece.text, logprobs: [] },
            piece.tokens,
          );
        (part.annotations as Item[]).forEach((annotation, annotation_index) => {
          push('response.output_text.annotation.added', {
            item_id: id,
            output_index,
            content_index: 0,
            annotation_index,
            annotation,
          });
        });
        push('response.output_text.done', {
          item_id: id,
          output_index,
          content_index: 0,
          text: part.text,
          logprobs: [],
        });
        push('response.content_part.done', { item_id: id, output_index, content_index: 0, part });
        push('response.output_item.done', { output_index, item });
        return;
      }
      case 'function_call':
      case 'custom_tool_call': {
        const fn = item.type === 'function_call';
        const payload = String(fn ? item.arguments : item.input);
        push('response.output_item.added', {
          output_index,
          item: { ...item, status: 'in_progress', ...(fn ? { arguments: '' } : { input: '' }) },
        });
        const delta = fn ? 'response.function_call_arguments.delta' : 'response.custom_tool_call_input.delta';
        for (const piece of tokenPieces(model, payload))
          push(delta, { item_id: id, output_index, delta: piece.text }, piece.tokens);
        push(fn ? 'response.function_call_arguments.done' : 'response.custom_tool_call_input.done', {
          item_id: id,
          output_index,
          ...(fn ? { name: item.name, arguments: payload } : { input: payload }),
        });
        push('response.output_item.done', { output_index, item });
        return;
      }
      default:
        push('response.output_item.added', { output_index, item });
        push('response.output_item.done', { output_index, item });
    }
  });
  const status = final.status;
  push(
    status === 'failed'
      ? 'response.failed'
      : status === 'incomplete'
        ? 'response.incomplete'
        : 'response.completed',
    { response: final },
  );
  return chunks;
}
