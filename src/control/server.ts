// The control socket of vswitchd: a Unix stream socket speaking the protocol in
// protocol.ts.
//
// Requests from all connections are handled one at a time, in arrival order,
// so add and delete never interleave. Nothing a client sends can take the
// daemon down: a malformed, oversized or unknown request gets an EPROTO reply
// and the connection is closed; socket errors are absorbed.

import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import { VswError } from '../errors.js';
import {
  encodeReply,
  errorReply,
  LineSplitter,
  MAX_LINE_BYTES,
  okReply,
  parseRequest,
  type Reply,
  type Request,
} from './protocol.js';

export type Handler = (req: Request) => Promise<unknown>;

/** What the control plane can be asked; the daemon's Switch fits it. */
export interface SwitchLike {
  add(ifname: string): Promise<void>;
  delete(ifname: string): Promise<void>;
  show(): string[];
  fdb(): Promise<unknown[]>;
  stats(): Promise<unknown>;
}

/** Map protocol commands onto the switch. */
export function switchHandler(sw: SwitchLike): Handler {
  return async (req) => {
    switch (req.cmd) {
      case 'add':
        await sw.add(req.ifname);
        return null;
      case 'delete':
        await sw.delete(req.ifname);
        return null;
      case 'show':
        return { ports: sw.show() };
      case 'fdb':
        return { entries: await sw.fdb() };
      case 'stats':
        return await sw.stats();
    }
  };
}

export interface ControlServerOptions {
  path: string;
  handler: Handler;
  log: (message: string) => void;
  /** Close a connection that has no request in progress for this long. */
  idleTimeoutMs?: number;
  maxConnections?: number;
}

/** Requests of one connection queued before the server stops reading from it. */
const MAX_QUEUED_PER_CONNECTION = 32;
/** Replies a client may leave unread before it is disconnected. */
const MAX_UNREAD_REPLY_BYTES = 4 * 1024 * 1024;

