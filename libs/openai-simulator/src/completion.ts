import { encoderFor, encodeText } from './internal/tokenizer';

interface Message {
  role?: unknown;
  content?: unknown;
  name?: unknown;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (p && typeof p === 'object' && 'text' in p ? String(p.text) : '')).join('');
  }
  return '';
}

/** prompt_tokens as OpenAI reports them: the model's tokenizer, 3 per message (+1 with name), +3 priming. */
export function promptTokens(model: string, messages: Message[]): number {
  let n = 3;
  for (const m of messages) {
    n += 3 + encodeText(model, textOf(m.content)).length + encodeText(model, String(m.role ?? '')).length;
    if (m.name) n += 1 + encodeText(model, String(m.name)).length;
  }
  return n;
}

export const SIMULATED_ANSWER_TEXT =
  "This is a simulated answer from Sluice's OpenAI simulator. It echoes nothing real, and counts its tokens exactly like the model would.";

type Answer = { content: string; tokens: number; finish: 'stop' | 'length' };
/** Answers per (model, max tokens): a 50,000-line batch would otherwise re-tokenise the same text 50,000 times. */
const answers = new Map<string, Answer>();
const MAX_CACHED_ANSWERS = 4096;

/** A deterministic answer cut to `maxTokens` tokens, with its exact token count. */
export function simulatedAnswer(model: string, maxTokens: number): Answer {
  const key = `${model}\u0000${maxTokens}`;
  const cached = answers.get(key);
  if (cached) return { ...cached };
  const enc = encoderFor(model);
  const all = enc.encode(SIMULATED_ANSWER_TEXT);
  const limit = Math.max(1, maxTokens);
  const kept = all.slice(0, limit);
  const answer: Answer = {
    content: enc.decode(kept),
    tokens: kept.length,
    finish: kept.length < all.length ? 'length' : 'stop',
  };
  if (answers.size >= MAX_CACHED_ANSWERS) answers.clear();
  answers.set(key, answer);
  return { ...answer };
}
