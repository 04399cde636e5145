/** A line on stdout (results); messages about progress and errors go to stderr. */
export function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** A plain text table: columns padded to their widest cell, a dashed rule under the head. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * Runs a command against a session (a database, a running server …): errors are printed as one
 * plain line and exit non-zero; a number returned is the exit code; the session is always closed.
 */
export async function withSession<S extends { close(): Promise<void> }>(
  open: () => Promise<S>,
  fn: (session: S) => Promise<unknown>,
): Promise<void> {
  let session: S | undefined;
  try {
    session = await open();
    const code = await fn(session);
    if (typeof code === 'number') process.exitCode = code;
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await session?.close().catch(() => {});
  }
}
