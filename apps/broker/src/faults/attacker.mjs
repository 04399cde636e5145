// The hostile-load test's attacker, in a process of its own at the lowest CPU priority: on the
// 2-core test box, an attacker in the test's own process would slow the simulator and the load
// generator it shares that process with, and measure the box, not Sluice. Deployed, the attacker
// is another host. Each attack comes from its own loopback address, as it would from its own host.
// Input: one JSON argument; output: one JSON line on stdout when every attack is over.
import { request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const o = JSON.parse(process.argv[2]);
const { port, attackerKey, secondAttackerKey, phaseMs, maxBodyBytes, headersTimeoutMs } = o;

/** A full request from `from`, answered or not: its status and body (or the socket's error). */
function rawPost(from, path, body, key) {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        method: 'POST',
        path,
        agent: false,
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', (e) => resolve({ status: -1, body: e.message }));
      },
    );
    req.on('error', (e) => resolve({ status: -1, body: e.message }));
    req.end(body);
  });
}

/**
 * A chat request as large as the body limit allows: `unit` repeated in messages of up to the
 * million characters the schema takes for one content, so all of it reaches the estimate.
 */
function maxSizeBody(unit) {
  const room = maxBodyBytes - 256;
  const perMessage = Math.floor(Math.min(1_000_000, room / 2) / unit.length);
  const units = Math.floor(room / Buffer.byteLength(unit));
  const messages = [];
  for (let left = units; left > 0; left -= perMessage)
    messages.push({ role: 'user', content: unit.repeat(Math.min(left, perMessage)) });
  const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages }));
  if (body.length > maxBodyBytes) throw new Error(`body of ${body.length} bytes is over the limit`);
  return body;
}

/** Sockets that send `first` and then nothing (or `trickle` every second): when did the server let go? */
function holdOpen(from, count, first, trickle) {
  const opened = Date.now();
  const sockets = [];
  const results = Array.from(
    { length: count },
    () =>
      new Promise((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, localAddress: from });
        sockets.push(socket);
        let answer = '';
        let timer;
        socket.on('connect', () => {
          socket.write(first);
          if (trickle) timer = setInterval(() => socket.write(trickle), 1_000);
        });
        socket.on('data', (d) => {
          answer += d.toString();
        });
        socket.on('error', () => {});
        socket.on('close', () => {
          clearInterval(timer);
          resolve({ heldMs: Date.now() - opened, answer: answer.split('\r\n')[0] ?? '' });
        });
      }),
  );
  const destroy = () => {
    for (const s of sockets) s.destroy();
  };
  return { done: Promise.all(results), destroy };
}

const halfBodies = holdOpen(
  '127.0.0.2',
  500,
  `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secondAttackerKey}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"model":"gpt-4o-mini","messages":[`,
);
const halfHeaders = holdOpen('127.0.0.3', 500, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
const slowloris = holdOpen('127.0.0.4', 50, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n');
const attackUntil = Date.now() + phaseMs;
const pathological = ['a', '🙂', '7', `${'x'.repeat(2_000)} `].map(maxSizeBody);
const answers = [];
// Pathological bodies, 20 a second from two loops that ignore every retry-after (about twice what
// the tenant's large-body pace lets through).
const flood = Promise.all(
  [0, 1].map(async (loop) => {
    for (let i = loop; Date.now() < attackUntil; i += 2) {
      const body = pathological[i % pathological.length];
      answers.push(await rawPost('127.0.0.5', '/v1/chat/completions', body, attackerKey));
      await sleep(100);
    }
  }),
);
const burst = (async () => {
  await sleep(4_000);
  const text = maxSizeBody('The committee reviewed the quarterly figures and approved the plan. ');
  answers.push(
    ...(await Promise.all(
      Array.from({ length: 40 }, () => rawPost('127.0.0.6', '/v1/chat/completions', text, attackerKey)),
    )),
  );
})();
await Promise.all([flood, burst]);
const [bodies, headers, loris] = await Promise.all([
  halfBodies.done,
  halfHeaders.done,
  Promise.race([slowloris.done, sleep(headersTimeoutMs + 10_000).then(() => undefined)]),
]);
slowloris.destroy();
process.stdout.write(`${JSON.stringify({ answers, bodies, headers, loris: loris ?? null })}\n`);
