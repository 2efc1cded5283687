// The control socket of vswitchd: a Unix stream socket speaking the protocol in
// protocol.ts.
//
// Requests from all connections are handled one at a time, in arrival order,
// so add and delete never interleave. Replies are written in each connection's
// own order, outside that queue, at the pace the client reads them: a big fdb
// listing going to a slow reader holds up nobody else.
//
// Nothing a client sends can take the daemon down: a malformed, oversized or
// unknown request gets an EPROTO reply and the connection is closed; socket
// errors are absorbed. A connection costs a slot, so it must keep moving: a
// request line must be complete within requestTimeoutMs of its first byte, a
// connection with nothing to do is closed after idleTimeoutMs, and so is one
// that leaves a reply unread that long.
//
// `monitor` and `capture` make their connection a stream (stream.ts): the
// handler answers a StreamedReply, and the connection reads nothing more.

import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import { VswError } from '../errors.js';
import type { MonitorHub } from './monitor.js';
import { encodeReply, errorReply, LineSplitter, MAX_LINE_BYTES, parseRequest, resultLines } from './protocol.js';
import type { AclAddRequest, CaptureRequest, MirrorAddRequest, Request, TraceRequest, TunnelAddRequest } from './requests.js';
import { ReplyStream, StreamedReply } from './stream.js';
import type { AclShowResult, FdbEntry, FdbListing, MirrorShowResult, MtuWarning, RestartResult, TraceResult, TunnelShowResult, VlanResult } from './results.js';
import type { PortVlan } from '../core/vlan.js';

/** A command's result; a StreamedReply (monitor, capture) makes the connection a stream. */
export type Handler = (req: Request) => Promise<unknown>;

/** The commands whose reply is a stream: the connection reads nothing after them. */
const STREAM_COMMANDS: ReadonlySet<Request['cmd']> = new Set(['monitor', 'capture']);

/** The captures of the switch (daemon/capture.ts): the port checked (throws), the capture begun when the stream opens. */
export interface CapturesLike {
  open(req: CaptureRequest): StreamedReply;
}

/** What the control plane can be asked; the daemon's Switch fits it (its ACL and mirrors are parts of it). */
export interface SwitchLike {
  readonly datapathKind: 'kernel' | 'user';
  /** How its programs are attached at tc ingress; undefined: not said. */
  readonly attachMode?: 'tcx' | 'tc' | undefined;
  add(ifname: string): Promise<void>;
  delete(ifname: string): Promise<void>;
  show(): string[];
  fdb(): Promise<Iterable<FdbEntry>>;
  stats(): Promise<unknown>;
  /** Set the port's 802.1Q mode (when given; valid), and return it. */
  vlan(ifname: string, set: PortVlan | null): Promise<VlanResult>;
  trace(r: TraceRequest): Promise<TraceResult>;
  readonly acl: {
    add(r: AclAddRequest): Promise<number>;
    del(id: number): Promise<void>;
    show(): Promise<AclShowResult>;
  };
  readonly mirrors: {
    add(r: MirrorAddRequest): Promise<void>;
    del(name: string): Promise<void>;
    show(): Promise<MirrorShowResult>;
  };
}

/** `restart` (daemon/restart.ts): resolves with the new vswitchd's pid once it serves the socket. */
export type Restarter = () => Promise<RestartResult>;

/** The tunnel ports of the switch (daemon/tunnels.ts). */
export interface TunnelsLike {
  add(spec: TunnelAddRequest): Promise<void>;
  del(name: string): Promise<void>;
  show(): Promise<TunnelShowResult>;
  /** Ports whose MTU is larger than a tunnel's. */
  warnings(): Promise<MtuWarning[]>;
}

/** What a switch's commands reach besides the registry: each optional (a command whose part is missing is refused). */
export interface HandlerParts {
  tunnels?: TunnelsLike;
  /** `stats` adds the monitors' counts. */
  monitor?: MonitorHub;
  captures?: CapturesLike;
  restart?: Restarter;
}

