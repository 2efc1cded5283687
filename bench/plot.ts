// SVG charts of the results tables (issue 17, part 5): each row's ratio to
// the reference (the Linux bridge; bridge ↔ bridge in the hosts mode), one
// series per datapath (and attach mode, when the run names one), bars drawn
// from the 1.0 line on a log scale so that 0.5× and 2× are as far from it.
// Plain SVG text: no chart library for a static picture in the README.

import { readFileSync, writeFileSync } from 'node:fs';
import { type StormResult, stormTable } from './storm.js';
import { type PairedResult, pairedTable } from './paired-summary.js';
import {
  VARIANT,
  BRIDGE_PAIR,
  HOST_METRICS,
  HOST_UNDERLAYS,
  hostsKey,
  hostsRows,
  type HostsSampleSet,
  hostsTable,
  markdownTable,
  rows,
  roundsTable,
  type SampleSet,
  sampleSetOf,
  type SwitchName,
} from './report.js';

export interface ChartRow {
  label: string;
  /** which way is better for this row's figure (shown beside its label) */
  better?: 'higher' | 'lower' | null;
  /** series name -> ratio to the reference (null or absent: not measured) */
  values: Record<string, number | null | undefined>;
}

export interface Chart {
  title: string;
  /** what 1.0 is: the reference's name */
  reference: string;
  /** series names, in legend order */
  series: string[];
  rows: ChartRow[];
  /** one line under the title (the run: commit, rounds) */
  subtitle?: string;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];
const TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100];

