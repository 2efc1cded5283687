// npm run bench -- --storm: the "MAC storm" measure of issue 15 (item 2). One
// host sends 64-byte frames with random source MACs at full speed (trafgen,
// one CPU) for --storm-seconds (30 by default) while the control plane is
// asked `stats` over and over on its socket, a port is set down, and two
// other hosts ping each other; then `fdb` lists the table the storm filled.
// For each vswitchd datapath, with the default options and with
// --fdb-port-limit 100. See bench/README.md, "MAC storm".
//
//   NS1  the storm: trafgen, 02:xx:xx:xx:xx:xx sources (random), to a MAC nobody has
//   NS2  ping -i 0.01 NS3 for the whole storm: pings lost
//   NS3
//   NS4  its port is set down a third of the way in: how long until `stats` says so
//
// The latency of a command is the daemon's answer on its control socket
// (src/control/client.ts request(), as the tests' helpers ask it), not
// vswconfig's start-up.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from '../src/control/client.js';
import { rssNow } from './measures.js';
import { BenchError, check, sleep, start } from './proc.js';
import { type VswitchdName, Vswitchd } from './switches.js';
import type { Topology } from './topology.js';
import { Trafgen } from './trafgen.js';

/** trafgen: destination 02:de:ad:00:be:ef, a random locally administered unicast source, ethertype 0x88B5, 60 bytes. */
export const STORM_CONFIG = '{ 0x02, 0xde, 0xad, 0x00, 0xbe, 0xef, 0x02, drnd(5), 0x88, 0xb5, fill(0x00, 46) }\n';
/** Gap between two `stats` during the storm. */
const STATS_GAP_MS = 20;
const PING_INTERVAL_S = 0.01;