/** Map protocol commands onto the switch and the parts it has. */
export function switchHandler(sw: SwitchLike, { tunnels, monitor, captures, restart }: HandlerParts = {}): Handler {
  return async (req) => {
    switch (req.cmd) {
      case 'monitor':
        if (monitor === undefined) throw new VswError('EPROTO', 'this vswitchd has no monitor');
        return monitorStream(monitor);
      case 'add':
        await sw.add(req.ifname);
        return null;
      case 'delete':
        await sw.delete(req.ifname);
        return null;
      case 'show': {
        const mtuWarnings = tunnels === undefined ? [] : await tunnels.warnings();
        return {
          datapath: sw.datapathKind,
          ...(sw.attachMode !== undefined ? { attach: sw.attachMode } : {}),
          ports: sw.show(),
          ...(mtuWarnings.length > 0 ? { mtuWarnings } : {}),
        };
      }
      case 'fdb':
        return { entries: await sw.fdb() } satisfies FdbListing;
      case 'stats': {
        const stats = (await sw.stats()) as object;
        return monitor === undefined ? stats : { ...stats, monitor: monitor.counts() };
      }
      case 'acl-add': {
        const { v: _v, id: _id, cmd: _cmd, ...rule } = req;
        return { id: await sw.acl.add(rule) };
      }
      case 'acl-del':
        await sw.acl.del(req.rule);
        return null;
      case 'acl-show':
        return await sw.acl.show();
      case 'mirror-add': {
        const { v: _v, id: _id, cmd: _cmd, ...mirror } = req;
        await sw.mirrors.add(mirror);
        return null;
      }
      case 'mirror-del':
        await sw.mirrors.del(req.name);
        return null;
      case 'mirror-show':
        return await sw.mirrors.show();
      case 'trace': {
        const { v: _v, id: _id, cmd: _cmd, ...frame } = req;
        return await sw.trace(frame);
      }
      case 'tunnel-add':
      case 'tunnel-del':
      case 'tunnel-show': {
        if (tunnels === undefined) throw new VswError('ETUNNEL', 'this switch has no tunnels');
        if (req.cmd === 'tunnel-show') return await tunnels.show();
        if (req.cmd === 'tunnel-del') await tunnels.del(req.name);
        else {
          const { v: _v, id: _id, cmd: _cmd, ...spec } = req;
          await tunnels.add(spec);
        }
        return null;
      }
      case 'capture': {
        if (captures === undefined) throw new VswError('EUSAGE', 'this switch cannot capture');
        const { v: _v, cmd: _cmd, ...capture } = req;
        return captures.open(capture);
      }
      case 'restart':
        if (restart === undefined) throw new VswError('EUSAGE', 'this switch cannot restart');
        return await restart();
      case 'vlan':
        return await sw.vlan(req.ifname, req.mode === undefined ? null : { mode: req.mode, tag: req.tag ?? 0, trunks: req.trunks ?? null });
    }
  };
}

/**
 * `monitor`: the stream subscribed to the hub, its first part saying so; it
 * ends when the client goes or is dropped (monitor.ts), with no last line.
 */
function monitorStream(hub: MonitorHub): StreamedReply {
  return new StreamedReply((stream) => {
    stream.send('{"subscribed":true}');
    hub.subscribe(stream);
    stream.onClose(() => {
      hub.unsubscribe(stream);
      stream.end();
    });
  });
}

export interface ControlServerOptions {
  path: string;
  handler: Handler;
  log: (message: string) => void;
  /** Close a connection that has no request in progress, or leaves a reply unread, for this long. */
  idleTimeoutMs?: number;
  /** Close a connection whose request line is not complete this long after its first byte. */
  requestTimeoutMs?: number;
  /** Once everything written has reached the client's socket and our side is closed, wait this long for the client to close its side. */
  lingerMs?: number;
  maxConnections?: number;
}

