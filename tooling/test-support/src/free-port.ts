import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A TCP port for a child process to listen on: one that binds right now and lies below the
 * kernel's ephemeral range, so an outgoing connection (Kafka, Postgres, fetch) cannot take it
 * between this probe and the child's own `listen`. A random port inside that range collided in CI.
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const high = Math.min(ephemeralRangeStart(), 65_000) - 1;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await bindsNow(port)) return port;
  }
  throw new Error(`no free TCP port between ${low} and ${high} after 50 tries`);
}

function ephemeralRangeStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(start);
    return Number.isInteger(n) && n > 11_000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

function bindsNow(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
