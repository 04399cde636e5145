/**
 * What a schema cannot see in a request's raw JSON but the rest of Sluice cannot take: text
 * Postgres refuses to store (NUL, unpaired surrogates — a request carrying them would be
 * accepted, then fail forever in the event store), nesting deep enough to overflow recursive
 * code, and prototype-poisoning keys (refused on every API alike, as Fastify does for /v1).
 */
export const MAX_JSON_DEPTH = 64;

export interface JsonProblem {
  /** Dotted path to the offending value, e.g. `messages.0.content` (empty for the root). */
  path: string;
  message: string;
}

function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000), which Sluice cannot store; remove it';
  // isWellFormed: a linear scan, ~20× faster than a look-around regex on text full of surrogate pairs.
  if (!s.isWellFormed())
    return 'contains an unpaired UTF-16 surrogate (not valid Unicode); send well-formed text';
  return undefined;
}

function pathOf(path: string[]): string {
  const s = path.join('.');
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

function segment(key: string | number): string {
  const s = String(key);
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}

/** The first problem found in `value` (iteratively: hostile nesting cannot overflow this walk). */
export function findUnsafeJson(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | undefined {
  return inspectJson(value, maxDepth).problem;
}

/**
 * One walk over a request's JSON: its first problem, or else how many characters of text its
 * string values hold (what decides where its token estimate is computed).
 */
export function inspectJson(
  value: unknown,
  maxDepth = MAX_JSON_DEPTH,
): { problem: JsonProblem; textChars?: undefined } | { problem?: undefined; textChars: number } {
  let textChars = 0;
  const stack: Array<{ value: unknown; path: string[]; depth: number }> = [{ value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return { problem: { path: pathOf(path), message: problem } };
      textChars += v.length;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) {
      return { problem: { path: pathOf(path), message: `nested deeper than ${maxDepth} levels` } };
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ value: v[i], path: [...path, String(i)], depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(v)) {
      const where = pathOf(path);
      if (key === '__proto__')
        return { problem: { path: where, message: 'a `__proto__` key is not accepted' } };
      const child = (v as Record<string, unknown>)[key];
      if (
        key === 'constructor' &&
        child !== null &&
        typeof child === 'object' &&
        Object.hasOwn(child, 'prototype')
      ) {
        return { problem: { path: where, message: 'a `constructor.prototype` key is not accepted' } };
      }
      const keyProblem = textProblem(key);
      if (keyProblem) return { problem: { path: where, message: `a key ${keyProblem}` } };
      stack.push({ value: child, path: [...path, segment(key)], depth: depth + 1 });
    }
  }
  return { textChars };
}
