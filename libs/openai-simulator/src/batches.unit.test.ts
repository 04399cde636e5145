import { describe, expect, it, vi } from 'vitest';
import { type BatchOptions, createBatchEngine, emptyBatchStats } from './batches';
import { SIMULATED_ENDPOINTS } from './endpoints';
import { createFileStore } from './files';
import { chargedTokens } from './rate-limits';

const line = (i: number, model = 'gpt-4o-mini') => ({
  custom_id: `r${i}`,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content: `q${i}` }], max_tokens: 5 },
});

/** An engine on a hand-driven clock: given / when / then in simulated time. */
function setup(options: BatchOptions = {}, seed = 1, realClock = false) {
  let clock = 1_700_000_000_000;
  const files = createFileStore({ maxStoredBytes: 10 * 1024 * 1024 });
  const stats = emptyBatchStats();
  const engine = createBatchEngine({
    endpoints: SIMULATED_ENDPOINTS,
    files,
    now: realClock ? Date.now : () => clock,
    seed,
    defaultMaxTokens: 4096,
    options,
    stats: () => stats,
  });
  const submit = (n: number, owner = 'k1', model = 'gpt-4o-mini') => {
    const rows = Array.from({ length: n }, (_, i) => line(i, model));
    const file = files.upload(owner, {
      filename: 'in.jsonl',
      purpose: 'batch',
      content: Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n')),
      createdSeconds: Math.floor(clock / 1000),
    });
    return engine.create(owner, 'org-sim', {
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
  };
  const read = (owner: string, fileId: string | null) =>
    (fileId ? (files.content(owner, fileId)?.toString('utf8') ?? '') : '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { custom_id: string; error: { code: string } | null });
  return {
    files,
    engine,
    stats,
    submit,
    read,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('batch lifecycle on the simulator clock', () => {
  it('moves validating → in_progress → finalizing → completed with growing request_counts', () => {
    const { engine, submit, advance, stats } = setup({ completionDelayMs: 10_000 });
    const b = submit(10);
    expect(engine.retrieve('k1', b.id)?.status).toBe('validating');

    advance(1_000); // validation takes min(10 % of the delay, 1 s)
    const started = engine.retrieve('k1', b.id)!;
    expect(started).toMatchObject({ status: 'in_progress', request_counts: { total: 10, completed: 0 } });
    expect(started.in_progress_at).toBe(started.created_at + 1);

    advance(4_000); // half of the 8 s of line work
    expect(engine.retrieve('k1', b.id)?.request_counts.completed).toBe(5);

    advance(4_000);
    expect(engine.retrieve('k1', b.id)).toMatchObject({
      status: 'finalizing',
      finalizing_at: b.created_at + 9,
    });

    advance(1_000);
    const done = engine.retrieve('k1', b.id)!;
    expect(done).toMatchObject({
      status: 'completed',
      completed_at: b.created_at + 10,
      request_counts: { total: 10, completed: 10, failed: 0 },
    });
    expect(done.output_file_id).toMatch(/^file-/);
    expect(stats).toMatchObject({ batchesCreated: 1, batchesCompleted: 1, linesOk: 10 });
  });

  it('orders output lines by a seeded shuffle: same seed, same order', () => {
    const orderFor = (seed: number) => {
      const { engine, submit, advance, read } = setup({}, seed);
      const b = submit(30);
      advance(1_000);
      return read('k1', engine.retrieve('k1', b.id)!.output_file_id).map((l) => l.custom_id);
    };
    expect(orderFor(3)).toEqual(orderFor(3));
    expect(orderFor(3)).not.toEqual(orderFor(4));
  });

  it('expires mid-run: lines due before expires_at are output, the rest are batch_expired', () => {
    const { engine, submit, advance, read, stats } = setup({
      completionDelayMs: 10_000,
      expireAfterMs: 5_000,
    });
    const b = submit(8); // lines due at 2 s, 3 s, … 9 s after creation
    advance(60_000);
    const expired = engine.retrieve('k1', b.id)!;
    expect(expired).toMatchObject({
      status: 'expired',
      expired_at: b.created_at + 5,
      request_counts: { total: 8, completed: 4, failed: 4 },
    });
    expect(read('k1', expired.output_file_id)).toHaveLength(4);
    expect(read('k1', expired.error_file_id).map((l) => l.error?.code)).toEqual(
      Array(4).fill('batch_expired'),
    );
    expect(stats).toMatchObject({ batchesExpired: 1, linesOk: 4, linesErrored: 4 });
  });

  it('charges the enqueued-token limit like the sync limiter and releases it when a batch ends', () => {
    const perLine = chargedTokens(line(0).body, 4096);
    const { engine, submit, advance } = setup({
      completionDelayMs: 10_000,
      enqueuedTokenLimit: { 'gpt-4o-mini': perLine * 3 },
    });
    const first = submit(2);
    const second = submit(2);
    const otherOwner = submit(3, 'k2');
    advance(1_000);
    expect(engine.retrieve('k1', first.id)?.status).toBe('in_progress');
    const refused = engine.retrieve('k1', second.id)!;
    expect(refused.status).toBe('failed');
    expect(refused.errors?.data[0]?.message).toContain(
      `Limit: ${perLine * 3} enqueued tokens, Currently enqueued: ${perLine * 2}, Requested: ${perLine * 2}.`,
    );
    expect(engine.retrieve('k2', otherOwner.id)?.status).toBe('in_progress');
    advance(9_000);
    expect(engine.retrieve('k1', first.id)?.status).toBe('completed');
    const third = submit(3);
    advance(1_000);
    expect(engine.retrieve('k1', third.id)?.status).toBe('in_progress');
  });

  it('cancels: lines already run stay in the output, the others are batch_cancelled', () => {
    const { engine, submit, advance, read } = setup({ completionDelayMs: 10_000 });
    const b = submit(8);
    advance(3_500); // lines due at 2 s and 3 s have run
    expect(engine.cancel('k1', b.id)?.status).toBe('cancelling');
    advance(999);
    expect(engine.retrieve('k1', b.id)?.status).toBe('cancelling');
    advance(1);
    const cancelled = engine.retrieve('k1', b.id)!;
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      request_counts: { total: 8, completed: 2, failed: 6 },
    });
    expect(read('k1', cancelled.output_file_id)).toHaveLength(2);
    expect(() => engine.cancel('k1', b.id)).toThrow(/Cannot cancel a batch with status 'cancelled'/);
    expect(engine.cancel('k2', b.id)).toBeUndefined();
  });

  it('answers lines whose body the sync endpoint would refuse with the same status in the error file', () => {
    const { engine, submit, advance, files } = setup();
    const b = submit(3, 'k1', 'gpt-9');
    advance(1_000);
    const done = engine.retrieve('k1', b.id)!;
    expect(done).toMatchObject({ status: 'completed', output_file_id: null, request_counts: { failed: 3 } });
    const errors = (files.content('k1', done.error_file_id!)?.toString('utf8') ?? '')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e).toMatchObject({
        response: { status_code: 404, body: { error: { code: 'model_not_found' } } },
        error: null,
      });
    }
  });

  it('runs due lines in the background, without anyone polling', async () => {
    const { engine, submit, stats } = setup({ completionDelayMs: 100 }, 1, true);
    submit(40);
    try {
      await vi.waitFor(() => expect(stats).toMatchObject({ linesOk: 40, batchesCompleted: 1 }), {
        timeout: 10_000,
        interval: 20,
      });
    } finally {
      engine.stop();
    }
  });
});
