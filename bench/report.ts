// The results table: rows = measures, columns = switches (median and
// min–max over the rounds) and each figure's ratio to the Linux bridge.
//
//   node dist/bench/report.js bench/results/latest.json   # print a saved run's table

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type Summary, summarize } from './stats.js';

export type SwitchName = 'vswitchd' | 'bridge' | 'ovs';

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
  /** vswitchd's target, as text, and how to check it on medians */
  target?: { text: string; met: (v: number, ratio: number | null) => boolean };
}

/** RSS is read in KiB (/proc's "kB"); it is shown in MB of 10^6 bytes, the target's unit. */
const KIB_PER_MB = 1e6 / 1024;

export const METRICS: MetricDef[] = [
  { id: 'u64.rx', group: 1, label: '64 B NS1→NS2, received in NS2', unit: 'Mframes/s', scale: 1e6, better: 'higher', target: { text: '≥ 1.2× bridge', met: (_v, r) => r !== null && r >= 1.2 } },
  { id: 'u64.sent', group: 1, label: '64 B, sender’s rate', unit: 'Mframes/s', scale: 1e6, better: null, noRatio: true },
  { id: 'u64.loss', group: 1, label: '64 B, loss', unit: '%', scale: 1, better: 'lower', noRatio: true },
  { id: 'noise.other', group: 1, label: 'other processes’ CPU during (1) (noise, not the switch)', unit: '% of a core', scale: 1, better: 'lower', noRatio: true },
  { id: 'tcp1', group: 2, label: 'TCP NS1→NS2, 1 stream', unit: 'Gbit/s', scale: 1, better: 'higher', target: { text: '≥ 0.9× bridge', met: (_v, r) => r !== null && r >= 0.9 } },
  { id: 'tcp4', group: 2, label: 'TCP NS1→NS2, 4 streams', unit: 'Gbit/s', scale: 1, better: 'higher', target: { text: '≥ 0.9× bridge', met: (_v, r) => r !== null && r >= 0.9 } },
  { id: 'lat.idle.avg', group: 3, label: 'ping RTT avg, idle', unit: 'ms', scale: 1, better: 'lower', target: { text: '≤ 0.05 ms', met: (v) => v <= 0.05 } },
  { id: 'lat.idle.p99', group: 3, label: 'ping RTT p99, idle', unit: 'ms', scale: 1, better: 'lower' },
  { id: 'lat.load.avg', group: 3, label: 'ping RTT avg, (1) at half rate', unit: 'ms', scale: 1, better: 'lower' },
  { id: 'lat.load.p99', group: 3, label: 'ping RTT p99, (1) at half rate', unit: 'ms', scale: 1, better: 'lower' },
  { id: 'lat.load.rate', group: 3, label: 'half rate asked of trafgen', unit: 'Mframes/s', scale: 1e6, better: null, noRatio: true },
  { id: 'lat.load.loss', group: 3, label: 'half-rate frames lost', unit: '%', scale: 1, better: 'lower', noRatio: true },
  { id: 'lat.load.pingLoss', group: 3, label: 'pings lost at half rate', unit: '%', scale: 1, better: 'lower', noRatio: true },
  { id: 'flood.rx', group: 4, label: 'broadcast flood, delivered (sum of 23 hosts)', unit: 'Mframes/s', scale: 1e6, better: 'higher', target: { text: '≥ 1.0× bridge', met: (_v, r) => r !== null && r >= 1.0 } },
  { id: 'flood.sent', group: 4, label: 'flood, sender’s rate', unit: 'Mframes/s', scale: 1e6, better: null, noRatio: true },
  { id: 'fdb.entries', group: 5, label: 'FDB entries after the 50,000-MAC burst', unit: 'entries', scale: 1, better: null, noRatio: true, target: { text: '≥ 50,000', met: (v) => v >= 50_000 } },
  { id: 'fdb.rx', group: 5, label: '64 B with 50,000 MACs learned', unit: 'Mframes/s', scale: 1e6, better: 'higher' },
  { id: 'fdb.own', group: 5, label: '… as a share of its own 64 B rate', unit: '×', scale: 1, better: 'higher', noRatio: true, target: { text: '≥ 0.95', met: (v) => v >= 0.95 } },
  { id: 'cpu.idle', group: 6, label: 'switch process CPU, idle, 24 ports', unit: '% of a core', scale: 1, better: 'lower', target: { text: '≈ 0 (≤ 0.5 %)', met: (v) => v <= 0.5 } },
  { id: 'rss.idle', group: 6, label: 'switch process RSS, idle', unit: 'MB', scale: KIB_PER_MB, better: 'lower', target: { text: '≤ 80 MB', met: (v) => v <= 80 } },
  { id: 'rss.end', group: 6, label: 'switch process RSS, end of its round', unit: 'MB', scale: KIB_PER_MB, better: 'lower', target: { text: '≤ 80 MB', met: (v) => v <= 80 } },
  { id: 'rss.endAnon', group: 6, label: '… of which anonymous (RssAnon)', unit: 'MB', scale: KIB_PER_MB, better: 'lower' },
  { id: 'cpu.machinePerM', group: 6, label: 'machine CPU per Mframe forwarded in (1)', unit: 'CPU-s per Mframe (µs/frame)', scale: 1, better: 'lower' },
  { id: 'cpu.processPerM', group: 6, label: 'switch process CPU per Mframe in (1)', unit: 'CPU-s per Mframe (µs/frame)', scale: 1, better: 'lower' },
  { id: 'core.unicast', group: 7, label: 'core alone: known unicast', unit: 'Mdecisions/s', scale: 1e6, better: 'higher', target: { text: '≥ 20 M/s', met: (v) => v >= 20 } },
  { id: 'core.flood23', group: 7, label: 'core alone: flood to 23 ports', unit: 'Mdecisions/s', scale: 1e6, better: 'higher' },
  { id: 'core.fdb50k', group: 7, label: 'core alone: 50,000 MACs in the FDB', unit: 'Mdecisions/s', scale: 1e6, better: 'higher' },
];