/** Requests of one connection queued before the server stops reading from it. */
const MAX_QUEUED_PER_CONNECTION = 32;

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
  /** Streams made so far: each one's name. */
  private streams = 0;
  private readonly log: (message: string) => void;
  private readonly idleTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly lingerMs: number;
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
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.lingerMs = opts.lingerMs ?? 2000;
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
    const closed = new AbortController();
    let pending = 0; // requests of this connection queued, running or being written
    let closing = false; // an error reply was sent (or is queued): no more requests
    let ended = false; // the client will send nothing more
    /** Tail of this connection's replies, written in request order. */
    let output: Promise<void> = Promise.resolve();
    // Deadlines run from a fixed start. sock.setTimeout would not do: any byte
    // restarts it, so a client trickling a byte a minute would never time out.
    let idleTimer: NodeJS.Timeout | undefined;
    let lineTimer: NodeJS.Timeout | undefined;

    const stopTimers = (): void => {
      clearTimeout(idleTimer);
      clearTimeout(lineTimer);
      idleTimer = lineTimer = undefined;
    };

    let finishing = false;
    const finish = (): void => {
      stopTimers();
      if (finishing || sock.destroyed) return;
      finishing = true;
      if (!sock.writableEnded) sock.end();
      // A client that keeps its end open after we close ours is dropped, but
      // only once all we wrote has reached its socket ('finish'): a capture's
      // last frames may still be queued here behind a slow reader, and cutting
      // the connection earlier would lose them. One that stops reading them is
      // dropped after the idle timeout, as for any reply (drained()).
      const linger = (): void => {
        if (!sock.destroyed) setTimeout(() => sock.destroy(), this.lingerMs).unref();
      };
      if (sock.writableFinished) linger();
      else void drained('finish').then(linger);
    };

    /** Nothing pending, nothing half-received: the connection gets idleTimeoutMs to send its next request. */
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = undefined;
      if (pending > 0 || splitter.buffered > 0 || closing || ended || sock.destroyed) return;
      idleTimer = setTimeout(() => sock.destroy(), this.idleTimeoutMs);
    };

    /** A line has begun (and the socket is being read): it has requestTimeoutMs to end. */
    const armLine = (): void => {
      if (lineTimer !== undefined || splitter.buffered === 0 || closing || sock.isPaused()) return;
      lineTimer = setTimeout(() => {
        lineTimer = undefined;
        refuse(null, `request line not complete within ${this.requestTimeoutMs / 1000} s`);
      }, this.requestTimeoutMs);
    };

    /** Resolves once the client has read enough of what was written ('drain'; 'finish': all of it); drops a client that stops reading. */
    const drained = (event: 'drain' | 'finish' = 'drain'): Promise<void> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.log('control connection dropped: the client does not read its replies');
          sock.destroy();
        }, this.idleTimeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          sock.off(event, done);
          sock.off('close', done);
          resolve();
        };
        sock.on(event, done);
        sock.on('close', done);
      });

    const write = async (lines: Iterable<string> | AsyncIterable<string>): Promise<void> => {
      for await (const line of lines) {
        if (sock.destroyed || sock.writableEnded) return;
        if (!sock.write(line)) await drained();
      }
    };

    /**
     * The connection becomes `reply`'s stream (stream.ts), opened in the queue
     * of requests (between two commands); resolves once it ends or the
     * connection closes.
     */
    const stream = (id: number, reply: StreamedReply): Promise<void> =>
      new Promise<void>((resolve) => {
        if (sock.destroyed) return resolve();
        sock.once('close', () => resolve());
        const s = new ReplyStream(id, `#${++this.streams} on the control socket`, sock, closed.signal, () => {
          resolve();
        });
        void this.exclusive(async () => {
          if (sock.destroyed) return;
          try {
            reply.open(s);
          } catch (err) {
            s.end(this.errorLine(id, 'stream', err));
          }
        });
      });

    /**
     * Work out the reply in the server-wide queue (commands never interleave),
     * then write it in this connection's order, outside that queue.
     */
    const enqueue = (answer: () => Promise<Iterable<string> | AsyncIterable<string> | StreamedReply>, id: number | null = null): void => {
      pending++;
      clearTimeout(idleTimer);
      idleTimer = undefined;
      const lines = this.queue.then(answer).catch((err: unknown) => {
        this.log(`control request failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
        return [] as Iterable<string>;
      });
      this.queue = lines.then(() => undefined);
      output = output.then(async () => {
        try {
          const reply = await lines;
          if (reply instanceof StreamedReply) await stream(id ?? 0, reply);
          else await write(reply);
        } catch (err) {
          // A reply cut off in the middle cannot be mended: drop the connection.
          this.log(`control reply failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
          sock.destroy();
        } finally {
          pending--;
          if (pending < MAX_QUEUED_PER_CONNECTION && sock.isPaused() && !closing) {
            sock.resume();
            armLine();
          }
          if ((closing || ended) && pending === 0) finish();
          else armIdle();
        }
      });
    };

    const refuse = (id: number | null, message: string): void => {
      closing = true;
      clearTimeout(lineTimer);
      lineTimer = undefined;
      enqueue(async () => [encodeReply(errorReply(id, 'EPROTO', message))]);
    };

    const handleLine = (line: Buffer): void => {
      if (closing) return;
      const parsed = parseRequest(line);
      if (!parsed.ok) {
        refuse(parsed.id, parsed.error.message);
        return;
      }
      const req = parsed.request;
      if (STREAM_COMMANDS.has(req.cmd)) {
        // Its reply is a stream: nothing more is read from this connection.
        closing = true;
        stopTimers();
      }
      enqueue(async () => {
        if (sock.destroyed) return []; // client gone: do not act for it
        return this.run(req);
      }, req.id);
    };

    armIdle();
    sock.on('data', (chunk: Buffer) => {
      if (closing) return; // drain and discard until the client goes
      clearTimeout(idleTimer);
      idleTimer = undefined;
      for (const ev of splitter.push(chunk)) {
        if (ev.kind === 'overflow') {
          refuse(null, `request line too long (more than ${MAX_LINE_BYTES} bytes)`);
          return;
        }
        // That line made its deadline; the next one gets its own.
        clearTimeout(lineTimer);
        lineTimer = undefined;
        handleLine(ev.line);
        if (closing) return;
      }
      // Back-pressure: read no further while this client has many requests queued.
      if (pending >= MAX_QUEUED_PER_CONNECTION) {
        sock.pause();
        // Its line cannot end while we do not read it: that time is not the client's.
        clearTimeout(lineTimer);
        lineTimer = undefined;
      }
      armLine();
      armIdle();
    });
    sock.on('end', () => {
      ended = true;
      closed.abort(); // a stream ends: its last line (capture's) is still written
      clearTimeout(lineTimer);
      lineTimer = undefined;
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
    sock.on('close', () => {
      closed.abort();
      stopTimers();
      this.connections.delete(sock);
    });
  }

  /** The reply lines to one request, or its stream. */
  private async run(req: Request): Promise<Iterable<string> | AsyncIterable<string> | StreamedReply> {
    try {
      const result = await this.handler(req);
      if (result instanceof StreamedReply) return result;
      return resultLines(req.id, req.cmd, result);
    } catch (err) {
      return [this.errorLine(req.id, req.cmd, err)];
    }
  }

  /** The error reply to request `id` (`cmd`) that `err` ended: its own code, or EINTERNAL (logged). */
  private errorLine(id: number | null, cmd: string, err: unknown): string {
    if (err instanceof VswError) return encodeReply(errorReply(id, err.code, err.message));
    const message = (err as Error)?.message ?? String(err);
    this.log(`internal error handling '${cmd}': ${(err as Error)?.stack ?? message}`);
    return encodeReply(errorReply(id, 'EINTERNAL', `internal error: ${message}`));
  }

  /**
   * Run `fn` in the queue of requests, as a request of its own: it sees the
   * switch between two commands (vswitchd's metrics read the switch so).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
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
   * A restart: stop accepting, leave the socket file (the new vswitchd binds
   * it again) and the connections (the one asking gets its answer).
   */
  stopListening(): void {
    if (this.closed) return;
    this.closed = true;
    // Not awaited: close()'s callback waits for every connection. The listener
    // is closed (and its file unlinked, by libuv) here and now.
    if (this.server.listening) this.server.close();
    this.socketIno = null; // the path is the next daemon's
  }

  /** Resolves once no connection is open (their clients read their answers and left), or after `ms`. */
  quiet(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const deadline = Date.now() + ms;
      const check = (): void => {
        if (this.connections.size === 0 || Date.now() >= deadline) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
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
