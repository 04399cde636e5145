/**
 * Reads a chat stream to its end: its text, and when each chunk arrived (ms after `started`).
 * `spreadOver(arrivals, gapMs)`: the chunks spread over the generation (half the upstream's own
 * gaps at least), as they do when relayed as generated; a buffered answer's arrive all at once.
 */
export async function readChatStream(
  stream: AsyncIterable<{ choices: Array<{ delta: { content?: string | null } }> }>,
  started: number,
): Promise<{ text: string; arrivals: number[] }> {
  const arrivals: number[] = [];
  let text = '';
  for await (const chunk of stream) {
    arrivals.push(Date.now() - started);
    text += chunk.choices[0]?.delta.content ?? '';
  }
  return { text, arrivals };
}

export function spreadOver(arrivals: readonly number[], gapMs: number): boolean {
  return (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0) > gapMs * (arrivals.length - 2) * 0.5;
}
