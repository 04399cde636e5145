import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptTokens, type RunningSimulator, startOpenAISimulator } from './index';

type Batch = OpenAI.Batches.Batch;
type OutputLine = {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
};

const messagesFor = (i: number) => [{ role: 'user' as const, content: `Question number ${i}` }];

function line(i: number, over: Record<string, unknown> = {}, body: Record<string, unknown> = {}) {
  return {
    custom_id: `req-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: messagesFor(i), max_tokens: 7, ...body },
    ...over,
  };
}

const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
const lines = (n: number) => Array.from({ length: n }, (_, i) => line(i));

async function upload(client: OpenAI, rows: unknown[] | string) {
  const text = typeof rows === 'string' ? rows : jsonl(rows);
  return client.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
}

async function submit(client: OpenAI, rows: unknown[], metadata?: Record<string, string>) {
  const file = await upload(client, rows);
  return client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata,
  });
}

const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** Polls like a client would until the batch reaches `done` (default: any terminal status). */
async function pollUntil(client: OpenAI, id: string, done = (b: Batch) => TERMINAL.has(b.status)) {
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (done(batch)) return batch;
    await new Promise((r) => setTimeout(r, 15));
  }
}

async function download(client: OpenAI, fileId: string | null | undefined): Promise<OutputLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutputLine);
}

async function simStats(sim: RunningSimulator) {
  return sim.stats();
}

describe('Files and Batches API over HTTP, driven by the official openai SDK', () => {
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startOpenAISimulator({ limits: { default: { rpm: 5, tpm: 100_000 } }, seed: 7 });
    client = new OpenAI({ apiKey: 'sk-batch-a', baseURL: sim.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('uploads a JSONL file, runs a batch to completion and returns every custom_id with usage', async () => {
    sim.reset();
    sim.configure({ batch: { completionDelayMs: 200 } });
    const rows = lines(20);
    const file = await upload(client, rows);
    expect(file).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'input.jsonl',
      status: 'processed',
    });
    expect(file.bytes).toBe(Buffer.byteLength(jsonl(rows)));
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      endpoint: '/v1/chat/completions',
      input_file_id: file.id,
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(created.id).toMatch(/^batch_/);
    expect(created.expires_at).toBe(created.created_at + 24 * 3600);

    const batch = await pollUntil(client, created.id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
    expect(batch.model).toBe('gpt-4o-mini');
    expect(batch.in_progress_at).toBeTypeOf('number');
    expect(batch.finalizing_at).toBeTypeOf('number');
    expect(batch.completed_at).toBeGreaterThanOrEqual(batch.created_at);
    expect(batch.error_file_id).toBeNull();

    const output = await download(client, batch.output_file_id);
    expect(output).toHaveLength(20);
    const byId = new Map(output.map((o) => [o.custom_id, o]));
    expect([...byId.keys()].sort()).toEqual(rows.map((r) => r.custom_id).sort());
    // Output order is a (seeded) shuffle: clients must match by custom_id.
    expect(output.map((o) => o.custom_id)).not.toEqual(rows.map((r) => r.custom_id));
    let inputTokens = 0;
    for (const [i, row] of rows.entries()) {
      const out = byId.get(row.custom_id)!;
      expect(out.id).toMatch(/^batch_req_/);
      expect(out.error).toBeNull();
      expect(out.response?.status_code).toBe(200);
      expect(out.response?.request_id).toMatch(/^req_/);
      const body = out.response?.body as unknown as OpenAI.ChatCompletion;
      expect(body.object).toBe('chat.completion');
      expect(body.model).toBe('gpt-4o-mini');
      expect(body.usage?.prompt_tokens).toBe(promptTokens('gpt-4o-mini', messagesFor(i)));
      expect(body.usage?.completion_tokens).toBe(7);
      expect(body.choices[0]?.message.content).toBeTruthy();
      inputTokens += body.usage?.prompt_tokens ?? 0;
    }
    expect(batch.usage).toMatchObject({ input_tokens: inputTokens, output_tokens: 20 * 7 });

    const outFile = await client.files.retrieve(batch.output_file_id!);
    expect(outFile.purpose).toBe('batch_output');

    const stats = await simStats(sim);
    expect(stats.batch).toMatchObject({
      filesUploaded: 1,
      batchesCreated: 1,
      batchesCompleted: 1,
      linesOk: 20,
      linesErrored: 0,
      promptTokens: inputTokens,
      completionTokens: 140,
    });
    // Batch lines are not synchronous calls.
    expect(stats.requests).toBe(0);
    expect(stats.ok).toBe(0);
    expect(stats.tokensCharged).toBe(0);

    const deleted = await client.files.delete(file.id);
    expect(deleted).toEqual({ id: file.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('does not spend the synchronous RPM/TPM buckets on batch lines', async () => {
    sim.reset();
    const batch = await pollUntil(client, (await submit(client, lines(12))).id);
    expect(batch.request_counts?.completed).toBe(12); // more lines than the 5 RPM allows
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 })
      .withResponse();
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    const stats = await simStats(sim);
    expect(stats.requests).toBe(1);
    expect(stats.ok).toBe(1);
    expect(stats.batch.linesOk).toBe(12);
  });

  it('fails a batch at validation with OpenAI-style errors.data for bad input files', async () => {
    const failed = async (rows: unknown[]) => {
      const batch = await pollUntil(client, (await submit(client, rows)).id);
      expect(batch.status).toBe('failed');
      expect(batch.failed_at).toBeTypeOf('number');
      expect(batch.output_file_id).toBeNull();
      return batch.errors?.data ?? [];
    };
    const duplicate = await failed([line(1), line(2), { ...line(3), custom_id: 'req-1' }]);
    expect(duplicate).toEqual([
      expect.objectContaining({ code: 'duplicate_custom_id', line: 3, param: 'custom_id' }),
    ]);
    const twoModels = await failed([line(1), line(2, {}, { model: 'gpt-4o' })]);
    expect(twoModels).toEqual([expect.objectContaining({ code: 'mismatched_model', line: 2 })]);
    const wrongUrl = await failed([line(1), line(2, { url: '/v1/embeddings' })]);
    expect(wrongUrl).toEqual([expect.objectContaining({ code: 'invalid_url', line: 2, param: 'url' })]);
    const wrongMethod = await failed([line(1, { method: 'GET' })]);
    expect(wrongMethod).toEqual([
      expect.objectContaining({ code: 'invalid_value', param: 'method', line: 1 }),
    ]);
    const noBody = await failed([{ custom_id: 'x', method: 'POST', url: '/v1/chat/completions' }]);
    expect(noBody).toEqual([expect.objectContaining({ code: 'missing_required_parameter', param: 'body' })]);

    // OpenAI's real bound: 50,000 requests per file.
    const tooMany = Array.from({ length: 50_001 }, (_, i) => ({
      custom_id: `c${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    }));
    const tooManyErrors = await failed(tooMany);
    expect(tooManyErrors[0]).toMatchObject({ code: 'too_many_tasks' });
    expect(tooManyErrors[0]?.message).toContain('50000');
    expect((await simStats(sim)).batch.batchesFailed).toBeGreaterThanOrEqual(6);
  });

  it('refuses bad create parameters and non-JSONL uploads at the edge, naming the field', async () => {
    const file = await upload(client, lines(1));
    const windowError = await client.batches
      .create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '48h' as '24h',
      })
      .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(windowError).toBeInstanceOf(OpenAI.BadRequestError);
    expect((windowError as InstanceType<typeof OpenAI.APIError>).param).toBe('completion_window');
    const endpointError = await client.batches
      .create({
        input_file_id: file.id,
        endpoint: '/v1/images/generations' as '/v1/embeddings',
        completion_window: '24h',
      })
      .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(endpointError).toBeInstanceOf(OpenAI.BadRequestError);
    expect((endpointError as InstanceType<typeof OpenAI.APIError>).param).toBe('endpoint');
    await expect(
      client.batches.create({
        input_file_id: 'file-nope',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const notJsonl = (await upload(client, '{"custom_id": "a"}\nnot json\n').catch(
      (e: unknown) => e,
    )) as InstanceType<typeof OpenAI.APIError>;
    expect(notJsonl).toBeInstanceOf(OpenAI.BadRequestError);
    expect(notJsonl.param).toBe('file');
    expect(notJsonl.message).toContain('line 2');
    await expect(client.batches.retrieve('batch_unknown')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.content('file-unknown')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('fails a batch over the enqueued-token limit and admits it again once earlier batches finish', async () => {
    // Runtime configuration over HTTP, as other processes' tests do it.
    await fetch(`${sim.url.replace(/\/v1$/, '')}/_sim/config`, {
      method: 'POST',
      body: JSON.stringify({
        batch: { completionDelayMs: 5_000, enqueuedTokenLimit: { 'gpt-4o-mini': 150 } },
      }),
    });
    try {
      // 4 lines × (ceil(chars/4) + 7 max_tokens) ≈ 4 × 22 tokens: fits alone, not twice.
      const first = await submit(client, lines(4));
      const running = await pollUntil(client, first.id, (b) => b.status !== 'validating');
      expect(running.status).toBe('in_progress');
      const second = await pollUntil(client, (await submit(client, lines(4))).id);
      expect(second.status).toBe('failed');
      expect(second.errors?.data?.[0]).toMatchObject({ code: 'token_limit_exceeded', line: null });
      expect(second.errors?.data?.[0]?.message).toMatch(
        /^Enqueued token limit reached for gpt-4o-mini in organization org-sim\. Limit: 150 enqueued tokens, Currently enqueued: \d+, Requested: \d+\./,
      );
      // Another model has its own (unset = unlimited) budget.
      const otherModel = await submit(client, [line(1, {}, { model: 'gpt-4o' })]);
      expect((await pollUntil(client, otherModel.id, (b) => b.status !== 'validating')).status).toBe(
        'in_progress',
      );

      await client.batches.cancel(first.id);
      expect((await pollUntil(client, first.id)).status).toBe('cancelled');
      const third = await pollUntil(
        client,
        (await submit(client, lines(4))).id,
        (b) => b.status !== 'validating',
      );
      expect(third.status).toBe('in_progress');
      for (const id of [third.id, otherModel.id]) {
        await client.batches.cancel(id);
        expect((await pollUntil(client, id)).status).toBe('cancelled');
      }
    } finally {
      sim.configure({ batch: {} });
    }
  });

  it('puts failed lines in the error file: 500s under lineErrorRate, 400 for an invalid body', async () => {
    sim.reset();
    sim.configure({ batch: { lineErrorRate: 0.5 } });
    try {
      const rows = [...lines(40), line(40, {}, { messages: undefined })];
      const batch = await pollUntil(client, (await submit(client, rows)).id);
      expect(batch.status).toBe('completed');
      const output = await download(client, batch.output_file_id);
      const errors = await download(client, batch.error_file_id);
      expect(output.length).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(1);
      expect(batch.request_counts).toEqual({ total: 41, completed: output.length, failed: errors.length });
      expect([...output, ...errors].map((o) => o.custom_id).sort()).toEqual(
        rows.map((r) => r.custom_id).sort(),
      );
      const invalid = errors.find((e) => e.custom_id === 'req-40');
      expect(invalid?.response?.status_code).toBe(400);
      expect(invalid?.response?.body).toMatchObject({
        error: { code: 'missing_required_parameter', param: 'messages' },
      });
      for (const e of errors.filter((x) => x.custom_id !== 'req-40')) {
        expect(e.error).toBeNull();
        expect(e.response?.status_code).toBe(500);
        expect(e.response?.request_id).toMatch(/^req_/);
        expect(e.response?.body).toMatchObject({ error: { type: 'server_error' } });
      }
      expect((await client.files.retrieve(batch.error_file_id!)).purpose).toBe('batch_output');
      const stats = await simStats(sim);
      expect(stats.batch).toMatchObject({ linesOk: output.length, linesErrored: errors.length });
      expect(stats.requests).toBe(0);
    } finally {
      sim.configure({ batch: {} });
    }
  });

  it('runs an embeddings batch through the embeddings endpoint: same vectors, refusals in the error file', async () => {
    sim.reset();
    const row = (i: number, input: unknown, url = '/v1/embeddings') => ({
      custom_id: `emb-${i}`,
      method: 'POST',
      url,
      body: { model: 'text-embedding-3-small', input, encoding_format: 'float' },
    });
    const texts = ['alpha', 'beta gamma', 'delta'];
    const rows = [...texts.map((t, i) => row(i, t)), row(3, '')];
    const file = await upload(client, rows);
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
    });
    const batch = await pollUntil(client, created.id);
    expect(batch).toMatchObject({
      status: 'completed',
      endpoint: '/v1/embeddings',
      model: 'text-embedding-3-small',
    });
    const output = await download(client, batch.output_file_id);
    const direct = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'beta gamma' });
    const line = output.find((o) => o.custom_id === 'emb-1')!;
    expect(line.response?.body).toMatchObject({ object: 'list', model: 'text-embedding-3-small' });
    const data = (line.response!.body as { data: Array<{ embedding: number[] }> }).data;
    expect(data[0]!.embedding).toEqual(direct.data[0]!.embedding);
    const errors = await download(client, batch.error_file_id);
    expect(errors.map((e) => e.custom_id)).toEqual(['emb-3']);
    expect(errors[0]!.response?.body).toMatchObject({ error: { param: 'input' } });
    expect(batch.usage?.output_tokens).toBe(0);
    expect(batch.usage?.input_tokens).toBeGreaterThan(0);

    // A line whose url is another endpoint fails validation, as on OpenAI.
    const mixed = await upload(client, [row(0, 'a'), row(1, 'b', '/v1/chat/completions')]);
    const refused = await pollUntil(
      client,
      (
        await client.batches.create({
          input_file_id: mixed.id,
          endpoint: '/v1/embeddings',
          completion_window: '24h',
        })
      ).id,
    );
    expect(refused.status).toBe('failed');
    expect(refused.errors?.data?.[0]).toMatchObject({ code: 'invalid_url', line: 2 });
  });

  it('charges an embeddings batch its input tokens against the enqueued-token limit', async () => {
    sim.reset();
    // "hello world" is 2 cl100k tokens: three lines enqueue 6 (a chat line would enqueue thousands).
    const rows = [0, 1, 2].map((i) => ({
      custom_id: `e${i}`,
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'text-embedding-3-small', input: 'hello world' },
    }));
    const run = async (limit: number) => {
      sim.configure({ batch: { enqueuedTokenLimit: { 'text-embedding-3-small': limit } } });
      const file = await upload(client, rows);
      const created = await client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/embeddings',
        completion_window: '24h',
      });
      return pollUntil(client, created.id);
    };
    try {
      const over = await run(5);
      expect(over.status).toBe('failed');
      expect(over.errors?.data?.[0]?.message).toContain('Requested: 6');
      expect((await run(6)).status).toBe('completed');
    } finally {
      sim.configure({ batch: {} });
    }
  });

  it('runs completions and moderations batches through their endpoints', async () => {
    sim.reset();
    for (const [endpoint, body, object] of [
      [
        '/v1/completions',
        { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 3 },
        'text_completion',
      ],
      ['/v1/moderations', { model: 'omni-moderation-latest', input: 'I hate this' }, undefined],
    ] as const) {
      const file = await upload(client, [{ custom_id: 'x', method: 'POST', url: endpoint, body }]);
      const created = await client.batches.create({
        input_file_id: file.id,
        endpoint,
        completion_window: '24h',
      });
      const batch = await pollUntil(client, created.id);
      expect(batch.status).toBe('completed');
      const [line] = await download(client, batch.output_file_id);
      if (object) expect(line!.response?.body.object).toBe(object);
      else
        expect((line!.response!.body as { results: Array<{ flagged: boolean }> }).results[0]!.flagged).toBe(
          true,
        );
    }
  });

  it('expires a batch that outlives its window: finished lines in the output, the rest batch_expired', async () => {
    sim.reset();
    sim.configure({ batch: { completionDelayMs: 2_000, expireAfterMs: 1_000 } });
    try {
      const rows = lines(30);
      const created = await submit(client, rows);
      const batch = await pollUntil(client, created.id);
      expect(batch.status).toBe('expired');
      expect(batch.expired_at).toBe(batch.expires_at);
      const output = await download(client, batch.output_file_id);
      const errors = await download(client, batch.error_file_id);
      expect(output.length).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(0);
      expect(output.length + errors.length).toBe(30);
      expect(batch.request_counts).toEqual({ total: 30, completed: output.length, failed: errors.length });
      for (const e of errors) {
        expect(e.response).toBeNull();
        expect(e.error).toEqual({
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.',
        });
      }
      const stats = await simStats(sim);
      expect(stats.batch).toMatchObject({ batchesExpired: 1, linesOk: output.length });
    } finally {
      sim.configure({ batch: {} });
    }
  });

  it('cancels a running batch: cancelling → cancelled, finished lines kept', async () => {
    sim.reset();
    sim.configure({ batch: { completionDelayMs: 3_000 } });
    try {
      const created = await submit(client, lines(50));
      await pollUntil(client, created.id, (b) => (b.request_counts?.completed ?? 0) > 0);
      const cancelling = await client.batches.cancel(created.id);
      expect(cancelling.status).toBe('cancelling');
      expect(cancelling.cancelling_at).toBeTypeOf('number');
      const batch = await pollUntil(client, created.id);
      expect(batch.status).toBe('cancelled');
      expect(batch.cancelled_at).toBeTypeOf('number');
      const output = await download(client, batch.output_file_id);
      const errors = await download(client, batch.error_file_id);
      expect(output.length).toBeGreaterThan(0);
      expect(output.length).toBeLessThan(50);
      expect(output.length + errors.length).toBe(50);
      expect(errors.every((e) => e.error?.code === 'batch_cancelled')).toBe(true);
      await expect(client.batches.cancel(created.id)).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      expect((await simStats(sim)).batch.batchesCancelled).toBe(1);
    } finally {
      sim.configure({ batch: {} });
    }
  });

  it('lists batches newest first with after/limit pagination', async () => {
    const fresh = await startOpenAISimulator();
    try {
      const c = new OpenAI({ apiKey: 'sk-list', baseURL: fresh.url, maxRetries: 0 });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await submit(c, lines(1))).id);
      const first = await c.batches.list({ limit: 2 });
      expect(first.data.map((b) => b.id)).toEqual([ids[4], ids[3]]);
      expect(first.has_more).toBe(true);
      const all: string[] = [];
      for await (const b of c.batches.list({ limit: 2 })) all.push(b.id);
      expect(all).toEqual([...ids].reverse());
      const files = await c.files.list({ purpose: 'batch' });
      expect(files.data).toHaveLength(5);
    } finally {
      await fresh.close();
    }
  });

  it('keeps files and batches private to the key (or organisation) that created them', async () => {
    const shared = await startOpenAISimulator({
      organizations: { 'sk-org-1': 'org-one', 'sk-org-2': 'org-one' },
    });
    try {
      const a = new OpenAI({ apiKey: 'sk-alone', baseURL: shared.url, maxRetries: 0 });
      const b = new OpenAI({ apiKey: 'sk-other', baseURL: shared.url, maxRetries: 0 });
      const created = await submit(a, lines(2));
      const done = await pollUntil(a, created.id);
      expect(done.status).toBe('completed');
      await expect(b.batches.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.batches.cancel(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.files.retrieve(created.input_file_id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.files.content(done.output_file_id!)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(b.files.delete(created.input_file_id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(
        b.batches.create({
          input_file_id: created.input_file_id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
      ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      expect((await b.batches.list()).data).toHaveLength(0);
      expect((await b.files.list()).data).toHaveLength(0);

      const org1 = new OpenAI({ apiKey: 'sk-org-1', baseURL: shared.url, maxRetries: 0 });
      const org2 = new OpenAI({ apiKey: 'sk-org-2', baseURL: shared.url, maxRetries: 0 });
      const orgBatch = await submit(org1, lines(1));
      expect((await org2.batches.retrieve(orgBatch.id)).id).toBe(orgBatch.id);
      await expect(a.batches.retrieve(orgBatch.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    } finally {
      await shared.close();
    }
  });

  it('rejects files and batches calls without a valid API key', async () => {
    const strict = await startOpenAISimulator({ apiKeys: ['sk-good'] });
    try {
      const bad = new OpenAI({ apiKey: 'sk-bad', baseURL: strict.url, maxRetries: 0 });
      await expect(bad.batches.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      await expect(upload(bad, lines(1))).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    } finally {
      await strict.close();
    }
  });
});
