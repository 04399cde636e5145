import { serviceTierOf, type Usage } from './operation';

interface CompletionUsageFields {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
}

const tokens = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0);

/**
 * Usage in the `usage` shape chat completions, legacy completions and embeddings report
 * (`prompt_tokens`, `completion_tokens`, their details); undefined when the answer has none.
 */
export function reportedTokenUsage(result: unknown): Usage | undefined {
  const u = (result as { usage?: CompletionUsageFields | null } | null)?.usage;
  if (!u || typeof u !== 'object') return undefined;
  const promptTokens = tokens(u.prompt_tokens);
  const completionTokens = tokens(u.completion_tokens);
  return {
    promptTokens,
    cachedTokens: tokens(u.prompt_tokens_details?.cached_tokens),
    completionTokens,
    reasoningTokens: tokens(u.completion_tokens_details?.reasoning_tokens),
    totalTokens: tokens(u.total_tokens) || promptTokens + completionTokens,
    serviceTier: serviceTierOf(result),
    units: {},
  };
}

/** Every choice finished normally (`stop`, `length`, `tool_calls`): an answer worth storing. */
export function finishedNormally(result: { choices?: readonly unknown[] }): boolean {
  const choices = result.choices ?? [];
  return (
    choices.length > 0 &&
    choices.every((c) => NORMAL_FINISH.has((c as { finish_reason?: unknown } | null)?.finish_reason))
  );
}

const NORMAL_FINISH: ReadonlySet<unknown> = new Set(['stop', 'length', 'tool_calls']);
