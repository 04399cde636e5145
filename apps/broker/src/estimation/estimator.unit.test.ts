import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SluiceError } from '@sluice/events';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectJson } from '../intake/json-guard';
import { chatCompletions } from '../operations/chat-completions';
import { embeddings } from '../operations/embeddings';
import { createEstimator, ESTIMATOR_DEFAULTS, type Estimator } from './estimator';
import { measureRequest } from './measure';

const open: Estimator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});
function estimator(settings: Partial<typeof ESTIMATOR_DEFAULTS> = {}): Estimator {
  const e = createEstimator({ ...ESTIMATOR_DEFAULTS, threads: 1, ...settings });
  open.push(e);
  return e;
}
/** What the body guard counts and hands the estimator. */
const chars = (body: unknown) => inspectJson(body).textChars ?? 0;
const chat = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

describe('estimator', () => {
  it('measures a large body on a thread exactly as inline', async () => {
    const body = chat(`${'a'.repeat(20_000)} ${'🙂'.repeat(5_000)} ${'7'.repeat(9_000)} words words`);
    const onThread = await estimator().measure('t1', chatCompletions, body, 'gpt-4o-mini', 12, chars(body));
    expect(onThread).toEqual(measureRequest(chatCompletions, body, 'gpt-4o-mini', 12));
    expect(onThread.promptTokens).toBeGreaterThan(12);
  });

  it('keeps the serving thread free while the worst input is measured', async () => {
    const e = estimator();
    const warmUp = chat('a'.repeat(5_000));
    await e.measure('t1', chatCompletions, warmUp, 'gpt-4o-mini', 0, chars(warmUp)); // thread started
    const worst = chat('a'.repeat(1_000_000));
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const ticking = setInterval(() => {}, 1);
    const measured = await e.measure('t1', chatCompletions, worst, 'gpt-4o-mini', 0, chars(worst));
    clearInterval(ticking);
    delay.disable();
    expect(measured.promptTokens).toBeGreaterThan(1_000_000 / 16);
    // Inline, this input holds the thread for most of a second; handed over, only the clone is paid.
    expect(delay.max / 1e6).toBeLessThan(150);
  });

  it("turns a thread's refusal back into the SluiceError fit raised", async () => {
    const body = { model: 'text-embedding-3-small', input: ['hello', 'lorem ipsum '.repeat(9_000)] };
    const inline = (() => {
      try {
        measureRequest(embeddings, body, body.model, 0);
      } catch (err) {
        return err;
      }
    })();
    const error = await estimator()
      .measure('t1', embeddings, body, body.model, 0, chars(body))
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: 'request_too_large', message: (inline as Error).message });
    expect((error as SluiceError).details).toMatchObject({
      param: 'input',
      openaiCode: 'context_length_exceeded',
    });
  });

  it("bounds one tenant's share of the queue and the queue itself", async () => {
    const e = estimator({ maxPerTenant: 1, maxQueue: 2 });
    const big = chat('b'.repeat(400_000));
    const first = e.measure('flood', chatCompletions, big, 'gpt-4o-mini', 0, chars(big));
    await expect(
      e.measure('flood', chatCompletions, big, 'gpt-4o-mini', 0, chars(big)),
    ).rejects.toMatchObject({
      code: 'rate_limited',
    });
    const other = e.measure('other', chatCompletions, big, 'gpt-4o-mini', 0, chars(big));
    await expect(
      e.measure('third', chatCompletions, big, 'gpt-4o-mini', 0, chars(big)),
    ).rejects.toMatchObject({
      code: 'overloaded',
      details: { retryAfterMs: 1_000 },
    });
    // Small bodies are measured inline and never wait behind the queue.
    const small = chat('hi');
    await expect(
      e.measure('flood', chatCompletions, small, 'gpt-4o-mini', 0, chars(small)),
    ).resolves.toMatchObject({
      maxOutputTokens: expect.any(Number),
    });
    await Promise.all([first, other]);
    await expect(
      e.measure('flood', chatCompletions, big, 'gpt-4o-mini', 0, chars(big)),
    ).resolves.toBeDefined();
  });
});
