// A client of the control socket: one request, its reply (for fdb, several
// lines put back together), then close; or a monitor's stream of events.

import net from 'node:net';
import { VswError } from '../errors.js';
import { encodeRequest, isErrorCode, LineSplitter, MAX_LINE_BYTES, parseReply } from './protocol.js';
import { type Command, type MirrorAddRequest, PROTOCOL_VERSION, type Request, type TraceRequest } from './requests.js';
import { type MonitorEvent, monitorLineSchema, monitorStartSchema } from './monitor-events.js';
import { type FdbEntry, fdbPartSchema, type ResultOf, resultSchemas } from './results.js';

export const DEFAULT_TIMEOUT_MS = 10_000;

export type CommandArgs =
  | { cmd: 'add' | 'delete'; ifname: string }
  | { cmd: 'show' | 'fdb' | 'stats' | 'restart' }
  | { cmd: 'vlan'; ifname: string; mode?: 'access' | 'trunk' | 'native-tagged' | 'native-untagged'; tag?: number; trunks?: Array<[number, number]> | null }
  | { cmd: 'acl-add'; priority?: number; in?: string; src?: string; dst?: string; type?: number; vlan?: number | 'untagged'; action: 'allow' | 'drop' }
  | { cmd: 'acl-del'; rule: number }
  | { cmd: 'acl-show' }
  | ({ cmd: 'mirror-add' } & MirrorAddRequest)
  | { cmd: 'mirror-del'; name: string }
  | { cmd: 'mirror-show' }
  | ({ cmd: 'trace' } & TraceRequest)
  | { cmd: 'tunnel-add'; name: string; vni: number; remotes: string[]; local?: string; dstport?: number; vlan?: number }
  | { cmd: 'tunnel-del'; name: string }
  | { cmd: 'tunnel-show' };

export interface RequestOptions {
  /** Give up when the daemon sends nothing for this long (a long listing may take longer in all). */
  timeoutMs?: number;
}

export function connectError(err: NodeJS.ErrnoException, path: string): VswError {
  switch (err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new VswError('ENOTRUNNING', `vswitchd is not running (no socket at ${path})`);
    case 'ECONNREFUSED':
      return new VswError('ENOTRUNNING', `vswitchd is not running (nothing listening on ${path})`);
    case 'EACCES':
    case 'EPERM':
      return new VswError('EACCES', `permission denied on ${path}`);
    default:
      return new VswError('ESYSCALL', `cannot connect to ${path}: ${err.code ?? err.message}`);
  }
}

/**
 * Send one command to the daemon on `path` and return its result, checked
 * against the protocol. Rejects with VswError: the daemon's own error code and
 * message, or ENOTRUNNING / EACCES / ESYSCALL / EPROTO for the transport.
 */
export async function request<C extends Command>(
  path: string,
  args: CommandArgs & { cmd: C },
  opts: RequestOptions = {},
): Promise<ResultOf[C]> {
  if (args.cmd !== 'fdb') return (await call(path, args, opts, null)) as ResultOf[C];
  const entries: FdbEntry[] = [];
  await call(path, args, opts, (part) => {
    for (const e of part) entries.push(e);
  });
  return { entries } as ResultOf[C];
}

/**
 * List the FDB a part at a time: `onPart` gets each part's entries, checked,
 * as they arrive. Resolves with the count once the daemon's last line confirms
 * that every entry arrived; rejects as request() does.
 */
export async function listFdb(path: string, onPart: (entries: FdbEntry[]) => void, opts: RequestOptions = {}): Promise<number> {
  return ((await call(path, { cmd: 'fdb' }, opts, onPart)) as { count: number }).count;
}

/** Hands each whole reply line of `chunk` to `onLine` until `done()`; a line too long fails. */
export function feedLines(splitter: LineSplitter, chunk: Buffer, onLine: (line: Buffer) => void, done: () => boolean, fail: (err: VswError) => void): void {
  for (const ev of splitter.push(chunk)) {
    if (ev.kind === 'overflow') {
      fail(new VswError('EPROTO', 'bad reply from vswitchd: reply line too long'));
      return;
    }
    onLine(ev.line);
    if (done()) return;
  }
}