export interface StormResult {
  switch: VswitchdName;
  limit: number;
  seconds: number;
  statsCount: number;
  /** `stats` that failed (the daemon's timeout: its datapath did not answer within 10 s), their time counted. */
  statsFailed: number;
  statsWorstMs: number;
  statsP99Ms: number;
  statsMedianMs: number;
  /** ms from `ip link set … down` until `stats` says the port is down; null: never seen. */
  downSeenMs: number | null;
  pingsSent: number;
  pingsLost: number;
  framesSent: number;
  fdbMs: number;
  fdbEntries: number;
  /** `stats` after the storm: fdb counters and suppressed events. */
  fdbAfter: Record<string, number>;
  rssIdleKiB: number | null;
  /** Right after the storm, before the `fdb` listing (a one-off reply of the whole table). */
  rssStormKiB: number | null;
  /** The highest RSS read during the storm (read after each `stats`, about every 20 ms). */
  rssPeakKiB: number | null;
  /** VmRSS's parts (RssAnon, RssFile, RssShmem, KiB) at idle and at the peak: heaps and malloc are anon; mapped rings are file. */
  rssIdleDetail?: { anon: number; file: number; shmem: number } | null;
  rssPeakDetail?: { anon: number; file: number; shmem: number } | null;
  rssAfterKiB: number | null;
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** One storm against one datapath, with `limit` as --fdb-port-limit (0: none). */
export async function stormOnce(
  topo: Topology,
  name: VswitchdName,
  limit: number,
  seconds: number,
  work: string,
  opts: { args: string[]; nodeArgs: string[] },
  log: (s: string) => void,
): Promise<StormResult> {
  const [h1, h2, h3, h4] = [1, 2, 3, 4].map((n) => topo.host(n)) as [typeof topo.hosts[0], typeof topo.hosts[0], typeof topo.hosts[0], typeof topo.hosts[0]];
  const sw = new Vswitchd(topo.site, name, { args: [...opts.args, ...(limit > 0 ? ['--fdb-port-limit', String(limit)] : [])], nodeArgs: opts.nodeArgs });
  await sw.start();
  try {
    const ask = { timeoutMs: 30_000 };
    if (!(await topo.pingUntilAnswered(h2, h3))) throw new BenchError(`${h2.ns} does not reach ${h3.ns} before the storm`);
    await check(`link ${h4.port} up`, 'ip', ['-n', topo.sw, 'link', 'set', h4.port, 'up']);
    await sleep(3000); // settle: node's compilation, the hosts' start-up
    const idle = rssNow(sw);
    const rssIdle = idle.rssKiB;

    const txBefore = topo.hostDev(h1).txPackets;
    const storm = await Trafgen.start(h1, join(work, 'storm.cfg'), STORM_CONFIG);
    const ping = start(`ping ${h2.ns}`, 'ip', ['netns', 'exec', h2.ns, 'ping', '-n', '-q', '-i', String(PING_INTERVAL_S), '-w', String(seconds), h3.ip]);
    const stats: number[] = [];
    let statsFailed = 0;
    const t0 = performance.now();
    let downAt = 0;
    let downSeenMs: number | null = null;
    let rssPeak: number | null = null;
    let rssPeakDetail: StormResult['rssPeakDetail'] = null;
    while (performance.now() - t0 < seconds * 1000) {
      const { ms, value } = await timed(() => request(sw.socket, { cmd: 'stats' }, ask).catch(() => null));
      stats.push(ms);
      if (value === null) statsFailed++;
      const rss = rssNow(sw);
      if (rss.rssKiB !== null && (rssPeak === null || rss.rssKiB > rssPeak)) {
        rssPeak = rss.rssKiB;
        rssPeakDetail = rss.rssDetail;
      }
      if (downAt === 0 && performance.now() - t0 > (seconds * 1000) / 3) {
        await check(`link ${h4.port} down`, 'ip', ['-n', topo.sw, 'link', 'set', h4.port, 'down']);
        downAt = performance.now();
      } else if (downAt !== 0 && downSeenMs === null && value !== null && value.ports.find((p) => p.port === h4.port)?.up === false) {
        downSeenMs = performance.now() - downAt;
      }
      if (!storm.running) throw new BenchError(`trafgen stopped during the storm: ${storm.why()}`);
      await sleep(STATS_GAP_MS);
    }
    await storm.stop();
    const framesSent = topo.hostDev(h1).txPackets - txBefore;
    await ping.wait(10_000);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(ping.stdout);
    if (!m) throw new BenchError(`ping: no summary: ${ping.stdout.trim() || ping.stderr.trim()}`);
    const rssStorm = rssNow(sw).rssKiB;
    const fdb = await timed(() => request(sw.socket, { cmd: 'fdb' }, ask));
    const after = await request(sw.socket, { cmd: 'stats' }, ask);
    const r: StormResult = {
      switch: name,
      limit,
      seconds,
      statsCount: stats.length,
      statsFailed,
      statsWorstMs: Math.max(...stats),
      statsP99Ms: percentile(stats, 99),
      statsMedianMs: percentile(stats, 50),
      downSeenMs,
      pingsSent: Number(m[1]),
      pingsLost: Number(m[1]) - Number(m[2]),
      framesSent,
      fdbMs: fdb.ms,
      fdbEntries: fdb.value.entries.length,
      fdbAfter: after.fdb,
      rssIdleKiB: rssIdle,
      rssStormKiB: rssStorm,
      rssPeakKiB: rssPeak,
      rssIdleDetail: idle.rssDetail,
      rssPeakDetail,
      rssAfterKiB: rssNow(sw).rssKiB,
    };
    log(`[${name} limit ${limit || 'none'}] ${JSON.stringify(r)}`);
    return r;
  } finally {
    await sw.stop();
    await check(`link ${h4.port} up`, 'ip', ['-n', topo.sw, 'link', 'set', h4.port, 'up']).catch(() => undefined);
  }
}

const mb = (kib: number | null): string => (kib === null ? '—' : ((kib * 1024) / 1e6).toFixed(1));

/** The Markdown table of the storms, one row per datapath and limit, with the issue's targets. */
export function stormTable(rs: readonly StormResult[]): string {
  const lines = [
    '| switch | --fdb-port-limit | stats answers | stats worst (≤ 250 ms) | p99 | median | port down seen (≤ 1 s) | pings lost (0) | fdb list (≤ 1 s) | RSS idle → storm peak → after storm → after fdb (≤ +10 MB) | frames sent | fdb refused / suppressed |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rs) {
    lines.push(
      `| ${r.switch} | ${r.limit || 'none'} | ${r.statsCount}${r.statsFailed > 0 ? ` (${r.statsFailed} failed)` : ''} | ${r.statsWorstMs.toFixed(0)} ms | ${r.statsP99Ms.toFixed(0)} ms | ${r.statsMedianMs.toFixed(1)} ms | ` +
        `${r.downSeenMs === null ? 'never' : `${r.downSeenMs.toFixed(0)} ms`} | ${r.pingsLost} of ${r.pingsSent} | ${r.fdbMs.toFixed(0)} ms (${r.fdbEntries} entries) | ` +
        `${mb(r.rssIdleKiB)} → ${mb(r.rssPeakKiB ?? null)} → ${mb(r.rssStormKiB)} → ${mb(r.rssAfterKiB)} MB | ${(r.framesSent / 1e6).toFixed(1)} M | ${r.fdbAfter['refused'] ?? '—'} / ${r.fdbAfter['suppressed'] ?? '—'} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function saveStorm(file: string, header: Record<string, unknown>, rs: readonly StormResult[], errors: readonly string[]): void {
  writeFileSync(file, `${JSON.stringify({ ...header, mode: 'storm', results: rs, errors }, null, 1)}\n`);
}
