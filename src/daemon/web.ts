// The live web page of the switch (`vswitchd --web [ADDR:]PORT`): one page and
// its assets (src/web, uPlot from node_modules), a stream of snapshots as
// server-sent events, with the events of `vswconfig monitor` in the same
// stream, and the trace of `vswconfig trace`.
//
// Nothing is counted here either: each snapshot is one reading of the switch
// taken in the control server's queue (ControlServer.exclusive), as the
// metrics' scrapes are, in the control protocol's result shapes. Snapshots are
// taken only while a page listens, every SNAPSHOT_MS, one for all pages.
//
// Read-only: GET only (any other method is 405, `Allow: GET`). The trace is a
// GET with query parameters, checked by the control protocol's own schema and
// run by the control socket's own handler, in its queue: it changes nothing.
// A failure is answered (503, 400) and logged, never thrown at the daemon.

import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { oneLine, VswError } from '../errors.js';
import { parseRequest } from '../control/protocol.js';
import { PROTOCOL_VERSION, type Request } from '../control/requests.js';
import { traceResultSchema, type FdbEntry, type TraceResult } from '../control/results.js';
import { parseEthertype } from '../core/acl.js';
import { parseVid } from '../core/vlan.js';
import { FDB_ROWS, type WebSnapshot } from '../web/snapshot.js';
import type { ListenAddress } from './args.js';
import { errorText, type Logger } from './log.js';
import { HttpListener, reply } from './http-listener.js';
import type { Switch } from './switch.js';
import type { Tunnels } from './tunnels.js';
import type { MonitorHub, MonitorSubscriber } from '../control/monitor.js';

/** How often the pages are sent a snapshot while one listens. */
export const SNAPSHOT_MS = 500;
/** A page that leaves this much unread is dropped (it reconnects by itself once it reads again). */
const MAX_UNREAD_BYTES = 4 << 20;

/** One reading of the switch for the page, in the queue of the control socket (the caller's job). */
export async function webSnapshot(sw: Switch, tunnels: Tunnels, version: string): Promise<WebSnapshot> {
  const time = Date.now();
  const stats = await sw.stats();
  const ports = sw.ports();
  const vlans = ports.map((p) => ({ ifname: p.ifname, mode: p.vlan.mode, tag: p.vlan.tag, trunks: p.vlan.trunks }));
  const entries: FdbEntry[] = [];
  let count = 0;
  for (const e of await sw.fdb()) {
    if (count++ < FDB_ROWS) entries.push(e);
  }
  const acl = await sw.acl.show();
  const mirrors = await sw.mirrors.show();
  // tunnel show reads the datapath and the kernel again: only when there is a tunnel.
  const hasTunnel = ports.some((p) => p.tunnel !== null);
  const tunnelShow = hasTunnel ? await tunnels.show() : { tunnels: [], mtuWarnings: [] };
  return { time, version, datapath: sw.datapathKind, stats, vlans, fdb: { entries, count }, acl, mirrors, tunnels: tunnelShow };
}

/** A trace request from the page's query (`in`, `src`, `dst`, `vlan`, `type`), as `vswconfig trace` builds it. */
export function traceRequest(query: URLSearchParams): Request {
  const frame: Record<string, unknown> = {};
  const port = query.get('in');
  if (port === null || port === '') throw new VswError('EUSAGE', "missing 'in PORT'");
  frame['in'] = port;
  for (const word of ['src', 'dst'] as const) {
    const mac = query.get(word);
    if (mac !== null && mac !== '') frame[word] = mac;
  }
  const parsed = (word: string, parse: (s: string) => number): void => {
    const text = query.get(word);
    if (text === null || text === '') return;
    try {
      frame[word] = parse(text);
    } catch (err) {
      throw new VswError('EUSAGE', errorText(err));
    }
  };
  parsed('vlan', parseVid);
  parsed('type', parseEthertype);
  // The line the control socket would have read: the same schema checks it.
  const r = parseRequest(JSON.stringify({ v: PROTOCOL_VERSION, id: 0, cmd: 'trace', ...frame }));
  if (!r.ok) throw new VswError('EUSAGE', r.error.message);
  return r.request;
}

