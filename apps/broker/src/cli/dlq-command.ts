import type { Command } from 'commander';
import { auditedAction, createAdminActions } from '../audit/admin-actions';
import { createDeadLetters, type DeadLetterEntry } from '../dlq/dead-letters';
import { loadConfig } from '../env';
import { createEventStore } from '../store/event-store';
import { openDataAccess } from './data-access';
import { openLog } from './open-log';
import { out, table, withSession } from './output';

interface DlqOps {
  list(all: boolean): Promise<DeadLetterEntry[]>;
  retry(id: string): Promise<{ requestId: string; retryRequestId: string; alreadyRetried: boolean }>;
  discard(id: string): Promise<{ requestId: string; discarded: boolean }>;
  close(): Promise<void>;
}

/** `sluice dlq list|retry|discard`: recover requests whose retries were exhausted. */
export function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('dead-lettered requests: list, retry or discard them');
  dlq
    .command('list')
    .description('requests whose upstream retries were exhausted and that no one has handled yet')
    .option('--all', 'include the ones already retried or discarded')
    .option('--json', 'print JSON')
    .action((o: { all?: boolean; json?: boolean }) =>
      withDlq(async (ops) => {
        const entries = await ops.list(o.all === true);
        if (o.json) return out(JSON.stringify(entries, null, 2));
        if (entries.length === 0) return out('the dead-letter queue is empty');
        out(
          table(
            ['request', 'tenant', 'model', 'attempts', 'reason', 'failed at', 'handled'],
            entries.map((e) => [
              e.requestId,
              e.tenantId,
              e.model,
              String(e.attempts),
              `${e.reason ?? '-'}: ${(e.message ?? '').slice(0, 60)}`,
              e.failedAt ?? '-',
              e.action ? `${e.action}${e.retryRequestId ? ` as ${e.retryRequestId}` : ''}` : '-',
            ]),
          ),
        );
      }),
    );
  dlq
    .command('retry <requestIds...>')
    .description('submit each request again (as a new request; retrying twice runs it once)')
    .action((ids: string[]) =>
      withDlq(async (ops) => {
        for (const id of ids) {
          const r = await ops.retry(id);
          out(`${r.requestId}: ${r.alreadyRetried ? 'already retried' : 'retried'} as ${r.retryRequestId}`);
        }
      }),
    );
  dlq
    .command('discard <requestIds...>')
    .description('mark requests as handled without running them again')
    .action((ids: string[]) =>
      withDlq(async (ops) => {
        for (const id of ids) out(`${(await ops.discard(id)).requestId}: discarded`);
      }),
    );
}

function withDlq(fn: (ops: DlqOps) => Promise<void>): Promise<void> {
  return withSession(openDlq, fn);
}

async function openDlq(): Promise<DlqOps> {
  const config = loadConfig();
  const access = await openDataAccess(config);
  if (access.kind === 'remote') {
    const { trpc } = access;
    return {
      list: (all) => trpc.admin.dlq.list.query({ all }),
      retry: (id) => trpc.admin.dlq.retry.mutate({ id }),
      discard: (id) => trpc.admin.dlq.discard.mutate({ id }),
      close: async () => {},
    };
  }
  const log = await openLog(config, access.database, 'sluice-dlq');
  const dead = createDeadLetters({
    db: access.database.db,
    store: createEventStore(access.database.db),
    log,
  });
  const actions = createAdminActions(access.database.db);
  return {
    list: (all) => dead.list({ includeResolved: all }),
    retry: (id) =>
      auditedAction(actions, { action: 'admin.dlq.retry', input: { id }, via: 'cli' }, () => dead.retry(id)),
    discard: (id) =>
      auditedAction(actions, { action: 'admin.dlq.discard', input: { id }, via: 'cli' }, () =>
        dead.discard(id),
      ),
    async close() {
      await log.close().catch(() => {});
      await access.close();
    },
  };
}