const QUIET_SOCKET_ERRORS = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** Whether something accepts connections on the Unix socket at `path`. */
export function probeSocket(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ path });
    const done = (answer: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(answer);
    };
    // A listener too busy to accept within the timeout is still a listener.
    const timer = setTimeout(() => done(true), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export class ControlServer {
  readonly path: string;
  private readonly handler: Handler;
  private readonly log: (message: string) => void;
  private readonly idleTimeoutMs: number;
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  /** Tail of the queue that serializes every request of every connection. */
  private queue: Promise<void> = Promise.resolve();
  private socketIno: number | null = null;
  private closed = false;

  constructor(opts: ControlServerOptions) {
    this.path = opts.path;
    this.handler = opts.handler;
    this.log = opts.log;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.server = net.createServer({ allowHalfOpen: true }, (sock) => this.onConnection(sock));
    this.server.maxConnections = opts.maxConnections ?? 64;
    this.server.on('error', (err) => this.log(`control socket error: ${err.message}`));
  }

  /**
   * Create the parent directory (0755) if needed, refuse if another daemon
   * answers on the path, remove a stale socket, listen, chmod 0600.
   */
  async start(): Promise<void> {
    const dir = dirname(this.path);
    const created = await mkdir(dir, { recursive: true, mode: 0o755 });
    if (created !== undefined) await chmod(dir, 0o755);

    let st;
    try {
      st = await lstat(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, this.path);
    }
    if (st) {
      if (!st.isSocket()) {
        throw new VswError('EEXIST', `${this.path} exists and is not a socket; not removing it`);
      }
      if (await probeSocket(this.path)) {
        throw new VswError('EEXIST', `another vswitchd is already running on ${this.path}`);
      }
      await unlink(this.path).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, this.path);
      });
    }

    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE') {
          reject(new VswError('EEXIST', `another vswitchd is already running on ${this.path}`));
        } else {
          reject(fsError(err, this.path));
        }
      };
      this.server.once('error', onError);
      // The socket is bound inside listen(): create it owner-only from the start.
      const oldMask = process.umask(0o177);
      try {
        this.server.listen(this.path, () => {
          this.server.off('error', onError);
          resolve();
        });
      } finally {
        process.umask(oldMask);
      }
    });
    await chmod(this.path, 0o600);
    if (process.getuid?.() === 0) await chown(this.path, 0, 0);
    this.socketIno = (await lstat(this.path)).ino;
  }

  private onConnection(sock: net.Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    this.connections.add(sock);
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    let pending = 0; // requests of this connection queued or running
    let closing = false; // an error reply was sent (or is queued): no more requests
    let ended = false; // the client will send nothing more

    const finish = (): void => {
      if (!sock.destroyed && !sock.writableEnded) sock.end();
      // A client that keeps its end open after we close ours is dropped.
      setTimeout(() => sock.destroy(), 2000).unref();
    };

    const send = (reply: Reply): void => {
      if (sock.destroyed || sock.writableEnded) return;
      sock.write(encodeReply(reply));
      // A client that sends but never reads is not allowed to pile up replies.
      if (sock.writableLength > MAX_UNREAD_REPLY_BYTES) {
        this.log('control connection dropped: the client does not read its replies');
        sock.destroy();
      }
    };

    const enqueue = (task: () => Promise<void>): void => {
      pending++;
      this.queue = this.queue.then(async () => {
        try {
          await task();
        } catch (err) {
          this.log(`control request failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
        } finally {
          pending--;
          if (pending < MAX_QUEUED_PER_CONNECTION && sock.isPaused() && !closing) sock.resume();
          if ((closing || ended) && pending === 0) finish();
        }
      });
    };

    const refuse = (id: number | null, message: string): void => {
      closing = true;
      enqueue(async () => send(errorReply(id, 'EPROTO', message)));
    };

    const handleLine = (line: Buffer): void => {
      if (closing) return;
      const parsed = parseRequest(line);
      if (!parsed.ok) {
        refuse(parsed.id, parsed.error.message);
        return;
      }
      const req = parsed.request;
      enqueue(async () => {
        if (sock.destroyed) return; // client gone: do not act for it
        send(await this.run(req));
      });
    };

    sock.setTimeout(this.idleTimeoutMs, () => {
      if (pending === 0) sock.destroy();
      else sock.setTimeout(this.idleTimeoutMs); // busy, not idle: look again later
    });
    sock.on('data', (chunk: Buffer) => {
      if (closing) return; // drain and discard until the client goes
      for (const ev of splitter.push(chunk)) {
        if (ev.kind === 'overflow') {
          refuse(null, `request line too long (more than ${MAX_LINE_BYTES} bytes)`);
          return;
        }
        handleLine(ev.line);
        if (closing) return;
      }
      // Back-pressure: read no further while this client has many requests queued.
      if (pending >= MAX_QUEUED_PER_CONNECTION) sock.pause();
    });
    sock.on('end', () => {
      ended = true;
      if (!closing) {
        // A last request without its newline still gets an answer.
        const rest = splitter.rest();
        if (rest !== null) handleLine(rest);
      }
      if (pending === 0) finish();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!QUIET_SOCKET_ERRORS.has(err.code ?? '')) this.log(`control connection error: ${err.message}`);
      sock.destroy();
    });
    sock.on('close', () => this.connections.delete(sock));
  }

  private async run(req: Request): Promise<Reply> {
    try {
      return okReply(req.id, await this.handler(req));
    } catch (err) {
      if (err instanceof VswError) return errorReply(req.id, err.code, err.message);
      const message = (err as Error)?.message ?? String(err);
      this.log(`internal error handling '${req.cmd}': ${(err as Error)?.stack ?? message}`);
      return errorReply(req.id, 'EINTERNAL', `internal error: ${message}`);
    }
  }

  /** Wait until every queued request has been handled. */
  async drain(): Promise<void> {
    let tail;
    do {
      tail = this.queue;
      await tail;
    } while (tail !== this.queue);
  }

  /**
   * Stop accepting, drop every connection and, unless told otherwise, remove
   * the socket file (if it is still ours).
   */
  async close(removeSocket = true): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const listening = this.server.listening;
      const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const sock of this.connections) sock.destroy();
      if (listening) await closing;
    }
    if (removeSocket) await this.removeSocket();
  }

  /** Remove the socket file if it is the one this server created. */
  async removeSocket(): Promise<void> {
    if (this.socketIno === null) return;
    try {
      const st = await lstat(this.path);
      if (st.ino === this.socketIno) await unlink(this.path);
    } catch {
      // already gone
    }
    this.socketIno = null;
  }
}

function fsError(err: unknown, path: string): VswError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EACCES' || e.code === 'EPERM') return new VswError('EACCES', `permission denied on ${path}`);
  return new VswError('ESYSCALL', `${path}: ${e.code ?? e.message}`);
}
