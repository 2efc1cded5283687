// Prometheus metrics of the switch (`vswitchd --metrics [ADDR:]PORT`): GET
// /metrics in Prometheus' text format, made with prom-client.
//
// Nothing is counted here. Each scrape takes one snapshot of the switch — the
// `stats` the control socket answers (Switch.stats()), with the ACL's hits and
// the mirrors' copies — in the control server's queue, between two commands as
// a command runs; the metrics' collect() callbacks then map that snapshot. So a
// scrape and `vswconfig stats -j` with no frame in between give the same
// figures, and a port, rule or mirror that is gone leaves no series behind.
//
// No per-MAC series: the FDB is its size and counters. Label values are port,
// mirror and tunnel names and ACL rule ids.
//
// The HTTP server answers GET /metrics and nothing else (404 for any other
// path, 405 for any other method); a failed snapshot is a 503, never an error
// that reaches the daemon. It listens before the datapath starts, so an
// address in use stops vswitchd before it touches anything.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { oneLine } from '../errors.js';
import type { AclShowResult, MirrorShowResult, StatsResult } from '../control/results.js';
import type { ThreadMemory } from '../datapath/messages.js';
import type { DatapathKind, ListenAddress } from './args.js';
import { HttpListener, reply } from './http-listener.js';
import { errorText, type Logger } from './log.js';
import type { Switch } from './switch.js';

/** What one scrape shows: one reading of the switch. */
export interface MetricsSnapshot {
  /** What `vswconfig stats` shows. */
  stats: StatsResult;
  /** `acl show`'s rules: ids and hits. */
  acl: ReadonlyArray<Pick<AclShowResult['rules'][number], 'id' | 'hits'>>;
  /** `mirror show`'s mirrors: names and copies. */
  mirrors: ReadonlyArray<Pick<MirrorShowResult['mirrors'][number], 'name' | 'copies'>>;
  /** The ports that are tunnels; their frames are their ports' (as `tunnel show` gives them). */
  tunnels: readonly string[];
  /** vswitchd's memory and CPU: the process's, the main thread's heap, the datapath thread's heap. */
  process: ProcessReading;
}

/** What the process metrics show, read once per scrape (bytes, seconds). */
export interface ProcessReading {
  rss: number;
  cpuSeconds: number;
  /** The main thread's V8 heap. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** The datapath thread's. */
  datapath: ThreadMemory;
}

/** What does not change while vswitchd runs: `vswitch_info`'s labels and the FDB's size. */
export interface MetricsInfo {
  version: string;
  datapath: DatapathKind;
  /** How the datapath's programs are attached at each port's tc ingress (tcx or tc), as `vswconfig show` says. */
  attach: string;
  /** FDB entries the switch holds at most (--fdb-size). */
  fdbSize: number;
}

/** One snapshot of `sw`, read as the control socket's `stats`, `acl show` and `mirror show` read it. */
export async function switchSnapshot(sw: Switch): Promise<MetricsSnapshot> {
  // With the monitors' counts, as the control socket's stats gives them.
  const stats = { ...(await sw.stats()), monitor: sw.monitor.counts() };
  // Named now, with no event in between: the names stats just used.
  const tunnels = sw.ports().flatMap((p) => (p.tunnel === null ? [] : [p.ifname]));
  const acl = (await sw.acl.show()).rules;
  const mirrors = (await sw.mirrors.show()).mirrors;
  const datapath = await sw.memory();
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  const proc = { rss: m.rss, cpuSeconds: (cpu.user + cpu.system) / 1e6, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, datapath };
  return { stats, acl, mirrors, tunnels, process: proc };
}

type Labels = Record<string, string>;
type Series = Iterable<[Labels, number]>;

