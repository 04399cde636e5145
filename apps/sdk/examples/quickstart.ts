/**
 * Run against a local Sluice (`npm start` prints the demo key):
 *   SLUICE_URL=http://127.0.0.1:8080 SLUICE_API_KEY=sk-sluice-… npx tsx apps/sdk/examples/quickstart.ts
 */
import { createSluiceClient } from '@sluice/sdk';

const url = process.env.SLUICE_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.SLUICE_API_KEY;
if (!apiKey) {
  console.error('Set SLUICE_API_KEY to a tenant key (npm start prints a demo key).');
  process.exit(1);
}
const sluice = createSluiceClient({ url, apiKey });

// 1. The familiar one-call form, with a priority.
const completion = await sluice.chat.completions.create(
  { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to Sluice.' }], max_tokens: 32 },
  { priority: 'interactive' },
);
console.log('interactive:', completion.choices[0]?.message.content);

// 2. Asynchronous: submit returns once the request is durably logged; watch streams its progress.
const { id } = await sluice.submit(
  { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the news.' }], max_tokens: 64 },
  { priority: 'batch', idempotencyKey: `nightly-summary-${new Date().toISOString().slice(0, 10)}` },
);
for await (const view of sluice.watch(id)) console.log(`${id}: ${view.status}`);

// 3. A bulk load: submits in flight together share HTTP requests (up to 32 per request).
const topics = ['tides', 'locks', 'weirs', 'canals', 'dams'];
const queued = await Promise.all(
  topics.map((topic) =>
    sluice.submit(
      {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `One line on ${topic}.` }],
        max_tokens: 32,
      },
      { priority: 'batch' },
    ),
  ),
);
console.log('bulk:', queued.map((q) => q.id).join(', '));

// 4. What this tenant has spent.
console.log(await sluice.usage({ by: 'day' }));
