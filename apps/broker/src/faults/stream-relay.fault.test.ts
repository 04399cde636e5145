import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SluiceProcess, until } from '../__tests__/processes';
import { readChatStream, spreadOver } from '../__tests__/streams';
import { type ProductionStack, startProductionStack } from './production-stack';

// Streams across processes: `sluice serve` holds the caller's connection, a separate
// `sluice dispatch` calls the upstream and pushes each chunk to it as it comes. Then the
// dispatcher is SIGKILLed mid-stream: the caller is told at once, and nothing is sent again.
const PER_TOKEN_MS = 25;

describe('streams relayed between processes', () => {
  let stack: ProductionStack;
  let openai: OpenAI;
  let dispatcher: SluiceProcess;

  beforeAll(async () => {
    stack = await startProductionStack({
      simulator: { latency: { baseMs: 5, perTokenMs: PER_TOKEN_MS } },
    });
    await stack.serve();
    dispatcher = await stack.dispatch();
    openai = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.tenant.apiKey, maxRetries: 0 });
  }, 300_000);
  afterAll(async () => {
    await stack?.close();
  }, 120_000);

  const statusOf = async (requestId: string) =>
    (await stack.statuses([requestId])).get(requestId) ?? { status: 'unknown', reason: null };
  const counts = async (requestId: string) =>
    Object.fromEntries(
      (
        await stack.query<{ type: string; n: number }>(
          'SELECT type, count(*)::int AS n FROM events WHERE request_id = $1 GROUP BY type',
          [requestId],
        )
      ).map((r) => [r.type, r.n]),
    );

  it('relays chunks pushed by the dispatcher process as they are generated, usage recorded once', async () => {
    const started = Date.now();
    const { data: stream, response } = await openai.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'a story' }],
        max_tokens: 40,
        stream: true,
      })
      .withResponse();
    const { text, arrivals } = await readChatStream(stream, started);
    expect(text.length).toBeGreaterThan(0);
    expect(spreadOver(arrivals, PER_TOKEN_MS)).toBe(true);
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    await until(
      'the streamed request to be recorded',
      async () => (await statusOf(requestId)).status === 'completed',
      {
        timeoutMs: 30_000,
      },
    );
    expect(await counts(requestId)).toMatchObject({ 'request.completed': 1, 'usage.recorded': 1 });
  });

  it('tells the caller at once when the dispatcher dies mid-stream, and does not send the request again', async () => {
    const before = stack.sim.stats().requests;
    const { data: stream, response } = await openai.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'a long story' }],
        max_tokens: 400,
        stream: true,
      })
      .withResponse();
    const requestId = response.headers.get('x-sluice-request-id') ?? '';
    let chunks = 0;
    let killed: Promise<unknown> | undefined;
    const error = await (async () => {
      for await (const _ of stream) {
        if (++chunks === 5) killed = dispatcher.kill('SIGKILL');
      }
    })().catch((e: unknown) => e);
    await killed;
    expect(chunks).toBeGreaterThanOrEqual(5);
    expect(chunks).toBeLessThan(400);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain(requestId);

    // A new dispatcher takes the request over: its stream is over, so it ends failed, not resent.
    await stack.dispatch();
    await until(
      'the interrupted request to end',
      async () => (await statusOf(requestId)).status === 'failed',
      {
        timeoutMs: 60_000,
        output: () => stack.group.output(),
      },
    );
    expect((await statusOf(requestId)).reason).toBe('stream_interrupted');
    expect(stack.sim.stats().requests - before).toBe(1);
  }, 120_000);
});
