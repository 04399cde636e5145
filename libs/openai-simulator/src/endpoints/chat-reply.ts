import { randomBytes } from 'node:crypto';
import { SIMULATED_ANSWER_TEXT, simulatedAnswer } from '../completion';
import {
  cutAtStop,
  isJsonObject as isObject,
  outputLimit,
  type RequestBody,
  stopSequences,
} from '../endpoint';
import { cutToTokens } from '../internal/tokenizer';
import { jsonSchemaInstance } from '../json-schema-instance';

/**
 * What the simulated assistant replies to a chat body, deterministically: a tool call when the
 * body's tools and `tool_choice` call for one, a JSON instance of the `response_format` schema, a
 * sentence about a tool's result after a `tool` message, else the canned answer.
 */
export type ChatReply =
  | { kind: 'text'; text: string; tokens: number; finish: 'stop' | 'length' }
  | {
      kind: 'tool_call';
      call: FunctionToolCall | CustomToolCall;
      /** What streams and counts: the arguments (function) or the input (custom). */
      payload: string;
      tokens: number;
      finish: 'tool_calls' | 'length';
    }
  | {
      kind: 'function_call';
      name: string;
      payload: string;
      tokens: number;
      finish: 'function_call' | 'length';
    };

export interface FunctionToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface CustomToolCall {
  id: string;
  type: 'custom';
  custom: { name: string; input: string };
}

type Json = Record<string, unknown>;

/** A tool's name, whatever its shape: `{type:'function', function:{name}}`, `{type:'custom', custom:{name}}`, `{name}`. */
export function toolName(tool: unknown): string | undefined {
  if (!isObject(tool)) return undefined;
  const inner = isObject(tool.function) ? tool.function : isObject(tool.custom) ? tool.custom : tool;
  return typeof inner.name === 'string' ? inner.name : undefined;
}

function toolsOf(body: RequestBody): Json[] {
  return Array.isArray(body.tools) ? body.tools.filter(isObject) : [];
}

function messagesOf(body: RequestBody): Json[] {
  return Array.isArray(body.messages) ? body.messages.filter(isObject) : [];
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
  return content === undefined || content === null ? '' : JSON.stringify(content);
}

/**
 * The tool `tool_choice` calls for: `required`, a named tool, `allowed_tools` in `required` mode, or —
 * with `auto` or none given — when the last message is the user's (a tool result asks for an answer).
 */
export function toolToCall(body: RequestBody): Json | undefined {
  const tools = toolsOf(body);
  if (tools.length === 0) return undefined;
  const messages = messagesOf(body);
  const last = messages.at(-1);
  const userAsked = last?.role === 'user';
  const choice = body.tool_choice;
  if (choice === 'none') return undefined;
  if (choice === 'required') return likeliestTool(tools, last);
  if (isObject(choice)) {
    if (choice.type === 'allowed_tools') {
      const allowed = isObject(choice.allowed_tools) ? choice.allowed_tools : {};
      const names = new Set((Array.isArray(allowed.tools) ? allowed.tools : []).map(toolName));
      const candidates = tools.filter((t) => names.has(toolName(t)));
      if (candidates.length === 0) return undefined;
      return allowed.mode === 'required' || userAsked ? likeliestTool(candidates, last) : undefined;
    }
    const name = toolName(choice);
    return tools.find((t) => toolName(t) === name);
  }
  return userAsked ? likeliestTool(tools, last) : undefined;
}

/** The first tool named in the user's words (`get_weather` for "what's the weather?"), else the first tool. */
function likeliestTool(tools: Json[], last: Json | undefined): Json {
  const said = textOf(last?.content).toLowerCase();
  const named = tools.find((t) =>
    (toolName(t) ?? '')
      .split(/[_\-.\s]|(?=[A-Z])/)
      .some((word) => word.length > 2 && said.includes(word.toLowerCase())),
  );
  return named ?? tools[0]!;
}

/** The legacy `functions` / `function_call` equivalent of `toolToCall`. */
function functionToCall(body: RequestBody): Json | undefined {
  const functions = Array.isArray(body.functions) ? body.functions.filter(isObject) : [];
  if (functions.length === 0 || body.function_call === 'none') return undefined;
  if (isObject(body.function_call))
    return functions.find((f) => f.name === (body.function_call as Json).name);
  return messagesOf(body).at(-1)?.role === 'user'
    ? likeliestTool(functions, messagesOf(body).at(-1))
    : undefined;
}

export function newToolCallId(): string {
  return `call_${randomBytes(12).toString('base64url')}`;
}

/** The reply of choice `index` (0..n-1): choices after the first differ slightly (their strings and numbers). */
export function chatReply(model: string, body: RequestBody, index: number): ChatReply {
  const limit = outputLimit(body);
  const cut = (text: string) => cutToTokens(model, text, limit ?? Number.POSITIVE_INFINITY);

  const tool = toolToCall(body);
  if (tool) {
    const name = toolName(tool) ?? 'tool';
    const custom = tool.type === 'custom';
    const schema = isObject(tool.function) ? tool.function.parameters : undefined;
    const payload = custom ? `example input for ${name}` : JSON.stringify(argumentsFor(schema, index));
    const out = cut(payload);
    const id = newToolCallId();
    return {
      kind: 'tool_call',
      call: custom
        ? { id, type: 'custom', custom: { name, input: out.text } }
        : { id, type: 'function', function: { name, arguments: out.text } },
      payload: out.text,
      tokens: out.tokens,
      finish: out.cut ? 'length' : 'tool_calls',
    };
  }
  const fn = functionToCall(body);
  if (fn) {
    const out = cut(JSON.stringify(argumentsFor(fn.parameters, index)));
    return {
      kind: 'function_call',
      name: typeof fn.name === 'string' ? fn.name : 'function',
      payload: out.text,
      tokens: out.tokens,
      finish: out.cut ? 'length' : 'function_call',
    };
  }

  const stops = stopSequences(body.stop);
  const format = isObject(body.response_format) ? body.response_format : undefined;
  let text: string;
  if (format?.type === 'json_schema') {
    const spec = isObject(format.json_schema) ? format.json_schema : {};
    text = JSON.stringify(jsonSchemaInstance(spec.schema ?? { type: 'object' }, { variant: index }));
  } else if (format?.type === 'json_object') {
    text = JSON.stringify({ answer: variantOf(SIMULATED_ANSWER_TEXT, index) });
  } else {
    const last = messagesOf(body).at(-1);
    if (last?.role === 'tool' || last?.role === 'function') {
      text = variantOf(`The tool returned: ${textOf(last.content).slice(0, 200)}`, index);
    } else if (index === 0 && stops.length === 0) {
      // The common case, cached: a 50,000-line batch asks for the same answer 50,000 times.
      const answer = simulatedAnswer(model, limit ?? 64);
      return { kind: 'text', text: answer.content, tokens: answer.tokens, finish: answer.finish };
    } else {
      text = variantOf(SIMULATED_ANSWER_TEXT, index);
    }
  }
  const stopped = cutAtStop(text, stops);
  const out = cut(stopped.text);
  return { kind: 'text', text: out.text, tokens: out.tokens, finish: out.cut ? 'length' : 'stop' };
}

function variantOf(text: string, index: number): string {
  return index === 0 ? text : `${text} (choice ${index + 1})`;
}

function argumentsFor(schema: unknown, index: number): unknown {
  return schema === undefined ? {} : jsonSchemaInstance(schema, { variant: index });
}
