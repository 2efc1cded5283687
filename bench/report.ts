// The results table: rows = measures, columns = switches (median and
// min–max over the rounds) and each figure's ratio to the Linux bridge, then
// each vswitchd datapath's target and whether its median meets it. The hosts
// mode's table: rows = underlay, measure and pair of switches, each figure's
// ratio to bridge ↔ bridge on the same underlay and the target.
//
//   node dist/bench/report.js bench/results/latest.json   # print a saved run's table

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { roundRatios, type Summary, summarize, type WonShare, wonShare } from './stats.js';

/** The switches measured, in the order of a round and of the table's columns. */
export const SWITCH_ORDER = ['vswitchd-kernel', 'vswitchd-kernel-tc', 'vswitchd-kernel-twin', 'vswitchd-kernel-all', 'vswitchd-kernel-small', 'vswitchd-kernel-auto', 'vswitchd-kernel-plain', 'vswitchd-user', 'bridge', 'ovs'] as const;
export type SwitchName = (typeof SWITCH_ORDER)[number];
/** What a run measures without --switches (OVS with --with-ovs): not the redirect variants, an A/B asked for by name. */
export const DEFAULT_SWITCHES: readonly SwitchName[] = ['vswitchd-kernel', 'vswitchd-kernel-tc', 'vswitchd-user', 'bridge'];

/**
 * A switch that is another one with some options of its own (`args`, last on
 * its vswitchd command line, so they win over --vswitchd-args), shown beside
 * its base as "short ÷ base". The kernel datapath attached as a tc clsact
 * filter (issue 16) has a target: its base's figures, within `tolerance` on
 * every row in the direction that row counts as better. The redirect variants
 * (issue 18: bpf_redirect_peer for every frame of a veth peer, `small` frames
 * only, or `none`) have none: they are the benchmark's A/B of a design choice.
 * The twin is the kernel datapath again, with no option of its own: an A/A
 * control, whose ratio to its base is what this machine's noise alone makes
 * of two identical switches (what a 5 % target can resolve).
 */
export interface Variant {
  base: SwitchName;
  args: readonly string[];
  short: string;
  /** The attach mode it forces (`--attach`), if any. */
  attach?: string;
  tolerance?: number;
}
export const VARIANT: Partial<Record<SwitchName, Variant>> = {
  'vswitchd-kernel-tc': { base: 'vswitchd-kernel', args: ['--attach', 'tc'], short: 'kernel-tc', attach: 'tc', tolerance: 0.05 },
  'vswitchd-kernel-all': { base: 'vswitchd-kernel', args: ['--redirect-peer', 'all'], short: 'kernel-all' },
  'vswitchd-kernel-small': { base: 'vswitchd-kernel', args: ['--redirect-peer', 'small'], short: 'kernel-small' },
  'vswitchd-kernel-plain': { base: 'vswitchd-kernel', args: ['--redirect-peer', 'none'], short: 'kernel-plain' },
  'vswitchd-kernel-auto': { base: 'vswitchd-kernel', args: ['--redirect-peer', 'auto'], short: 'kernel-auto' },
  'vswitchd-kernel-twin': { base: 'vswitchd-kernel', args: [], short: 'kernel-twin' },
};

/** The switches with targets (vswitchd's two datapaths) and their short names in the table. */
export const TARGETED: ReadonlyArray<{ sw: SwitchName; short: string }> = [
  { sw: 'vswitchd-kernel', short: 'kernel' },
  { sw: 'vswitchd-user', short: 'user' },
];

export interface Target {
  text: string;
  /** on the median and its ratio to the bridge's median */
  met: (v: number, ratio: number | null) => boolean;
}

export interface MetricDef {
  id: string;
  /** the measure number */
  group: number;
  label: string;
  unit: string;
  /** raw value / scale is shown */
  scale: number;
  better: 'higher' | 'lower' | null;
  /** no ratio to the bridge (meaningless for this figure) */
  noRatio?: boolean;
  /** each vswitchd datapath's target */
  targets?: Partial<Record<SwitchName, Target>>;
  /**
   * false: a variant's tolerance (kernel-tc within 5 % of tcx) does not judge
   * this row, shown as a ratio only: a start-up time (a restart's), not how
   * the switch forwards, which is what the attach mode's target is about.
   */
  variantJudged?: false;
}