/** One request and its reply lines; returns what the last line carries. */
function call(
  path: string,
  args: CommandArgs,
  opts: RequestOptions,
  onPart: ((entries: FdbEntry[]) => void) | null,
): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const id = 1;
  const req = { v: PROTOCOL_VERSION, id, ...args } as Request;

  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    let connected = false;
    const sock = net.createConnection({ path });
    const splitter = new LineSplitter(MAX_LINE_BYTES);

    const settle = (err: VswError | null, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };

    const noReply = (): void => {
      const secs = timeoutMs / 1000;
      settle(new VswError('ESYSCALL', `no reply from vswitchd on ${path} within ${secs} s`));
    };
    let timer = setTimeout(noReply, timeoutMs);
    /** Entries of a streamed fdb reply so far. */
    let received = 0;

    const onLine = (line: Buffer): void => {
      clearTimeout(timer);
      timer = setTimeout(noReply, timeoutMs);
      const parsed = parseReply(line.toString('utf8'));
      if (!parsed.ok) {
        settle(new VswError('EPROTO', `bad reply from vswitchd: ${parsed.message}`));
        return;
      }
      const reply = parsed.reply;
      if (reply.id !== id && reply.id !== null) {
        settle(new VswError('EPROTO', `bad reply from vswitchd: reply id ${reply.id} for request ${id}`));
        return;
      }
      if (!reply.ok) {
        const code = isErrorCode(reply.error.code) ? reply.error.code : 'EINTERNAL';
        settle(new VswError(code, reply.error.message));
        return;
      }
      if (reply.part !== undefined) {
        const part = args.cmd === 'fdb' ? fdbPartSchema.safeParse(reply.part) : null;
        if (part === null || !part.success || onPart === null) {
          settle(new VswError('EPROTO', `bad reply from vswitchd: unexpected part for '${args.cmd}'`));
          return;
        }
        received += part.data.entries.length;
        onPart(part.data.entries);
        return;
      }
      const result = resultSchemas[args.cmd].safeParse(reply.result);
      if (!result.success) {
        settle(new VswError('EPROTO', `bad reply from vswitchd: unexpected result for '${args.cmd}'`));
        return;
      }
      if (args.cmd === 'fdb') {
        const { count } = result.data as { count: number };
        if (count !== received) {
          settle(new VswError('EPROTO', `bad reply from vswitchd: ${received} fdb entries received, ${count} announced`));
          return;
        }
      }
      settle(null, result.data);
    };

    sock.on('connect', () => {
      connected = true;
      sock.write(encodeRequest(req));
    });
    sock.on('data', (chunk: Buffer) => feedLines(splitter, chunk, onLine, () => settled, settle));
    sock.on('end', () => {
      const rest = splitter.rest();
      if (rest !== null) onLine(rest);
      settle(new VswError('EPROTO', 'vswitchd closed the connection without replying'));
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) settle(connectError(err, path));
      else settle(new VswError('ESYSCALL', `connection to vswitchd on ${path} failed: ${err.code ?? err.message}`));
    });
    sock.on('close', () => settle(new VswError('EPROTO', 'vswitchd closed the connection without replying')));
  });
}

/**
 * Subscribe to the switch's events (`monitor`): `onSubscribed` once the
 * subscription is in place, then `onEvent` for each event, checked, until the
 * daemon closes the connection (rejects with EPROTO) or `signal` aborts
 * (resolves). Rejects as request() does if the subscription fails. While a
 * promise `onEvent` returned is pending (its output is full), nothing more is
 * read: the daemon sees a reader that does not keep up.
 */
export function monitor(
  path: string,
  onEvent: (ev: MonitorEvent) => void | Promise<void>,
  opts: { onSubscribed?: () => void; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const id = 1;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let connected = false;
    let subscribed = false;
    const sock = net.createConnection({ path });
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    const settle = (err: VswError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => settle(null);
    if (opts.signal?.aborted) return settle(null);
    opts.signal?.addEventListener('abort', onAbort);
    const timer = setTimeout(() => settle(new VswError('ESYSCALL', `no reply from vswitchd on ${path} within ${timeoutMs / 1000} s`)), timeoutMs);

    const onLine = (line: Buffer): void => {
      const parsed = parseReply(line.toString('utf8'));
      if (!parsed.ok) return settle(new VswError('EPROTO', `bad reply from vswitchd: ${parsed.message}`));
      const reply = parsed.reply;
      if (!reply.ok) return settle(new VswError(isErrorCode(reply.error.code) ? reply.error.code : 'EINTERNAL', reply.error.message));
      if (!subscribed) {
        if (!monitorStartSchema.safeParse(reply.part).success) return settle(new VswError('EPROTO', "bad reply from vswitchd: unexpected answer to 'monitor'"));
        subscribed = true;
        clearTimeout(timer);
        opts.onSubscribed?.();
        return;
      }
      const ev = monitorLineSchema.safeParse(reply.part);
      // An event this client does not know (a newer daemon) is skipped, not fatal.
      if (!ev.success) return;
      const wait = onEvent(ev.data);
      if (wait !== undefined) {
        sock.pause();
        void wait.then(() => sock.resume());
      }
    };
    sock.on('connect', () => {
      connected = true;
      sock.write(encodeRequest({ v: PROTOCOL_VERSION, id, cmd: 'monitor' }));
    });
    sock.on('data', (chunk: Buffer) => {
      for (const ev of splitter.push(chunk)) {
        if (ev.kind === 'overflow') return settle(new VswError('EPROTO', 'bad reply from vswitchd: reply line too long'));
        onLine(ev.line);
        if (settled) return;
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) settle(connectError(err, path));
      else settle(new VswError('ESYSCALL', `connection to vswitchd on ${path} failed: ${err.code ?? err.message}`));
    });
    sock.on('close', () => settle(new VswError('EPROTO', 'vswitchd closed the monitor connection')));
  });
}
