import { getEncoding, type Tiktoken } from 'js-tiktoken';
import { bytePairEncode, latin1Ranks } from './byte-pair';

export type EncodingName = 'o200k_base' | 'cl100k_base';

/** One of OpenAI's encodings. Special-token text (`<|endoftext|>`) is plain text, as in user input. */
export interface Tokenizer {
  encode(text: string): number[];
  /** `encode(text).length`, remembering each regex piece's count (text repeats its words a lot). */
  count(text: string): number;
  /** Throws on an id outside the vocabulary. */
  decode(tokens: readonly number[]): string;
}

/** How many distinct pieces `count` remembers before it starts over. */
const PIECE_MEMO_SIZE = 200_000;

const tokenizers = new Map<EncodingName, Tokenizer>();

/** Vocabularies are large: each is loaded once per process, on first use. */
export function tokenizer(name: EncodingName): Tokenizer {
  let t = tokenizers.get(name);
  if (!t) {
    t = createTokenizer(getEncoding(name));
    tokenizers.set(name, t);
  }
  return t;
}

/**
 * js-tiktoken's vocabulary and pre-tokenizing regex, with its byte-pair merge replaced: that one
 * is quadratic in a piece's length (16 KB of one letter took 18 s), this one is O(n log n).
 */
function createTokenizer(enc: Tiktoken): Tokenizer {
  // js-tiktoken keeps both internal; its version is pinned, and the tests hold the results equal.
  const internals = enc as unknown as { patStr: string; rankMap: Map<string, number> };
  const ranks = latin1Ranks(internals.rankMap);
  const pattern = new RegExp(internals.patStr, 'gu');
  const memo = new Map<string, number>();

  function* pieces(text: string): Generator<string> {
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      if (m[0].length === 0) {
        pattern.lastIndex++;
        continue;
      }
      yield m[0];
    }
  }
  const encodePiece = (piece: string) => bytePairEncode(Buffer.from(piece, 'utf8').toString('latin1'), ranks);

  return {
    encode(text) {
      const out: number[] = [];
      for (const piece of pieces(text)) for (const token of encodePiece(piece)) out.push(token);
      return out;
    },
    count(text) {
      let n = 0;
      for (const piece of pieces(text)) {
        let k = memo.get(piece);
        if (k === undefined) {
          k = encodePiece(piece).length;
          if (memo.size >= PIECE_MEMO_SIZE) memo.clear();
          memo.set(piece, k);
        }
        n += k;
      }
      return n;
    },
    decode: (tokens) => enc.decode([...tokens]),
  };
}
