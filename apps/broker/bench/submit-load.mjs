// The load generator for the durable-submit figure, run in a worker thread: its HTTP client work
// (building, sending and parsing 64 concurrent requests) then uses its own core instead of the
// broker's event loop, as a separate client process would in production. It is node:http with
// keep-alive rather than fetch: on this 2-core machine fetch spends about a millisecond of CPU per
// call, which the broker's process would lose to the load generator.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

// Plain JavaScript: worker threads do not inherit tsx's loader on Node 20.
// With `batch` > 1 it sends what the SDK sends for concurrent submits: one tRPC batch request
// carrying `batch` calls.
/** @type {{ url: string, apiKey: string, total: number, concurrency: number, body: unknown, batch?: number }} */
const { url, apiKey, total, concurrency, body, batch = 1 } = workerData;
const input = { params: body, options: { priority: 'batch' } };
const payload = JSON.stringify(
  batch === 1 ? input : Object.fromEntries(Array.from({ length: batch }, (_, i) => [i, input])),
);
const target = new URL(
  batch === 1
    ? `${url}/trpc/requests.submit`
    : `${url}/trpc/${Array(batch).fill('requests.submit').join(',')}?batch=1`,
);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const headers = {
  authorization: `Bearer ${apiKey}`,
  'content-type': 'application/json',
  'content-length': Buffer.byteLength(payload),
};

function submit() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: 'POST',
        agent,
        headers,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) resolve(undefined);
          else reject(new Error(`submit failed: ${res.statusCode} ${Buffer.concat(chunks).toString()}`));
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      next += batch;
      await submit();
    }
  }),
);
// A batch may carry the total past `total` on its last request: report what was sent.
parentPort?.postMessage({ seconds: (performance.now() - t0) / 1000, sent: next });
agent.destroy();
