// The page: reads the stream of snapshots (/api/events) and shows them, keeps
// the last minutes of rates for the charts (uPlot, loaded by index.html as the
// global `uPlot`), filters the FDB, lists the events of `vswconfig monitor`
// (`monitor` frames of the same stream, in vswconfig's own words:
// src/cli/format-monitor.ts), and runs traces (/api/trace). Every text goes
// in by textContent.

import type uPlotType from 'uplot';
import type { TraceResult } from '../control/results.js';
import { formatTrace } from '../cli/format-trace.js';
import { describeEvent } from '../cli/format-monitor.js';
import type { MonitorEvent } from '../control/monitor-events.js';
import type { WebSnapshot } from './snapshot.js';

const UPlot = (globalThis as unknown as { uPlot: typeof uPlotType }).uPlot;

/** Seconds of history the charts show. */
const WINDOW_S = 300;
const MAX_EVENTS = 500;
const COLORS = ['#1d3557', '#e63946', '#2a9d8f', '#f4a261', '#6a4c93', '#8ab17d', '#e76f51', '#457b9d', '#b5179e', '#264653', '#9c6644', '#118ab2'];

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`no #${id} in the page`);
  return e as T;
};

function cell(tr: HTMLTableRowElement, text: string | number, num = false): void {
  const td = tr.insertCell();
  td.textContent = String(text);
  if (num) td.className = 'num';
}

/** Replace a table's rows by one per item. */
function fill<T>(id: string, items: readonly T[], row: (tr: HTMLTableRowElement, item: T) => void): void {
  const body = $<HTMLTableElement>(id).tBodies[0]!;
  const rows = items.map((item) => {
    const tr = document.createElement('tr');
    row(tr, item);
    return tr;
  });
  body.replaceChildren(...rows);
}

interface PortHistory {
  t: number[];
  rx: (number | null)[];
  tx: (number | null)[];
  chart: uPlotType;
  box: HTMLElement;
}

const ports = new Map<string, PortHistory>();
const drops = { t: [] as number[], series: new Map<string, (number | null)[]>(), chart: null as uPlotType | null };
let prev: WebSnapshot | null = null;
let latest: WebSnapshot | null = null;

function chartOpts(title: string, labels: string[]): uPlotType.Options {
  return {
    title,
    width: 540,
    height: 170,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length]!, width: 1.5, points: { show: false } }))],
    legend: { live: false },
  };
}

/** Drop what is older than the window from the front of every array. */
function trim(t: number[], ...series: (number | null)[][]): void {
  const from = t.length === 0 ? 0 : t.findIndex((x) => x >= t[t.length - 1]! - WINDOW_S);
  if (from <= 0) return;
  t.splice(0, from);
  for (const s of series) s.splice(0, from);
}

function rate(now: number, before: number | undefined, dt: number): number | null {
  return before === undefined || now < before || dt <= 0 ? null : (now - before) / dt;
}

function updateCharts(s: WebSnapshot): void {
  const t = s.time / 1000;
  const dt = prev === null ? 0 : (s.time - prev.time) / 1000;
  const before = new Map(prev?.stats.ports.map((p) => [p.port, p]) ?? []);
  const seen = new Set<string>();
  for (const p of s.stats.ports) {
    seen.add(p.port);
    let h = ports.get(p.port);
    if (h === undefined) {
      const box = document.createElement('div');
      box.className = 'chart';
      box.dataset['port'] = p.port;
      $('charts').append(box);
      h = { t: [], rx: [], tx: [], box, chart: new UPlot(chartOpts(p.port, ['rx frames/s', 'tx frames/s']), [[], [], []], box) };
      ports.set(p.port, h);
    }
    const b = before.get(p.port);
    h.t.push(t);
    h.rx.push(rate(p.rxFrames, b?.rxFrames, dt));
    h.tx.push(rate(p.txFrames, b?.txFrames, dt));
    trim(h.t, h.rx, h.tx);
    h.chart.setData([h.t, h.rx, h.tx]);
  }
  for (const [name, h] of ports) {
    if (seen.has(name)) continue;
    h.chart.destroy();
    h.box.remove();
    ports.delete(name);
  }
  const reasons = Object.keys(s.stats.drops);
  if (drops.chart === null) {
    for (const r of reasons) drops.series.set(r, []);
    drops.chart = new UPlot(chartOpts('switch-wide', reasons), [[], ...reasons.map(() => [])], $('drops-chart'));
  }
  drops.t.push(t);
  for (const [r, series] of drops.series) series.push(rate(s.stats.drops[r] ?? 0, prev?.stats.drops[r], dt));
  trim(drops.t, ...drops.series.values());
  drops.chart.setData([drops.t, ...drops.series.values()]);
}