/** RSS is read in KiB (/proc's "kB"); it is shown in MB of 10^6 bytes, the target's unit. */
const KIB_PER_MB = 1e6 / 1024;

const atLeastBridge = (x: number): Target => ({ text: `≥ ${x.toFixed(1)}× bridge`, met: (_v, r) => r !== null && r >= x });
const atMostBridge = (x: number): Target => ({ text: `≤ ${x.toFixed(1)}× bridge`, met: (_v, r) => r !== null && r <= x });
const atLeast = (x: number, text: string): Target => ({ text, met: (v) => v >= x });
const atMost = (x: number, text: string): Target => ({ text, met: (v) => v <= x });
const kernel = (t: Target): MetricDef['targets'] => ({ 'vswitchd-kernel': t });
const user = (t: Target): MetricDef['targets'] => ({ 'vswitchd-user': t });
const both = (t: Target): MetricDef['targets'] => ({ 'vswitchd-kernel': t, 'vswitchd-user': t });
const IDLE_CPU = atMost(0.5, '≈ 0 (≤ 0.5 %)');
const RSS = atMost(80, '≤ 80 MB');

export const METRICS: MetricDef[] = [
  { id: 'u64.rx', group: 1, label: '64 B NS1→NS2, received in NS2', unit: 'Mframes/s', scale: 1e6, better: 'higher', targets: { 'vswitchd-kernel': atLeastBridge(1.3), 'vswitchd-user': atLeastBridge(1.2) } },
  { id: 'u64.sent', group: 1, label: '64 B, sender’s rate', unit: 'Mframes/s', scale: 1e6, better: null, noRatio: true },
  { id: 'u64.loss', group: 1, label: '64 B, loss', unit: '%', scale: 1, better: 'lower', noRatio: true },
  { id: 'noise.other', group: 1, label: 'other processes’ CPU during (1) (noise, not the switch)', unit: '% of a core', scale: 1, better: 'lower', noRatio: true },
  { id: 'tcp1', group: 2, label: 'TCP NS1→NS2, 1 stream', unit: 'Gbit/s', scale: 1, better: 'higher', targets: { 'vswitchd-kernel': atLeastBridge(1.0), 'vswitchd-user': atLeastBridge(0.9) } },
  { id: 'tcp4', group: 2, label: 'TCP NS1→NS2, 4 streams', unit: 'Gbit/s', scale: 1, better: 'higher', targets: { 'vswitchd-kernel': atLeastBridge(1.0), 'vswitchd-user': atLeastBridge(0.9) } },
  { id: 'tcp1.rev', group: 2, label: 'TCP NS2→NS1, 1 stream (iperf3 -R)', unit: 'Gbit/s', scale: 1, better: 'higher', targets: { 'vswitchd-kernel': atLeastBridge(1.0), 'vswitchd-user': atLeastBridge(0.9) } },
  { id: 'tcp4.rev', group: 2, label: 'TCP NS2→NS1, 4 streams (iperf3 -R)', unit: 'Gbit/s', scale: 1, better: 'higher', targets: { 'vswitchd-kernel': atLeastBridge(1.0), 'vswitchd-user': atLeastBridge(0.9) } },
  { id: 'lat.idle.avg', group: 3, label: 'ping RTT avg, idle', unit: 'ms', scale: 1, better: 'lower', targets: { 'vswitchd-kernel': atMostBridge(1.0), 'vswitchd-user': atMost(0.05, '≤ 0.05 ms') } },
  { id: 'lat.idle.p99', group: 3, label: 'ping RTT p99, idle', unit: 'ms', scale: 1, better: 'lower' },
  { id: 'lat.load.avg', group: 3, label: 'ping RTT avg, (1) at half rate', unit: 'ms', scale: 1, better: 'lower' },
  { id: 'lat.load.p99', group: 3, label: 'ping RTT p99, (1) at half rate', unit: 'ms', scale: 1, better: 'lower' },
  { id: 'lat.load.rate', group: 3, label: 'half rate asked of trafgen', unit: 'Mframes/s', scale: 1e6, better: null, noRatio: true },
  { id: 'lat.load.loss', group: 3, label: 'half-rate frames lost', unit: '%', scale: 1, better: 'lower', noRatio: true },
  { id: 'lat.load.pingLoss', group: 3, label: 'pings lost at half rate', unit: '%', scale: 1, better: 'lower', noRatio: true },
  { id: 'flood.rx', group: 4, label: 'broadcast flood, delivered (sum of 23 hosts)', unit: 'Mframes/s', scale: 1e6, better: 'higher', targets: { 'vswitchd-kernel': atLeastBridge(1.3), 'vswitchd-user': atLeastBridge(1.0) } },
  { id: 'flood.perSwitchSoftirq', group: 4, label: 'flood, delivered per CPU-second of the switch’s own softirq (what the switch costs: each receiver’s receive, measured apart, taken out)', unit: 'Mframes per CPU-s', scale: 1e6, better: 'higher' },
  { id: 'flood.receiverNs', group: 4, label: '… a receiver’s own receive and drop, taken out of it (softirq per frame, NS2 fed by trafgen with no switch)', unit: 'ns per frame', scale: 1e-9, better: null, noRatio: true },
  { id: 'flood.perSoftirq', group: 4, label: 'flood, delivered per softirq CPU-second (the switch and the 23 receivers’ receive; the switch-cost row until 2026-12-07)', unit: 'Mframes per CPU-s', scale: 1e6, better: 'higher' },
  { id: 'flood.perMachine', group: 4, label: 'flood, delivered per machine CPU-second (sender, switch and receivers)', unit: 'Mframes per CPU-s', scale: 1e6, better: 'higher' },
  { id: 'flood.sent', group: 4, label: 'flood, sender’s rate', unit: 'Mframes/s', scale: 1e6, better: null, noRatio: true },
  { id: 'fdb.entries', group: 5, label: 'FDB entries after the 50,000-MAC burst', unit: 'entries', scale: 1, better: null, noRatio: true, targets: both(atLeast(50_000, '≥ 50,000')) },
  { id: 'fdb.rx', group: 5, label: '64 B with 50,000 MACs learned', unit: 'Mframes/s', scale: 1e6, better: 'higher' },
  { id: 'fdb.own', group: 5, label: '… as a share of its own 64 B rate', unit: '×', scale: 1, better: 'higher', noRatio: true, targets: both(atLeast(0.95, '≥ 0.95')) },
  { id: 'cpu.idle', group: 6, label: 'switch process CPU, idle, 24 ports', unit: '% of a core', scale: 1, better: 'lower', targets: both(IDLE_CPU) },
  { id: 'rss.idle', group: 6, label: 'switch process RSS, idle', unit: 'MB', scale: KIB_PER_MB, better: 'lower', targets: both(RSS) },
  { id: 'rss.end', group: 6, label: 'switch process RSS, end of its round', unit: 'MB', scale: KIB_PER_MB, better: 'lower', targets: both(RSS) },
  { id: 'rss.endAnon', group: 6, label: '… of which anonymous (RssAnon)', unit: 'MB', scale: KIB_PER_MB, better: 'lower' },
  { id: 'cpu.machinePerM', group: 6, label: 'machine CPU per Mframe forwarded in (1)', unit: 'CPU-s per Mframe (µs/frame)', scale: 1, better: 'lower', targets: kernel(atMostBridge(1.0)) },
  { id: 'cpu.softirqPerM', group: 6, label: '… of which softirq (where the bridge and the kernel datapath forward)', unit: 'CPU-s per Mframe (µs/frame)', scale: 1, better: 'lower' },
  { id: 'cpu.processPerM', group: 6, label: 'switch process CPU per Mframe in (1) (the kernel datapath forwards outside it, in softirq)', unit: 'CPU-s per Mframe (µs/frame)', scale: 1, better: 'lower', noRatio: true },
  { id: 'core.unicast', group: 7, label: 'core alone: known unicast', unit: 'Mdecisions/s', scale: 1e6, better: 'higher', targets: user(atLeast(20, '≥ 20 M/s')) },
  { id: 'core.flood23', group: 7, label: 'core alone: flood to 23 ports', unit: 'Mdecisions/s', scale: 1e6, better: 'higher' },
  { id: 'core.fdb50k', group: 7, label: 'core alone: 50,000 MACs in the FDB', unit: 'Mdecisions/s', scale: 1e6, better: 'higher' },
  { id: 'core.acl100', group: 7, label: 'core alone: known unicast under 100 ACL rules, none matching', unit: 'Mdecisions/s', scale: 1e6, better: 'higher' },
  { id: 'vlan.rx', group: 8, label: '64 B NS1 (access 10) → NS2 (trunk of 10), received tagged in NS2', unit: 'Mframes/s', scale: 1e6, better: 'higher' },
  { id: 'vlan.own', group: 8, label: '… as a share of its own 64 B rate', unit: '×', scale: 1, better: 'higher', noRatio: true, targets: both(atLeast(0.9, '≥ 0.9')) },
  { id: 'acl.rx', group: 9, label: '64 B NS1→NS2 under 100 ACL rules, none matching', unit: 'Mframes/s', scale: 1e6, better: 'higher' },
  { id: 'acl.own', group: 9, label: '… as a share of its own 64 B rate', unit: '×', scale: 1, better: 'higher', noRatio: true, targets: both(atLeast(0.9, '≥ 0.9')) },
  { id: 'cap.rx', group: 10, label: '64 B NS1→NS2 while `vswconfig capture` of NS1\'s port writes to /dev/null (no capture: (1))', unit: 'Mframes/s', scale: 1e6, better: 'higher', noRatio: true },
  { id: 'cap.own', group: 10, label: '… as a share of its own 64 B rate', unit: '×', scale: 1, better: 'higher', noRatio: true },
  { id: 'restart.lost', group: 11, label: 'pings lost across `vswconfig restart` (NS3→NS4, one every 10 ms)', unit: 'pings', scale: 1, better: 'lower', noRatio: true, targets: kernel(atMost(0, '0')) },
  { id: 'restart.down', group: 11, label: 'control socket down across the restart (a connect every 2 ms)', unit: 'ms', scale: 1, better: 'lower', noRatio: true, variantJudged: false },
  { id: 'restart.answered', group: 11, label: '`vswconfig restart` until it answered with the new pid', unit: 'ms', scale: 1, better: 'lower', noRatio: true, variantJudged: false },
];

