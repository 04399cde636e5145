import type { Command } from 'commander';
import { withBilling } from './billing-session';
import { out } from './output';

/** `sluice replay`: rebuilds every projection from the event store alone, with progress. */
export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('rebuild every projection (requests, usage rollups) from the event store alone')
    .action(() =>
      withBilling(
        async (s) => {
          if (!s.replay) throw new Error('replay needs direct access to the database');
          const started = Date.now();
          let last = 0;
          const done = await s.replay((n, total) => {
            if (Date.now() - last < 500 && n < total) return;
            last = Date.now();
            const pct = total ? ((100 * n) / total).toFixed(1) : '100.0';
            process.stderr.write(`replayed ${n} / ${total} events (${pct}%)\n`);
          });
          out(
            `replayed ${done} events into fresh projections in ${((Date.now() - started) / 1000).toFixed(1)} s`,
          );
        },
        { direct: true },
      ),
    );
}