/** The metrics, as a prom-client registry whose collect() callbacks read the snapshot of the scrape under way. */
export class SwitchMetrics {
  readonly registry = new Registry();
  private snapshot: MetricsSnapshot | null = null;
  /** Scrapes one at a time: the collect() callbacks read one snapshot. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(info: MetricsInfo) {
    const snap = (): MetricsSnapshot => {
      if (this.snapshot === null) throw new Error('no snapshot: metrics are read through text()');
      return this.snapshot;
    };
    const ports = (f: (p: StatsResult['ports'][number]) => number) => (): Series =>
      snap().stats.ports.map((p): [Labels, number] => [{ port: p.port }, f(p)]);
    const tunnels = (f: (p: StatsResult['ports'][number]) => number) => (): Series => {
      const s = snap();
      return s.tunnels.flatMap((name): [Labels, number][] => {
        const p = s.stats.ports.find((q) => q.port === name);
        return p === undefined ? [] : [[{ tunnel: name }, f(p)]];
      });
    };
    const fdb = (k: keyof StatsResult['fdb']) => (): Series => [[{}, snap().stats.fdb[k]]];

    const gauge = (name: string, help: string, labelNames: string[], series: () => Series): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [labels, v] of series()) this.set(labels, v);
        },
      });
    };
    const counter = (name: string, help: string, labelNames: string[], series: () => Series): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [labels, v] of series()) this.inc(labels, v);
        },
      });
    };

    const infoLabels = { version: info.version, datapath: info.datapath, attach: info.attach };
    gauge('vswitch_info', 'vswitchd version, datapath (kernel or user) and how its programs are attached at tc ingress (tcx or tc); always 1', Object.keys(infoLabels), () => [[infoLabels, 1]]);

    gauge('vswitch_port_up', 'Whether the port\'s link is up (1) or down (0)', ['port'], ports((p) => (p.up ? 1 : 0)));
    gauge('vswitch_port_mtu_bytes', 'MTU of the port\'s interface', ['port'], ports((p) => p.mtu));
    counter('vswitch_port_receive_frames_total', 'Frames the switch received on the port', ['port'], ports((p) => p.rxFrames));
    counter('vswitch_port_receive_bytes_total', 'Bytes of the frames the switch received on the port', ['port'], ports((p) => p.rxBytes));
    counter('vswitch_port_transmit_frames_total', 'Frames the switch sent out of the port', ['port'], ports((p) => p.txFrames));
    counter('vswitch_port_transmit_bytes_total', 'Bytes of the frames the switch sent out of the port', ['port'], ports((p) => p.txBytes));
    counter(
      'vswitch_port_receive_ring_drops_total',
      'Frames the kernel dropped because the port\'s AF_PACKET receive ring was full (userspace datapath)',
      ['port'],
      ports((p) => p.rxRingDrops),
    );
    counter('vswitch_drops_total', 'Frames the switch dropped, by reason (as vswconfig stats names them)', ['reason'], () =>
      Object.entries(snap().stats.drops).map(([reason, n]): [Labels, number] => [{ reason }, n]),
    );

    gauge('vswitch_fdb_entries', 'MAC addresses in the forwarding database', [], fdb('entries'));
    gauge('vswitch_fdb_entries_limit', 'MAC addresses the forwarding database holds at most (--fdb-size)', [], () => [[{}, info.fdbSize]]);
    counter('vswitch_fdb_learned_total', 'MAC addresses learned (new entries)', [], fdb('learned'));
    counter('vswitch_fdb_moved_total', 'MAC addresses seen moving to another port', [], fdb('moved'));
    counter('vswitch_fdb_aged_total', 'Entries forgotten after the aging time without a frame', [], fdb('expired'));
    counter('vswitch_fdb_evicted_total', 'Entries evicted to make room in a full table', [], fdb('evicted'));
    counter('vswitch_fdb_flushed_total', 'Entries flushed with their port (link down, port removed, VLAN mode changed)', [], fdb('flushed'));
    counter('vswitch_fdb_refused_total', 'Source MAC addresses not learned because their port was at --fdb-port-limit', [], fdb('refused'));
    counter('vswitch_fdb_suppressed_total', 'Learn events for stations not learned that the kernel program did not send (over the port budget)', [], fdb('suppressed'));

    counter('vswitch_acl_rule_hits_total', 'Frames each ACL rule matched, by rule id', ['rule'], () =>
      snap().acl.map((r): [Labels, number] => [{ rule: String(r.id) }, r.hits]),
    );
    counter('vswitch_mirror_copies_total', 'Frames each mirror copied to its output port', ['mirror'], () =>
      snap().mirrors.map((m): [Labels, number] => [{ mirror: m.name }, m.copies]),
    );
    counter('vswitch_tunnel_receive_frames_total', 'Frames the switch took from the tunnel', ['tunnel'], tunnels((p) => p.rxFrames));
    counter('vswitch_tunnel_transmit_frames_total', 'Frames the switch gave the tunnel', ['tunnel'], tunnels((p) => p.txFrames));

    const monitor = (k: keyof NonNullable<StatsResult['monitor']>) => (): Series => {
      const m = snap().stats.monitor;
      return m === undefined ? [] : [[{}, m[k]]];
    };
    gauge('vswitch_monitors', 'Monitors listening (vswconfig monitor, web pages)', [], monitor('subscribers'));
    counter('vswitch_monitor_dropped_total', 'Monitors dropped because they stopped reading', [], monitor('dropped'));
    counter('vswitch_monitor_suppressed_events_total', 'Monitor events over their kind\'s rate, counted and not sent', [], monitor('suppressed'));

    // vswitchd itself, under the names Prometheus' client libraries give these (process_*, nodejs_*),
    // and the datapath thread's heap beside the main thread's: a soak tells a leak from a heap
    // waiting for its next full collection with these.
    const own = (f: (p: ProcessReading) => number) => (): Series => [[{}, f(snap().process)]];
    gauge('process_resident_memory_bytes', 'Resident memory size of vswitchd in bytes', [], own((p) => p.rss));
    counter('process_cpu_seconds_total', 'CPU time vswitchd spent in user and system mode, in seconds (the kernel datapath forwards outside it, in softirq)', [], own((p) => p.cpuSeconds));
    gauge('nodejs_heap_size_used_bytes', 'V8 heap in use by the main thread (the control plane), bytes', [], own((p) => p.heapUsed));
    gauge('nodejs_heap_size_total_bytes', 'V8 heap size of the main thread, bytes', [], own((p) => p.heapTotal));
    gauge('nodejs_external_memory_bytes', 'Memory outside the V8 heap held by the main thread\'s objects (buffers), bytes', [], own((p) => p.external));
    gauge('vswitch_datapath_heap_used_bytes', 'V8 heap in use by the datapath thread, bytes', [], own((p) => p.datapath.heapUsed));
    gauge('vswitch_datapath_heap_size_bytes', 'V8 heap size of the datapath thread, bytes', [], own((p) => p.datapath.heapTotal));
    gauge('vswitch_datapath_external_memory_bytes', 'Memory outside the V8 heap held by the datapath thread\'s objects, bytes', [], own((p) => p.datapath.external));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text of a scrape showing `snapshot`. */
  text(snapshot: MetricsSnapshot): Promise<string> {
    const text = this.queue.then(async () => {
      this.snapshot = snapshot;
      try {
        return await this.registry.metrics();
      } finally {
        this.snapshot = null;
      }
    });
    this.queue = text.catch(() => undefined);
    return text;
  }
}