/** What the table needs from a results file: each switch's samples per metric. */
export interface SampleSet {
  switches: SwitchName[];
  /** metric id -> switch -> one value per round (raw units) */
  samples: Record<string, Partial<Record<SwitchName, number[]>>>;
  /**
   * The same figures by round (index = round − 1, null where that round has
   * none), for head-to-head counts; absent in files from before it was kept.
   */
  byRound?: Record<string, Partial<Record<SwitchName, Array<number | null>>>>;
}

export interface Row {
  def: MetricDef;
  cells: Partial<Record<SwitchName, Summary | null>>;
  ratio: Partial<Record<SwitchName, number | null>>;
  /** per switch with a target for this row: does its median meet it (null: no median) */
  met: Partial<Record<SwitchName, boolean | null>>;
  /** rounds won against the bridge (set.byRound; rows with a better direction and a ratio) */
  won: Partial<Record<SwitchName, WonShare | null>>;
  /** its ratio to the bridge round by round (min, median, max) */
  roundRatio: Partial<Record<SwitchName, Summary | null>>;
  /** a variant's ratio of medians to its base (kernel-tc ÷ kernel) and whether it is within its tolerance (null: it has none) */
  vsBase: Partial<Record<SwitchName, { ratio: number; met: boolean | null } | null>>;
}

