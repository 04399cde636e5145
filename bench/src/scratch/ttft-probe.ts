// Scratch (not committed): where the added time to first token goes, per phase.
import { subscribe } from 'node:diagnostics_channel';
import { startTestSluice } from '@sluice/broker/testing';
import OpenAI from 'openai';

const mode = (process.argv[2] ?? 'embedded') as 'embedded' | 'kafka';
const s = await startTestSluice({
  mode,
  simulator: {
    limits: { default: { rpm: 10_000_000, tpm: 10_000_000_000 } },
    latency: { baseMs: 20, perTokenMs: 10 },
  },
});
let marks: Record<string, number> = {};
const mark = (k: string) => {
  marks[k] ??= performance.now();
};
const log = s.runtime.log as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
const origAppend = log.append!.bind(log);
log.append = async (...a: unknown[]) => {
  mark('appendStart');
  const r = await origAppend(...a);
  mark('appendEnd');
  return r;
};
const store = s.runtime.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
for (const k of Object.keys(store)) {
  const f = store[k];
  if (typeof f !== 'function') continue;
  store[k] = async (...a: unknown[]) => {
    mark(`store.${k}`);
    return f.apply(store, a);
  };
}
subscribe('undici:request:create', (m: any) => {
  if (String(m.request.path).includes('chat')) mark('upstreamCreate');
});
subscribe('undici:request:headers', (m: any) => {
  if (String(m.request.path).includes('chat')) mark('upstreamHeaders');
});
subscribe('http.server.request.start', () => mark('serverRequest'));
const via = new OpenAI({ apiKey: s.tenant.apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
const direct = new OpenAI({ apiKey: 'sk-direct', baseURL: s.simulator.url, maxRetries: 0 });
async function run(client: OpenAI) {
  marks = {};
  const t0 = performance.now();
  marks.t0 = t0;
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi there' }],
    max_tokens: 20,
    stream: true,
  });
  for await (const c of stream) {
    if (c.choices[0]?.delta.content) {
      mark('firstContent');
    }
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(marks)) out[k] = +(v - t0).toFixed(2);
  return out;
}
for (let i = 0; i < 10; i++) {
  await run(direct);
  await run(via);
}
const rows: Record<string, number>[] = [];
const d: number[] = [];
for (let i = 0; i < 60; i++) {
  d.push((await run(direct)).firstContent!);
  rows.push(await run(via));
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
console.log('direct firstContent p50', med(d));
for (const k of keys.sort((a, b) => med(rows.map((r) => r[a] ?? NaN)) - med(rows.map((r) => r[b] ?? NaN))))
  console.log(
    k.padEnd(28),
    med(rows.filter((r) => r[k] !== undefined).map((r) => r[k]!)),
    `(${rows.filter((r) => r[k] !== undefined).length})`,
  );
await s.close();
process.exit(0);