/** The HTTP side: GET /metrics, once `serve()` has said from what. */
export class MetricsServer {
  private readonly http: HttpListener;
  private source: { metrics: SwitchMetrics; take: () => Promise<MetricsSnapshot> } | null = null;

  constructor(private readonly log: Logger) {
    this.http = new HttpListener('metrics', log, (req, res) => this.onRequest(req, res));
  }

  /** Listen on `at`; resolves to where (the port the kernel picked for 0), or rejects with a one-line reason. */
  listen(at: ListenAddress): Promise<ListenAddress> {
    return this.http.listen(at);
  }

  /** From now on, scrapes are `metrics` showing what `take` reads (until then they are answered 503). */
  serve(metrics: SwitchMetrics, take: () => Promise<MetricsSnapshot>): void {
    this.source = { metrics, take };
  }

  /** Stop listening and drop every connection. */
  close(): Promise<void> {
    return this.http.close();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.answer(req, res).catch((err: unknown) => {
      this.log(`metrics request failed: ${errorText(err)}`);
      res.destroy();
    });
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return reply(res, 404, 'not found: vswitchd serves GET /metrics only');
    if (req.method !== 'GET') return reply(res, 405, `method ${req.method ?? ''} not allowed: GET /metrics only`, { Allow: 'GET' });
    const source = this.source;
    if (source === null) return reply(res, 503, 'vswitchd is starting');
    let text: string;
    try {
      text = await source.metrics.text(await source.take());
    } catch (err) {
      const why = oneLine(errorText(err));
      this.log(`metrics: scrape failed: ${why}`);
      return reply(res, 503, `cannot read the switch: ${why}`);
    }
    res.writeHead(200, { 'Content-Type': source.metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}
