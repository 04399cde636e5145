// The load generator for the durable-submit figure, run in a worker thread: its HTTP client work
// (building, sending and parsing 64 concurrent requests) then uses its own core instead of the
// broker's event loop, as a separate client process would in production. It is node:http with
// keep-alive rather than fetch: on this 2-core machine fetch spends about a millisecond of CPU per
// call, which the broker's process would lose to the load generator.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

// Plain JavaScript: worker threads do not inherit tsx's loader on Node 20.
/** @type {{ url: string, apiKey: string, total: number, concurrency: number, body: unknown }} */
const { url, apiKey, total, concurrency, body } = workerData;
const payload = JSON.stringify({ params: body, options: { priority: 'batch' } });
const target = new URL(`${url}/trpc/requests.submit`);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const headers = {
  authorization: `Bearer ${apiKey}`,
  'content-type': 'application/json',
  'content-length': Buffer.byteLength(payload),
};

function submit() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
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
      next++;
      await submit();
    }
  }),
);
parentPort?.postMessage({ seconds: (performance.now() - t0) / 1000 });
agent.destroy();