/** Text for an XML attribute or element. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function fmtRatio(r: number): string {
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

/** The chart as an SVG document. */
export function ratioChartSvg(c: Chart): string {
  const W = 980;
  const labelW = 430;
  const plotX0 = labelW + 10;
  const plotX1 = W - 70;
  const barH = 9;
  const rowGap = 8;
  const top = 58 + (c.subtitle ? 16 : 0) + 18 * Math.ceil(c.series.length / 3);
  const rowH = Math.max(1, c.series.length) * barH + rowGap;
  const plotH = Math.max(1, c.rows.length) * rowH;
  const H = top + plotH + 40;

  // log-scale domain: the ratios present, at least 0.5–2, widened to ticks
  const all = c.rows.flatMap((r) => c.series.map((s) => r.values[s])).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
  const lo = Math.min(0.5, ...all);
  const hi = Math.max(2, ...all);
  const dMin = [...TICKS].reverse().find((t) => t <= lo) ?? TICKS[0]!;
  const dMax = TICKS.find((t) => t >= hi) ?? TICKS[TICKS.length - 1]!;
  const x = (v: number): number => {
    const cl = Math.min(dMax, Math.max(dMin, v));
    return plotX0 + ((Math.log(cl) - Math.log(dMin)) / (Math.log(dMax) - Math.log(dMin))) * (plotX1 - plotX0);
  };
  const f = (n: number): string => n.toFixed(1);

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${f(H)}" viewBox="0 0 ${W} ${f(H)}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${xmlEscape(c.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${f(H)}" fill="#ffffff"/>`);
  out.push(`<text x="10" y="22" font-size="16" font-weight="bold">${xmlEscape(c.title)}</text>`);
  if (c.subtitle) out.push(`<text x="10" y="40" fill="#555555">${xmlEscape(c.subtitle)}</text>`);

  // legend: one item per series
  const legendY = 40 + (c.subtitle ? 16 : 0);
  c.series.forEach((s, i) => {
    const lx = 10 + (i % 3) * 320;
    const ly = legendY + 18 * Math.floor(i / 3);
    out.push(`<g class="legend-item" data-series="${xmlEscape(s)}"><rect x="${lx}" y="${ly - 9}" width="12" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${lx + 18}" y="${ly}">${xmlEscape(s)}</text></g>`);
  });

  // grid and ticks
  for (const t of TICKS) {
    if (t < dMin || t > dMax) continue;
    out.push(`<line class="grid" x1="${f(x(t))}" y1="${top}" x2="${f(x(t))}" y2="${f(top + plotH)}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${f(x(t))}" y="${f(top + plotH + 16)}" text-anchor="middle" fill="#555555">${t}×</text>`);
  }
  out.push(`<text x="${f((plotX0 + plotX1) / 2)}" y="${f(top + plotH + 34)}" text-anchor="middle" fill="#555555">${xmlEscape(`ratio to ${c.reference} (log scale)`)}</text>`);

  // rows: label, then one bar per series from the 1.0 line to its ratio
  c.rows.forEach((r, ri) => {
    const y0 = top + ri * rowH;
    const label = r.label + (r.better === 'lower' ? ' (lower is better)' : '');
    const shown = label.length > 62 ? `${label.slice(0, 60)}…` : label;
    out.push(`<text class="row-label" x="${labelW}" y="${f(y0 + rowH / 2 + 2)}" text-anchor="end"><title>${xmlEscape(label)}</title>${xmlEscape(shown)}</text>`);
    if (ri > 0) out.push(`<line x1="10" y1="${f(y0)}" x2="${plotX1}" y2="${f(y0)}" stroke="#f0f0f0"/>`);
    c.series.forEach((s, si) => {
      const v = r.values[s];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return;
      const by = y0 + rowGap / 2 + si * barH;
      const a = Math.min(x(1), x(v));
      const w = Math.max(1, Math.abs(x(v) - x(1)));
      out.push(
        `<rect class="bar" data-series="${xmlEscape(s)}" x="${f(a)}" y="${f(by)}" width="${f(w)}" height="${barH - 1}" fill="${PALETTE[si % PALETTE.length]}"><title>${xmlEscape(`${s}: ${fmtRatio(v)}`)}</title></rect>`,
      );
      out.push(`<text x="${f(Math.max(x(1), x(v)) + 3)}" y="${f(by + barH - 1)}" font-size="9" fill="#333333">${fmtRatio(v)}</text>`);
    });
  });

  // the reference: 1.0
  out.push(`<line class="reference" x1="${f(x(1))}" y1="${top - 6}" x2="${f(x(1))}" y2="${f(top + plotH)}" stroke="#000000" stroke-width="1.5" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${f(x(1))}" y="${top - 9}" text-anchor="middle" font-weight="bold">${xmlEscape(`1.0 = ${c.reference}`)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * The attach mode a run asked of vswitchd (`--attach X` in its vswitchd
 * options), or of each switch where the results name one; '' where none.
 */
export function attachOf(results: { options?: { vswitchdArgs?: string[] }; attach?: Record<string, string> }, sw: string): string {
  if (results.attach?.[sw]) return results.attach[sw]!;
  const forced = VARIANT[sw as SwitchName]?.attach;
  if (forced) return forced;
  if (!sw.startsWith('vswitchd')) return '';
  const args = results.options?.vswitchdArgs ?? [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--attach') return args[i + 1] ?? '';
    if (args[i]!.startsWith('--attach=')) return args[i]!.slice('--attach='.length);
  }
  return '';
}

/** The main table's chart: every row with a ratio to the bridge, one series per switch but the bridge. */
export function mainChart(set: SampleSet, opts: { title?: string; subtitle?: string; seriesLabel?: (sw: SwitchName) => string } = {}): Chart {
  const label = opts.seriesLabel ?? ((sw: SwitchName) => sw);
  const rs = rows(set).filter((r) => !r.def.noRatio && r.cells.bridge && set.switches.some((sw) => sw !== 'bridge' && r.ratio[sw] != null));
  const series = set.switches.filter((sw) => sw !== 'bridge' && rs.some((r) => r.ratio[sw] != null));
  return {
    title: opts.title ?? 'vswitchd against the Linux bridge: ratio of medians',
    subtitle: opts.subtitle,
    reference: 'bridge',
    series: series.map(label),
    rows: rs.map((r) => ({
      label: `(${r.def.group}) ${r.def.label}`,
      better: r.def.better,
      values: Object.fromEntries(series.map((sw) => [label(sw), r.ratio[sw]])),
    })),
  };
}

/** The hosts mode's chart: each underlay and measure, one series per pair but bridge ↔ bridge. */
export function hostsChart(set: HostsSampleSet, opts: { title?: string; subtitle?: string } = {}): Chart {
  const rs = hostsRows(set);
  const series = set.pairs.filter((p) => p !== BRIDGE_PAIR && rs.some((r) => r.pair === p && r.ratio !== null));
  const out: ChartRow[] = [];
  for (const underlay of HOST_UNDERLAYS) {
    for (const def of HOST_METRICS) {
      if (!set.samples[hostsKey(underlay, def.id)]) continue;
      const values: ChartRow['values'] = {};
      for (const r of rs) if (r.underlay === underlay && r.def.id === def.id && series.includes(r.pair)) values[r.pair] = r.ratio;
      out.push({ label: `${underlay}: ${def.label}`, better: 'higher', values });
    }
  }
  return {
    title: opts.title ?? 'Two hosts joined by VXLAN: ratio of medians to bridge ↔ bridge',
    subtitle: opts.subtitle,
    reference: BRIDGE_PAIR,
    series,
    rows: out,
  };
}

/** Where a results file's chart goes: beside it, .svg for .json. */
export function svgPathOf(resultsFile: string): string {
  return resultsFile.replace(/\.json$/, '') + '.svg';
}

/** A results file as read back: the main run's or the hosts mode's. */
type Results = Parameters<typeof sampleSetOf>[0] &
  Partial<HostsSampleSet> & {
    mode?: string;
    options?: { rounds?: number; quick?: boolean; vswitchdArgs?: string[] };
    attach?: Record<string, string>;
    machine?: { gitCommit?: string };
    startedAt?: string;
  };

/** The chart of a results file (either mode). */
export function chartOfResults(j: Results): Chart {
  const commit = j.machine?.gitCommit ? `commit ${j.machine.gitCommit.slice(0, 7)}, ` : '';
  const rounds = j.options?.rounds ?? NaN;
  const subtitle = `${commit}${rounds} round(s)${j.options?.quick ? ' (--quick)' : ''}, ${j.startedAt ?? ''}; bars from 1.0 to each ratio of medians`;
  if (j.mode === 'hosts') return hostsChart({ pairs: j.pairs ?? [], samples: j.samples as HostsSampleSet['samples'] }, { subtitle });
  return mainChart(sampleSetOf(j), {
    subtitle,
    seriesLabel: (sw) => {
      const a = attachOf(j, sw);
      return a ? `${sw} (attach ${a})` : sw;
    },
  });
}

/** Writes the chart of `results` beside its file; returns the chart's path. */
export function writeChartOf(resultsFile: string, results: unknown): string {
  const path = svgPathOf(resultsFile);
  writeFileSync(path, ratioChartSvg(chartOfResults(results as Results)));
  return path;
}

/** --from FILE: the table(s) of a saved run, and its chart written again; the exit status. */
export function rerender(file: string, out: (s: string) => void): number {
  let j: Results;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Results;
  } catch (err) {
    process.stderr.write(`bench: --from ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  if (j.mode === 'storm') {
    // the storm's table has no ratio to a bridge: no chart
    out(stormTable((j as unknown as { results: StormResult[] }).results ?? []));
    return 0;
  }
  if (j.mode === 'paired') {
    // A ÷ B of two switches run at once: no bridge to chart against
    out(pairedTable(j as unknown as PairedResult));
    return 0;
  }
  if (j.mode === 'hosts') out(hostsTable({ pairs: j.pairs ?? [], samples: j.samples as HostsSampleSet['samples'] }));
  else {
    const set = sampleSetOf(j);
    const perRound = roundsTable(set);
    out(markdownTable(set) + (perRound ? `\n${perRound}` : ''));
  }
  out(`chart: ${writeChartOf(file, j)}\n`);
  return 0;
}