function portsTable(s: WebSnapshot): void {
  const dt = prev === null ? 0 : (s.time - prev.time) / 1000;
  const before = new Map(prev?.stats.ports.map((p) => [p.port, p]) ?? []);
  const vlans = new Map(s.vlans.map((v) => [v.ifname, vlanText(v)]));
  const perS = (n: number | null): string => (n === null ? '' : n.toFixed(n < 10 ? 1 : 0));
  fill('ports', s.stats.ports, (tr, p) => {
    const b = before.get(p.port);
    tr.dataset['port'] = p.port;
    if (!p.up) tr.className = 'down';
    cell(tr, p.port);
    cell(tr, p.up ? 'up' : 'down');
    cell(tr, p.mtu, true);
    cell(tr, vlans.get(p.port) ?? '');
    cell(tr, p.rxFrames, true);
    cell(tr, perS(rate(p.rxFrames, b?.rxFrames, dt)), true);
    cell(tr, p.rxBytes, true);
    cell(tr, p.txFrames, true);
    cell(tr, perS(rate(p.txFrames, b?.txFrames, dt)), true);
    cell(tr, p.txBytes, true);
    cell(tr, p.rxRingDrops, true);
  });
  fill('drops', Object.entries(s.stats.drops), (tr, [reason, n]) => {
    cell(tr, reason);
    cell(tr, n, true);
  });
  // The port choices of the FDB filter and of the trace form, keeping what is chosen.
  for (const [id, first] of [['fdb-port', 'any'], ['trace-in', null]] as const) {
    const select = $<HTMLSelectElement>(id);
    const names = s.stats.ports.map((p) => p.port);
    const have = [...select.options].map((o) => o.value).filter((v) => v !== '');
    if (have.join('\n') === names.join('\n')) continue;
    const chosen = select.value;
    const options = names.map((n) => new Option(n, n));
    if (first !== null) options.unshift(new Option(first, ''));
    select.replaceChildren(...options);
    if (chosen !== '' && names.includes(chosen)) select.value = chosen;
  }
}

function fdbTable(): void {
  const s = latest;
  if (s === null) return;
  const mac = $<HTMLInputElement>('fdb-mac').value.trim().toLowerCase();
  const port = $<HTMLSelectElement>('fdb-port').value;
  const vlanText = $<HTMLInputElement>('fdb-vlan').value.trim();
  const vlan = vlanText === '' ? null : Number(vlanText);
  const rows = s.fdb.entries.filter((e) => e.mac.includes(mac) && (port === '' || e.port === port) && (vlan === null || e.vlan === vlan));
  fill('fdb', rows, (tr, e) => {
    tr.dataset['mac'] = e.mac;
    cell(tr, e.mac);
    cell(tr, e.vlan, true);
    cell(tr, e.port);
    cell(tr, Math.floor(e.ageSeconds), true);
  });
  const more = s.fdb.count > s.fdb.entries.length ? ` (the first ${s.fdb.entries.length} of ${s.fdb.count} are listed)` : '';
  $('fdb-count').textContent = `${rows.length} shown, ${s.fdb.count} in the table${more}`;
}

