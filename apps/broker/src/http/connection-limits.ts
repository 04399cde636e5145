import type { Server, Socket } from 'node:net';

/** How many connections the API holds at once: in all, and from one client address. */
export interface ConnectionLimits {
  total: number;
  perClient: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { total: 10_000, perClient: 1_000 };

/**
 * Refuses a connection beyond the limits before any byte of it is read, with a plain HTTP answer
 * that says why (429 for one client holding too many, 503 for the process being full) — not a
 * silent drop, which a client would retry at once. Returns whether a socket was refused. Behind a proxy every connection comes from its
 * address: raise `perClient` there (SLUICE_MAX_CONNECTIONS_PER_CLIENT).
 */
export function limitConnections(server: Server, limits: ConnectionLimits): (socket: Socket) => boolean {
  const refused = new WeakSet<Socket>();
  const byClient = new Map<string, number>();
  let open = 0;
  server.prependListener('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? 'unknown';
    const mine = byClient.get(client) ?? 0;
    if (mine >= limits.perClient || open >= limits.total) {
      refuse(
        socket,
        mine >= limits.perClient ? 429 : 503,
        mine >= limits.perClient
          ? `Too many connections from ${client}: at most ${limits.perClient} at once. Reuse connections (keep-alive) or close idle ones.`
          : 'The server holds as many connections as it may: retry shortly.',
      );
      refused.add(socket);
      return;
    }
    open++;
    byClient.set(client, mine + 1);
    socket.once('close', () => {
      open--;
      const left = (byClient.get(client) ?? 1) - 1;
      if (left > 0) byClient.set(client, left);
      else byClient.delete(client);
    });
  });
  // The HTTP server still parses what a refused connection sent: its requests must go nowhere.
  return (socket) => refused.has(socket);
}

function refuse(socket: Socket, status: 429 | 503, message: string): void {
  const body = JSON.stringify({
    error: {
      message,
      type: status === 429 ? 'rate_limit_error' : 'server_error',
      param: null,
      code: 'too_many_connections',
    },
  });
  const reason = status === 429 ? 'Too Many Requests' : 'Service Unavailable';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
