// The HTTP side vswitchd's read-only servers share (--metrics, --web): bounded
// timeouts, header size and connections, so that a slow or hostile client
// costs the daemon little; a one-line reason when the address cannot be
// listened on (vswitchd then stops before touching anything); a close that
// drops every connection; short plain-text answers.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ListenAddress } from './args.js';
import { errorText, type Logger } from './log.js';

/** Connections one server keeps open at most. */
const MAX_CONNECTIONS = 16;

/** `host:port`, an IPv6 host in brackets. */
export function formatAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export class HttpListener {
  private readonly http: Server;
  private readonly sockets = new Set<Socket>();

  /** `what` names the server in its errors ("metrics", "the web page"). */
  constructor(
    private readonly what: string,
    private readonly log: Logger,
    onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    this.http = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000, maxHeaderSize: 8192 }, onRequest);
    this.http.maxConnections = MAX_CONNECTIONS;
    this.http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Listen on `at`; resolves to where (the port the kernel picked for 0), or rejects with a one-line reason. */
  listen(at: ListenAddress): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException): void => {
        const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : errorText(err);
        reject(new Error(`cannot serve ${this.what} on ${formatAddress(at)}: ${why}`));
      };
      this.http.once('error', failed);
      this.http.listen({ host: at.host, port: at.port }, () => {
        this.http.off('error', failed);
        this.http.on('error', (err) => this.log(`${this.what} server error: ${errorText(err)}`));
        const a = this.http.address();
        resolve(typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : at);
      });
    });
  }

  /** Stop listening and drop every connection. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.http.listening) return resolve();
      this.http.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}

/** A short plain-text answer (node reads and discards a request body left unread, within requestTimeout). */
export function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
