import { type Tokenizer, tokenizer } from '@sluice/tokenizer';

/** The model's own encoding: cl100k_base for the gpt-4 / 3.5 / embedding / legacy families, o200k_base after. */
export function encoderFor(model: string): Tokenizer {
  return tokenizer(
    /^(gpt-4-|gpt-4$|gpt-3\.5|text-embedding|davinci-002|babbage-002|text-moderation)/.test(model)
      ? 'cl100k_base'
      : 'o200k_base',
  );
}

/** Tokens of `text`; special-token text such as `<|endoftext|>` counts as plain text, as OpenAI counts user input. */
export function encodeText(model: string, text: string): number[] {
  return encoderFor(model).encode(text);
}

/** Text of token ids, or undefined when an id is not in the model's vocabulary. */
export function decodeTokens(model: string, tokens: readonly number[]): string | undefined {
  try {
    return encoderFor(model).decode(tokens);
  } catch {
    return undefined;
  }
}

/** One streamed piece of output: its text and how many tokens it holds (one, or a few when a character spans tokens). */
export interface TokenPiece {
  text: string;
  tokens: number;
}

/**
 * The tokens of `text` as pieces that each decode to whole characters: a token that ends inside a
 * multi-byte character is joined with the next, so no chunk ever carries half a character.
 */
export function tokenPieces(model: string, text: string): TokenPiece[] {
  const enc = encoderFor(model);
  const pieces: TokenPiece[] = [];
  let pending: number[] = [];
  for (const token of encodeText(model, text)) {
    pending.push(token);
    const piece = enc.decode(pending);
    if (!piece.endsWith('\uFFFD')) {
      pieces.push({ text: piece, tokens: pending.length });
      pending = [];
    }
  }
  if (pending.length > 0) pieces.push({ text: enc.decode(pending), tokens: pending.length });
  return pieces;
}

/** The first `maxTokens` tokens of `text` (whole characters), and whether it was cut. */
export function cutToTokens(
  model: string,
  text: string,
  maxTokens: number,
): { text: string; tokens: number; cut: boolean } {
  const all = encodeText(model, text);
  if (all.length <= maxTokens) return { text, tokens: all.length, cut: false };
  const kept = all.slice(0, Math.max(1, maxTokens));
  return {
    text: encoderFor(model)
      .decode(kept)
      .replace(/\uFFFD+$/, ''),
    tokens: kept.length,
    cut: true,
  };
}
