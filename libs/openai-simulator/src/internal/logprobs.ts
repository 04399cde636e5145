import type { TokenPiece } from './tokenizer';

/** One output token's entry in `choices[].logprobs.content` (chat). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

/** Tokens a model might have said instead: the alternatives listed in `top_logprobs`. */
const ALTERNATIVES = [
  ' the',
  ' a',
  ',',
  '.',
  ' and',
  ' of',
  ' to',
  ' in',
  ' is',
  ' that',
  ' it',
  ' for',
  ' with',
  ' as',
  ' on',
  ' this',
  ' be',
  ' at',
  ' by',
  ' or',
  ' an',
];

/** FNV-1a: a small stable hash, so the same token at the same place always gets the same logprob. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const bytesOf = (text: string) => [...Buffer.from(text, 'utf8')];

/** A deterministic logprob in (-3, 0] for the piece at `position`. */
function logprobOf(piece: string, position: number): number {
  return -(fnv1a(`${position}\u0000${piece}`) % 3000) / 1000;
}

/** The top alternatives for one token, most likely first: the token itself, then others less likely. */
function topOf(token: string, logprob: number, top: number): Array<{ token: string; logprob: number }> {
  if (top <= 0) return [];
  const others = ALTERNATIVES.filter((t) => t !== token).slice(0, top - 1);
  return [{ token, logprob }, ...others.map((t, k) => ({ token: t, logprob: logprob - 1 - k * 0.5 }))];
}

/** Chat logprobs for output pieces (one per token, or per few tokens where a character spans them). */
export function chatLogprobs(pieces: readonly TokenPiece[], top: number): TokenLogprob[] {
  return pieces.map((p, position) => {
    const logprob = logprobOf(p.text, position);
    return {
      token: p.text,
      logprob,
      bytes: bytesOf(p.text),
      top_logprobs: topOf(p.text, logprob, top).map((t) => ({ ...t, bytes: bytesOf(t.token) })),
    };
  });
}

/** Legacy completions' `logprobs` object for pieces starting at character `offset`. */
export function completionLogprobs(pieces: readonly TokenPiece[], top: number, offset = 0) {
  const tokens: string[] = [];
  const tokenLogprobs: number[] = [];
  const topLogprobs: Array<Record<string, number>> = [];
  const textOffset: number[] = [];
  let at = offset;
  pieces.forEach((p, position) => {
    const logprob = logprobOf(p.text, position);
    tokens.push(p.text);
    tokenLogprobs.push(logprob);
    topLogprobs.push(Object.fromEntries(topOf(p.text, logprob, top).map((t) => [t.token, t.logprob])));
    textOffset.push(at);
    at += p.text.length;
  });
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: topLogprobs, text_offset: textOffset };
}