/** What the table needs from a results file: each switch's samples per metric. */
export interface SampleSet {
  switches: SwitchName[];
  /** metric id -> switch -> one value per round (raw units) */
  samples: Record<string, Partial<Record<SwitchName, number[]>>>;
}

export interface Row {
  def: MetricDef;
  cells: Partial<Record<SwitchName, Summary | null>>;
  ratio: Partial<Record<SwitchName, number | null>>;
  met: boolean | null;
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
    const v = cells.vswitchd?.median;
    const met = def.target && v !== undefined ? def.target.met(v, ratio.vswitchd ?? null) : null;
    out.push({ def, cells, ratio, met });
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

function ratioCell(r: number | null | undefined): string {
  return r === null || r === undefined ? '—' : `${r.toFixed(2)}×`;
}

export function markdownTable(set: SampleSet): string {
  const header = ['#', 'measure', 'unit'];
  for (const sw of set.switches) {
    header.push(sw === 'bridge' ? 'bridge' : sw);
    if (sw !== 'bridge') header.push(`${sw} ÷ bridge`);
  }
  header.push('vswitchd target', 'met');
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_h, i) => (i < 3 || i >= header.length - 2 ? '---' : '---:')).join('|')}|`];
  for (const r of rows(set)) {
    const c = [String(r.def.group), r.def.label, r.def.unit];
    for (const sw of set.switches) {
      c.push(cell(r.cells[sw]));
      if (sw !== 'bridge') c.push(r.cells.bridge && !r.def.noRatio ? ratioCell(r.ratio[sw]) : '—');
    }
    c.push(r.def.target?.text ?? '', r.met === null ? '' : r.met ? 'yes' : '**no**');
    lines.push(`| ${c.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** The metric samples of a saved results file. */
export function sampleSetOf(results: { switches: SwitchName[]; samples: SampleSet['samples'] }): SampleSet {
  return { switches: results.switches, samples: results.samples };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/report.js RESULTS.json\n');
    process.exit(2);
  }
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { switches: SwitchName[]; samples: SampleSet['samples'] };
    process.stdout.write(markdownTable(sampleSetOf(j)));
  } catch (err) {
    process.stderr.write(`report: ${file}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