function otherTables(s: WebSnapshot): void {
  const opt = (v: string | number | null): string => (v === null ? '*' : String(v));
  fill('acl', s.acl.rules, (tr, r) => {
    for (const v of [r.id, r.priority, opt(r.in), opt(r.src), opt(r.dst), r.type === null ? '*' : `0x${r.type.toString(16).padStart(4, '0')}`, opt(r.vlan), r.action]) cell(tr, v);
    cell(tr, r.hits, true);
  });
  const vids = (v: Array<[number, number]> | null): string => (v === null ? 'all' : v.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(','));
  fill('mirrors', s.mirrors.mirrors, (tr, m) => {
    cell(tr, m.name);
    cell(tr, m.output);
    cell(tr, m.selectAll ? 'all' : m.selectIngress.join(', '));
    cell(tr, m.selectAll ? 'all' : m.selectEgress.join(', '));
    cell(tr, vids(m.selectVlans));
    cell(tr, m.copies, true);
  });
  fill('tunnels', s.tunnels.tunnels, (tr, t) => {
    for (const v of [t.name, t.vni, opt(t.local), t.remotes.join(', '), t.dstport, t.underlay, t.mtu, opt(t.vlan)]) cell(tr, v);
    cell(tr, t.rxFrames, true);
    cell(tr, t.txFrames, true);
  });
}

/** `vlan` text of a port, as the ports table shows it. */
function vlanText(v: WebSnapshot['vlans'][number]): string {
  if (v.mode === 'default') return 'default';
  const trunks = v.trunks === null ? '' : ` trunks ${v.trunks.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`;
  return `${v.mode}${v.tag ? ` ${v.tag}` : ''}${trunks}`;
}

/** One event of `monitor`, newest first; the list keeps MAX_EVENTS. */
function addEvent(ev: MonitorEvent): void {
  const list = $('events');
  const li = document.createElement('li');
  li.dataset['event'] = ev.event;
  li.textContent = `${ev.time} ${describeEvent(ev)}`;
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild!.remove();
}

function show(s: WebSnapshot): void {
  latest = s;
  $('info').textContent = `vswitchd ${s.version}, ${s.datapath} datapath, ${s.stats.ports.length} ports, FDB ${s.stats.fdb.entries}`;
  const status = $('status');
  status.textContent = `live, ${new Date(s.time).toLocaleTimeString()}`;
  status.className = 'status live';
  portsTable(s);
  updateCharts(s);
  fdbTable();
  otherTables(s);
  prev = s;
}

async function trace(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const name of ['in', 'src', 'dst', 'vlan', 'type']) {
    const v = ($(`trace-${name}`) as HTMLInputElement | HTMLSelectElement).value.trim();
    if (v !== '') q.set(name, v);
  }
  const out = $<HTMLTableElement>('trace').tBodies[0]!;
  const pre = $('trace-json');
  try {
    const r = await fetch(`/api/trace?${q.toString()}`);
    const body = (await r.json()) as TraceResult | { error: { code: string; message: string } };
    if ('error' in body) {
      const tr = document.createElement('tr');
      tr.className = 'error';
      cell(tr, 'error');
      cell(tr, body.error.message);
      out.replaceChildren(tr);
      pre.textContent = '';
      return;
    }
    const rows = formatTrace(body)
      .trimEnd()
      .split('\n')
      .map((line) => {
        const tr = document.createElement('tr');
        tr.dataset['stage'] = line.slice(0, 8).trim();
        cell(tr, line.slice(0, 8).trim());
        cell(tr, line.slice(9));
        return tr;
      });
    out.replaceChildren(...rows);
    pre.textContent = JSON.stringify(body);
  } catch (err) {
    pre.textContent = `trace failed: ${String(err)}`;
  }
}

function connect(): void {
  const events = new EventSource('/api/events');
  events.addEventListener('snapshot', (e) => show(JSON.parse((e as MessageEvent<string>).data) as WebSnapshot));
  events.addEventListener('monitor', (e) => addEvent(JSON.parse((e as MessageEvent<string>).data) as MonitorEvent));
  events.addEventListener('failure', (e) => {
    const status = $('status');
    status.textContent = `cannot read the switch: ${(JSON.parse((e as MessageEvent<string>).data) as { message: string }).message}`;
    status.className = 'status down';
  });
  // EventSource reconnects by itself (the server asks for 1 s).
  events.addEventListener('error', () => {
    const status = $('status');
    status.textContent = 'disconnected: reconnecting…';
    status.className = 'status down';
  });
}

$('trace-form').addEventListener('submit', (ev) => void trace(ev as SubmitEvent));
for (const id of ['fdb-mac', 'fdb-port', 'fdb-vlan']) $(id).addEventListener('input', fdbTable);
$('fdb-filter').addEventListener('submit', (ev) => ev.preventDefault());
connect();