/** Within `tol` of the base in the way that counts: not below 1 − tol where higher is better, not above 1 + tol where lower is; no direction: either way. */
export function withinOfBase(ratio: number, better: MetricDef['better'], tol: number): boolean {
  if (better === 'higher') return ratio >= 1 - tol;
  if (better === 'lower') return ratio <= 1 + tol;
  return Math.abs(ratio - 1) <= tol;
}

export function rows(set: SampleSet): Row[] {
  const out: Row[] = [];
  for (const def of METRICS) {
    const per = set.samples[def.id];
    if (!per) continue;
    const cells: Row['cells'] = {};
    for (const sw of set.switches) {
      const s = summarize((per[sw] ?? []).map((x) => x / def.scale));
      cells[sw] = s;
    }
    if (set.switches.every((sw) => !cells[sw])) continue;
    const br = cells.bridge?.median;
    const ratio: Row['ratio'] = {};
    for (const sw of set.switches) {
      const m = cells[sw]?.median;
      ratio[sw] = m !== undefined && br !== undefined && br !== 0 && Number.isFinite(br) ? m / br : null;
    }
    const met: Row['met'] = {};
    for (const [sw, t] of Object.entries(def.targets ?? {}) as Array<[SwitchName, Target]>) {
      const v = cells[sw]?.median;
      met[sw] = v === undefined ? null : t.met(v, ratio[sw] ?? null);
    }
    const won: Row['won'] = {};
    const roundRatio: Row['roundRatio'] = {};
    const by = set.byRound?.[def.id];
    const brRounds = by?.bridge;
    for (const sw of set.switches) {
      if (sw === 'bridge' || def.noRatio || !brRounds || !by?.[sw]) continue;
      won[sw] = def.better ? wonShare(by[sw], brRounds, def.better) : null;
      roundRatio[sw] = summarize(roundRatios(by[sw], brRounds));
    }
    const vsBase: Row['vsBase'] = {};
    for (const sw of set.switches) {
      const variant = VARIANT[sw];
      if (!variant || !set.switches.includes(variant.base)) continue;
      const m = cells[sw]?.median;
      const b = cells[variant.base]?.median;
      const tol = variant.tolerance;
      const judged = tol !== undefined && def.variantJudged !== false;
      vsBase[sw] = m === undefined || b === undefined || b === 0 ? null : { ratio: m / b, met: judged ? withinOfBase(m / b, def.better, tol) : null };
    }
    out.push({ def, cells, ratio, met, won, roundRatio, vsBase });
  }
  return out;
}

