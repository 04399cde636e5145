// The load generator for the durable-submit figure, run in a worker thread: its HTTP client work
// (building, sending and parsing 64 concurrent requests) then uses its own core instead of the
// broker's event loop, as a separate client process would in production.
import { parentPort, workerData } from 'node:worker_threads';

// Plain JavaScript: worker threads do not inherit tsx's loader on Node 20.
/** @type {{ url: string, apiKey: string, total: number, concurrency: number, body: unknown }} */
const { url, apiKey, total, concurrency, body } = workerData;
const payload = JSON.stringify({ params: body, options: { priority: 'batch' } });
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      next++;
      const res = await fetch(`${url}/trpc/requests.submit`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: payload,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`submit failed: ${res.status} ${text}`);
    }
  }),
);
parentPort?.postMessage({ seconds: (performance.now() - t0) / 1000 });