/** A server-sent event: `event: NAME`, the data one `data:` line per line of it, a blank line. */
export function sseFrame(event: string, data: string): string {
  return `event: ${event}\n${data
    .split(/\r\n|\r|\n/)
    .map((l) => `data: ${l}\n`)
    .join('')}\n`;
}

/** What the server serves from: a snapshot reader and the control handler's trace, both in the control queue; the events of `monitor`. */
export interface WebSource {
  take(): Promise<WebSnapshot>;
  trace(req: Request): Promise<TraceResult>;
  monitor?: MonitorHub;
}

interface Asset {
  type: string;
  body: Buffer;
}

/** The repository (dist/src/daemon/web.js → ../../..). */
const ROOT = new URL('../../../', import.meta.url);

/**
 * The page's files, by URL path: what the build put in dist/src/web (tsc's output, and index.html and
 * style.css copied there) and uPlot's from node_modules. Read once at start: a missing one stops
 * vswitchd before it serves.
 */
export function loadAssets(root: URL = ROOT): Map<string, Asset> {
  const files: Array<[string, string, string]> = [
    ['/', 'dist/src/web/index.html', 'text/html; charset=utf-8'],
    ['/style.css', 'dist/src/web/style.css', 'text/css; charset=utf-8'],
    ['/web/app.js', 'dist/src/web/app.js', 'text/javascript; charset=utf-8'],
    ['/web/snapshot.js', 'dist/src/web/snapshot.js', 'text/javascript; charset=utf-8'],
    ['/cli/format-trace.js', 'dist/src/cli/format-trace.js', 'text/javascript; charset=utf-8'],
    ['/cli/format-monitor.js', 'dist/src/cli/format-monitor.js', 'text/javascript; charset=utf-8'],
    ['/uPlot.iife.min.js', 'node_modules/uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
    ['/uPlot.min.css', 'node_modules/uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
  ];
  const assets = new Map<string, Asset>();
  for (const [path, file, type] of files) {
    const at = fileURLToPath(new URL(file, root));
    try {
      assets.set(path, { type, body: readFileSync(at) });
    } catch (err) {
      throw new Error(`the web page's file ${at} cannot be read (${errorText(err)}): run npm ci and npm run build`);
    }
  }
  return assets;
}

/** The page's own policy: every script, style and request from this server (it works without internet). */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

export class WebServer {
  private readonly http: HttpListener;
  private readonly pages = new Set<ServerResponse>();
  /** Each page's subscription to the events of `monitor`. */
  private readonly listeners = new Map<ServerResponse, MonitorSubscriber>();
  private source: WebSource | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private last: string | null = null;
  /** Listening on the loopback: only a Host of this machine is answered (a page of another site, its name rebound to 127.0.0.1, is not). */
  private loopback = false;

  constructor(
    private readonly log: Logger,
    private readonly assets: Map<string, Asset>,
    private readonly periodMs = SNAPSHOT_MS,
  ) {
    this.http = new HttpListener('the web page', log, (req, res) => this.onRequest(req, res));
  }

  /** Listen on `at`; resolves to where (the port the kernel picked for 0), or rejects with a one-line reason. */
  async listen(at: ListenAddress): Promise<ListenAddress> {
    const where = await this.http.listen(at);
    this.loopback = where.host === '::1' || where.host.startsWith('127.');
    return where;
  }

  /** From now on, snapshots and traces come from `source` (until then the API answers 503). */
  serve(source: WebSource): void {
    this.source = source;
    for (const res of this.pages) this.subscribePage(res);
    if (this.pages.size > 0) this.tick();
  }

  /**
   * The page gets `monitor`'s events too, as `event: monitor` frames of its
   * stream; a page that leaves MAX_UNREAD_BYTES unread is dropped by the hub
   * as any monitor (it reconnects once it reads again).
   */
  private subscribePage(res: ServerResponse): void {
    const hub = this.source?.monitor;
    if (hub === undefined || this.listeners.has(res)) return;
    const sub: MonitorSubscriber = {
      name: 'of a web page',
      send: (json) => void res.write(sseFrame('monitor', json)),
      unsent: () => res.writableLength,
      drop: () => res.destroy(),
      bufferBytes: MAX_UNREAD_BYTES,
    };
    this.listeners.set(res, sub);
    hub.subscribe(sub);
  }

  /** Stop listening, end every stream and drop every connection. */
  close(): Promise<void> {
    this.stopTicking();
    for (const res of this.pages) res.destroy();
    this.pages.clear();
    return this.http.close();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.answer(req, res);
    } catch (err) {
      this.log(`web request failed: ${errorText(err)}`);
      res.destroy();
    }
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') return reply(res, 405, `method ${req.method ?? ''} not allowed: the page is read-only (GET only)`, { Allow: 'GET' });
    if (this.loopback && !localHost(req.headers.host)) return reply(res, 403, 'forbidden: a page on the loopback answers Host localhost or an IP address only');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname === '/index.html' ? '/' : url.pathname;
    const asset = this.assets.get(path);
    if (asset !== undefined) {
      res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
      res.end(asset.body);
      return;
    }
    if (path === '/api/events') return this.stream(res);
    if (path === '/api/snapshot') return void this.snapshotOnce(res);
    if (path === '/api/trace') return void this.trace(url.searchParams, res);
    reply(res, 404, `not found: ${path}`);
  }

  /** GET /api/snapshot: one snapshot, as the stream sends them. */
  private async snapshotOnce(res: ServerResponse): Promise<void> {
    if (this.source === null) return reply(res, 503, 'vswitchd is starting');
    try {
      json(res, 200, await this.source.take());
    } catch (err) {
      const why = oneLine(errorText(err));
      this.log(`web: snapshot failed: ${why}`);
      reply(res, 503, `cannot read the switch: ${why}`);
    }
  }

  /** GET /api/trace?in=PORT[&src=MAC][&dst=MAC][&vlan=VID][&type=ETHERTYPE]: what `vswconfig trace -j` prints. */
  private async trace(query: URLSearchParams, res: ServerResponse): Promise<void> {
    if (this.source === null) return reply(res, 503, 'vswitchd is starting');
    try {
      const result = await this.source.trace(traceRequest(query));
      // As the client reads it off the socket: the same keys in the same order.
      json(res, 200, traceResultSchema.parse(JSON.parse(JSON.stringify(result))));
    } catch (err) {
      if (err instanceof VswError) return json(res, 400, { error: { code: err.code, message: err.message } });
      const why = oneLine(errorText(err));
      this.log(`web: trace failed: ${why}`);
      json(res, 503, { error: { code: 'EINTERNAL', message: why } });
    }
  }

  /** GET /api/events: a snapshot as soon as there is one, then one every period. */
  private stream(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.write(`retry: 1000\n\n`);
    this.pages.add(res);
    this.subscribePage(res);
    res.on('close', () => {
      this.pages.delete(res);
      const sub = this.listeners.get(res);
      this.listeners.delete(res);
      if (sub !== undefined) this.source?.monitor?.unsubscribe(sub);
      if (this.pages.size === 0) this.stopTicking();
    });
    if (this.last !== null) this.send(res, this.last);
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.periodMs);
      this.tick();
    }
  }

  private stopTicking(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.last = null;
  }

  /** Read the switch once (never two readings at a time) and send it to every page. */
  private tick(): void {
    const source = this.source;
    if (source === null || this.reading) return;
    this.reading = true;
    source
      .take()
      .then(
        (snap) => {
          this.last = sseFrame('snapshot', JSON.stringify(snap));
          for (const res of this.pages) this.send(res, this.last);
        },
        (err: unknown) => {
          const why = oneLine(errorText(err));
          this.log(`web: snapshot failed: ${why}`);
          const frame = sseFrame('failure', JSON.stringify({ message: why }));
          for (const res of this.pages) this.send(res, frame);
        },
      )
      .finally(() => (this.reading = false));
  }

  private send(res: ServerResponse, frame: string): void {
    if (res.writableLength > MAX_UNREAD_BYTES) {
      this.log('web: a page that does not read its stream was dropped');
      res.destroy();
      return;
    }
    res.write(frame);
  }
}

/** A Host header naming this machine: `localhost` or an IP address, with or without a port. */
export function localHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  return name.toLowerCase() === 'localhost' || isIP(name) !== 0;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}