/** A number with about 3 significant digits, never in exponent form. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  if (a >= 0.01) return x.toFixed(3);
  return x.toPrecision(2);
}

function cell(s: Summary | null | undefined): string {
  if (!s) return '—';
  if (s.n === 1) return num(s.median);
  return `${num(s.median)} (${num(s.min)}–${num(s.max)})`;
}

function ratioCell(r: number | null | undefined, won?: WonShare | null): string {
  if (r === null || r === undefined) return '—';
  // one round is no contest: the share is shown from two rounds on
  return won && won.rounds >= 2 ? `${r.toFixed(2)}× (won ${won.won}/${won.rounds})` : `${r.toFixed(2)}×`;
}

export function markdownTable(set: SampleSet): string {
  const header = ['#', 'measure', 'unit'];
  for (const sw of set.switches) {
    header.push(sw);
    if (sw !== 'bridge') header.push(`${sw} ÷ bridge`);
  }
  const targeted = TARGETED.filter((t) => set.switches.includes(t.sw));
  const variants = set.switches.flatMap((sw) => {
    const v = VARIANT[sw];
    return v && set.switches.includes(v.base) ? [{ sw, ...v }] : [];
  });
  const baseShort = (b: SwitchName): string => TARGETED.find((t) => t.sw === b)?.short ?? b;
  const figures = header.length; // the columns before the targets and variants are right-aligned figures
  for (const t of targeted) header.push(`${t.short} target`, `${t.short} met`);
  for (const v of variants) {
    header.push(`${v.short} ÷ ${baseShort(v.base)}`);
    if (v.tolerance !== undefined) header.push(`within ${v.tolerance * 100} %`);
  }
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_h, i) => (i < 3 || i >= figures ? '---' : '---:')).join('|')}|`];
  for (const r of rows(set)) {
    const c = [String(r.def.group), r.def.label, r.def.unit];
    for (const sw of set.switches) {
      c.push(cell(r.cells[sw]));
      if (sw !== 'bridge') c.push(r.cells.bridge && !r.def.noRatio ? ratioCell(r.ratio[sw], r.won[sw]) : '—');
    }
    for (const { sw } of targeted) {
      const met = r.met[sw];
      c.push(r.def.targets?.[sw]?.text ?? '', met === undefined ? '' : met === null ? '—' : met ? 'yes' : '**no**');
    }
    for (const { sw, tolerance } of variants) {
      const vb = r.vsBase[sw];
      c.push(vb ? `${vb.ratio.toFixed(3)}×` : '—');
      if (tolerance !== undefined) c.push(!vb || vb.met === null ? '—' : vb.met ? 'yes' : '**no**');
    }
    lines.push(`| ${c.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** The rows whose every round the rounds table shows (issue 18: TCP, settled by many rounds). */
export const ROUND_ROWS = ['tcp1', 'tcp4', 'tcp1.rev', 'tcp4.rev'];

/**
 * Every round's figure of some rows, one line per row and switch, with the
 * ratio to the bridge round by round (min–max) and the rounds won against it.
 */
export function roundsTable(set: SampleSet, ids: readonly string[] = ROUND_ROWS): string {
  const by = set.byRound ?? {};
  const n = Math.max(0, ...ids.flatMap((id) => Object.values(by[id] ?? {}).map((xs) => xs?.length ?? 0)));
  if (n === 0) return '';
  const rounds = Array.from({ length: n }, (_x, i) => `r${i + 1}`);
  const lines = [
    `| measure | unit | switch | ${rounds.join(' | ')} | median (min–max) | ÷ bridge, medians | ÷ bridge by round (min–max) | rounds won against the bridge |`,
    `|---|---|---|${rounds.map(() => '---:').join('|')}|---:|---:|---:|---:|`,
  ];
  for (const r of rows(set)) {
    if (!ids.includes(r.def.id)) continue;
    for (const sw of set.switches) {
      const xs = by[r.def.id]?.[sw];
      if (!xs) continue;
      const figs = rounds.map((_x, i) => (typeof xs[i] === 'number' ? num(xs[i] / r.def.scale) : '—'));
      const rr = r.roundRatio[sw];
      const w = r.won[sw];
      const ratio = sw === 'bridge' ? '' : ratioCell(r.ratio[sw]);
      const spread = sw === 'bridge' || !rr ? '' : rr.n === 1 ? `${rr.median.toFixed(2)}×` : `${rr.min.toFixed(2)}–${rr.max.toFixed(2)}×`;
      const won = sw === 'bridge' || !w ? '' : `${w.won}/${w.rounds}`;
      lines.push(`| ${r.def.label} | ${r.def.unit} | ${sw} | ${figs.join(' | ')} | ${cell(r.cells[sw])} | ${ratio} | ${spread} | ${won} |`);
    }
  }
  return lines.join('\n') + '\n';
}

// ---- the hosts mode (--hosts): tenants on two hosts, a switch on each, joined by VXLAN ----

/** What the tunnel between the two hosts runs over: the underlay link itself, or WireGuard on it. */
export const HOST_UNDERLAYS = ['plain', 'wireguard'] as const;
export type Underlay = (typeof HOST_UNDERLAYS)[number];

/** The switches a host can run, in the order of a round. */
export const HOST_SWITCHES = ['vswitchd-kernel', 'vswitchd-user', 'bridge'] as const;
export type HostSwitchName = (typeof HOST_SWITCHES)[number];
/** The switch on host A (tenant A, the sender) and on host B. */
export type HostPair = readonly [HostSwitchName, HostSwitchName];

/**
 * The pairs measured among `switches`, in the order of a round: each vswitchd
 * datapath against itself and against the bridge (vswitchd on the sending
 * host), then bridge ↔ bridge, the reference.
 */
export function hostPairs(switches: readonly HostSwitchName[]): HostPair[] {
  const out: HostPair[] = [];
  const bridge = switches.includes('bridge');
  for (const sw of HOST_SWITCHES) {
    if (sw === 'bridge' || !switches.includes(sw)) continue;
    out.push([sw, sw]);
    if (bridge) out.push([sw, 'bridge']);
  }
  if (bridge) out.push(['bridge', 'bridge']);
  return out;
}

export function pairLabel(p: HostPair): string {
  return `${p[0]} ↔ ${p[1]}`;
}

export const BRIDGE_PAIR = pairLabel(['bridge', 'bridge']);

/** Every pair with vswitchd on a host must reach this share of bridge ↔ bridge on the same underlay. */
export const HOSTS_TARGET = 0.9;

export interface HostMetricDef {
  id: string;
  label: string;
  unit: string;
  scale: number;
}

export const HOST_METRICS: HostMetricDef[] = [
  { id: 'tcp', label: 'TCP tenant A → tenant B, 1 stream', unit: 'Gbit/s', scale: 1 },
  { id: 'u64', label: '64 B tenant A → tenant B, received at B', unit: 'Mframes/s', scale: 1e6 },
];

/** The key of a hosts-mode figure in `samples`. */
export function hostsKey(underlay: Underlay, metric: string): string {
  return `${underlay}.${metric}`;
}

export interface HostsSampleSet {
  /** pair labels, in the order of a round */
  pairs: string[];
  /** hostsKey(underlay, metric) -> pair label -> one value per round (raw units) */
  samples: Record<string, Record<string, number[]>>;
}

export interface HostsRow {
  underlay: Underlay;
  def: HostMetricDef;
  pair: string;
  cell: Summary | null;
  /** median ÷ bridge ↔ bridge's median on the same underlay; null for the reference itself or without it */
  ratio: number | null;
  /** pairs with vswitchd: is the ratio ≥ HOSTS_TARGET (null: no ratio); undefined for bridge ↔ bridge */
  met?: boolean | null;
}

export function hostsRows(set: HostsSampleSet): HostsRow[] {
  const out: HostsRow[] = [];
  for (const underlay of HOST_UNDERLAYS) {
    for (const def of HOST_METRICS) {
      const per = set.samples[hostsKey(underlay, def.id)];
      if (!per) continue;
      const summary = (pair: string): Summary | null => summarize((per[pair] ?? []).map((x) => x / def.scale));
      const ref = summary(BRIDGE_PAIR)?.median;
      for (const pair of set.pairs) {
        const cell = summary(pair);
        if (pair === BRIDGE_PAIR) {
          out.push({ underlay, def, pair, cell, ratio: null });
          continue;
        }
        const ratio = cell && ref !== undefined && ref > 0 ? cell.median / ref : null;
        out.push({ underlay, def, pair, cell, ratio, met: ratio === null ? null : ratio >= HOSTS_TARGET });
      }
    }
  }
  return out;
}

export function hostsTable(set: HostsSampleSet): string {
  const lines = [
    `| underlay | measure | unit | tenant A's host ↔ tenant B's host | median (min–max) | ÷ ${BRIDGE_PAIR} | target | met |`,
    '|---|---|---|---|---:|---:|---|---|',
  ];
  for (const r of hostsRows(set)) {
    const target = r.met === undefined ? '' : `≥ ${HOSTS_TARGET.toFixed(1)}× ${BRIDGE_PAIR}`;
    const met = r.met === undefined ? '' : r.met === null ? '—' : r.met ? 'yes' : '**no**';
    lines.push(`| ${r.underlay} | ${r.def.label} | ${r.def.unit} | ${r.pair} | ${cell(r.cell)} | ${r.met === undefined ? '—' : ratioCell(r.ratio)} | ${target} | ${met} |`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The metric samples of a saved results file. Files from before the kernel
 * datapath name the userspace one `vswitchd`.
 */
export function sampleSetOf(results: {
  switches: string[];
  samples: Record<string, Record<string, number[]>>;
  byRound?: Record<string, Record<string, Array<number | null>>>;
}): SampleSet {
  const rename = (sw: string): SwitchName => (sw === 'vswitchd' ? 'vswitchd-user' : (sw as SwitchName));
  const samples: SampleSet['samples'] = {};
  for (const [id, per] of Object.entries(results.samples)) {
    samples[id] = {};
    for (const [sw, xs] of Object.entries(per)) samples[id][rename(sw)] = xs;
  }
  const set: SampleSet = { switches: results.switches.map(rename), samples };
  if (results.byRound) {
    set.byRound = {};
    for (const [id, per] of Object.entries(results.byRound)) {
      set.byRound[id] = {};
      for (const [sw, xs] of Object.entries(per)) set.byRound[id][rename(sw)] = xs;
    }
  }
  return set;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/report.js RESULTS.json\n');
    process.exit(2);
  }
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof sampleSetOf>[0] & HostsSampleSet & { mode?: string };
    if (j.mode === 'hosts') process.stdout.write(hostsTable(j));
    else {
      const set = sampleSetOf(j);
      const perRound = roundsTable(set);
      process.stdout.write(markdownTable(set) + (perRound ? `\n${perRound}` : ''));
    }
  } catch (err) {
    process.stderr.write(`report: ${file}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
