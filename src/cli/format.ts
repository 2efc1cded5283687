// Output of vswconfig: text, or with -j one JSON document per command, shaped
// as iproute2's (`bridge -j fdb`): interfaces are "ifname".

import type { AclShowResult, FdbEntry, MirrorShowResult, MtuWarning, StatsResult, TunnelShowResult, VlanResult } from '../control/results.js';
import { formatPortVlan, formatVids } from '../core/vlan.js';
import { formatAclMatch } from '../core/acl.js';
import { REASON_NAMES } from '../core/reasons.js';

/** `show`: `datapath kernel attach tcx` (the attach mode if the daemon says it), then one port name per line, as the article prints them. */
export function formatShow(datapath: string, ports: readonly string[], mtuWarnings: readonly MtuWarning[] = [], attach?: string): string {
  return `datapath ${datapath}${attach !== undefined ? ` attach ${attach}` : ''}\n${ports.map((p) => `${p}\n`).join('')}${mtuWarnings.map((w) => `warning: ${mtuWarningText(w)}\n`).join('')}`;
}

/** A port whose MTU is larger than a tunnel's, and what to do about it. */
function mtuWarningText(w: MtuWarning): string {
  return `port ${w.port} has MTU ${w.mtu} > tunnel ${w.tunnel} ${w.tunnelMtu}: set ${w.port}'s MTU to ${w.tunnelMtu} (or raise the underlay's by ${w.mtu - w.tunnelMtu})`;
}

/**
 * `fdb`: like `bridge fdb show`: `aa:bb:cc:dd:ee:ff dev veth1-vsw vlan 10 age 12`;
 * VLAN 0 (untagged frames on ports with no VLAN mode) is not printed, as the bridge prints no vlan.
 */
export function formatFdb(entries: readonly FdbEntry[]): string {
  return entries.map((e) => `${e.mac} dev ${e.port}${e.vlan !== 0 ? ` vlan ${e.vlan}` : ''} age ${Math.floor(e.ageSeconds)}\n`).join('');
}

/** `vlan PORT`: `veth1-vsw access 10`, `veth2-vsw trunk 10,20,100-199`. */
export function formatVlan(r: VlanResult): string {
  return `${r.ifname} ${formatPortVlan(r)}\n`;
}

/** `vlan PORT -j`: `{"ifname":…,"mode":…,"tag":…,"trunks":[[lo,hi],…] or null}`. */
export function jsonVlan(r: VlanResult): string {
  return `${JSON.stringify(r)}\n`;
}

/** `acl show`: id, priority, match, action, hits; one rule a line, in match order. */
export function formatAcl(r: AclShowResult): string {
  const rows = r.rules.map((a) => [String(a.id), String(a.priority), formatAclMatch(a), a.action, String(a.hits)]);
  return table(['id', 'priority', 'match', 'action', 'hits'], rows, new Set([0, 1, 4]));
}

/** `acl show -j`: `[{"id":1,"priority":32768,"in":null,"src":"…","dst":null,"type":null,"vlan":null,"action":"drop","hits":3},…]`. */
export function jsonAcl(r: AclShowResult): string {
  return `${JSON.stringify(r.rules)}\n`;
}

/**
 * `mirror show`: name, output, select-ingress, select-egress, select-vlan, copies. A select list is
 * `all` for a mirror of every frame, `-` when not given, and names the ports that left it:
 * `(none: veth1 left)` when they emptied it (it then selects nothing), `veth2 (veth1 left)`.
 */
export function formatMirrors(r: MirrorShowResult): string {
  const list = (xs: readonly string[], left: readonly string[]): string => {
    const gone = left.length === 0 ? '' : `${left.join(',')} left`;
    if (xs.length === 0) return gone === '' ? '-' : `(none: ${gone})`;
    return gone === '' ? xs.join(',') : `${xs.join(',')} (${gone})`;
  };
  const rows = r.mirrors.map((m) => [
    m.name,
    m.output,
    m.selectAll ? 'all' : list(m.selectIngress, m.leftIngress),
    list(m.selectEgress, m.leftEgress),
    formatVids(m.selectVlans),
    String(m.copies),
  ]);
  return table(['name', 'output', 'select-ingress', 'select-egress', 'select-vlan', 'copies'], rows, new Set([5]));
}

export function jsonMirrors(r: MirrorShowResult): string {
  return `${JSON.stringify(r.mirrors)}\n`;
}

/**
 * `tunnel show`: one tunnel a line (name, vni, local, remotes, dstport, underlay, mtu, vlan, rx/tx
 * frames), then one line per port whose MTU is larger than a tunnel's, with the MTU to set.
 */
export function formatTunnels(r: TunnelShowResult): string {
  const rows = r.tunnels.map((t) => [
    t.name,
    String(t.vni),
    t.local ?? '-',
    t.remotes.join(','),
    String(t.dstport),
    t.underlay,
    String(t.mtu),
    t.vlan === null ? 'all' : String(t.vlan),
    String(t.rxFrames),
    String(t.txFrames),
  ]);
  let out = table(['name', 'vni', 'local', 'remotes', 'dstport', 'underlay', 'mtu', 'vlan', 'rx frames', 'tx frames'], rows, new Set([1, 4, 6, 8, 9]));
  for (const w of r.mtuWarnings) {
    out += `mtu: ${mtuWarningText(w)}\n`;
  }
  return out;
}

function table(header: readonly string[], rows: readonly string[][], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => {
        const last = c === cells.length - 1;
        if (rightAligned.has(c)) return cell.padStart(widths[c]!);
        return last ? cell : cell.padEnd(widths[c]!);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/**
 * `stats`: a per-port table (port, link, mtu, rx frames, rx bytes, tx frames,
 * tx bytes, ring drops), then `drops <reason> <n>` for every reason, then the
 * FDB counters as `fdb <counter> <n>`.
 */
export function formatStats(s: StatsResult): string {
  const header = ['port', 'link', 'mtu', 'rx frames', 'rx bytes', 'tx frames', 'tx bytes', 'ring drops'];
  const rows = s.ports.map((p) => [
    p.port,
    p.up ? 'up' : 'down',
    String(p.mtu),
    String(p.rxFrames),
    String(p.rxBytes),
    String(p.txFrames),
    String(p.txBytes),
    String(p.rxRingDrops),
  ]);
  let out = table(header, rows, new Set([2, 3, 4, 5, 6, 7]));

  out += '\n';
  // Every known reason, in its fixed order (zeros included), then any others.
  const reasons = [...REASON_NAMES, ...Object.keys(s.drops).filter((r) => !REASON_NAMES.includes(r)).sort()];
  for (const reason of reasons) out += `drops ${reason} ${s.drops[reason] ?? 0}\n`;

  out += '\n';
  const f = s.fdb;
  out += `fdb entries ${f.entries}\n`;
  out += `fdb learned ${f.learned}\n`;
  out += `fdb moved ${f.moved}\n`;
  out += `fdb expired ${f.expired}\n`;
  out += `fdb evicted ${f.evicted}\n`;
  out += `fdb flushed ${f.flushed}\n`;
  out += `fdb refused ${f.refused}\n`;
  out += `fdb suppressed ${f.suppressed}\n`;
  if (s.monitor !== undefined) {
    out += '\n';
    out += `monitor subscribers ${s.monitor.subscribers}\n`;
    out += `monitor dropped ${s.monitor.dropped}\n`;
    out += `monitor suppressed ${s.monitor.suppressed}\n`;
  }
  return out;
}

/** `show -j`: `{"datapath":"kernel","attach":"tcx","ports":[{"ifname":"veth1-vsw"},…]}`. */
export function jsonShow(datapath: string, ports: readonly string[], mtuWarnings: readonly MtuWarning[] = [], attach?: string): string {
  return `${JSON.stringify({ datapath, ...(attach !== undefined ? { attach } : {}), ports: ports.map((ifname) => ({ ifname })), ...(mtuWarnings.length > 0 ? { mtuWarnings } : {}) })}\n`;
}

/**
 * `fdb -j`: `[{"mac":"aa:bb:cc:dd:ee:ff","ifname":"veth1-vsw","vlan":10,"age":12},…]`, age
 * in whole seconds, vlan left out when 0 (as bridge -j fdb). Made a part at a time: the items of one part, comma
 * separated; jsonFdb puts the parts' items together.
 */
export function jsonFdbItems(entries: readonly FdbEntry[]): string {
  return entries
    .map((e) => JSON.stringify(e.vlan !== 0 ? { mac: e.mac, ifname: e.port, vlan: e.vlan, age: Math.floor(e.ageSeconds) } : { mac: e.mac, ifname: e.port, age: Math.floor(e.ageSeconds) }))
    .join(',');
}

/** The one array of `fdb -j`, in pieces to write one after the other (a huge table is no one string). */
export function* jsonFdb(items: readonly Buffer[]): Generator<string | Buffer, void, undefined> {
  yield '[';
  let first = true;
  for (const part of items) {
    if (part.length === 0) continue;
    if (!first) yield ',';
    first = false;
    yield part;
  }
  yield ']\n';
}

/** `stats -j`: `{"ports":[{"ifname":…,"up":…,"mtu":…,"rxFrames":…,…}],"drops":{reason:n},"fdb":{"entries":…,…}}`. */
export function jsonStats(s: StatsResult): string {
  const ports = s.ports.map(({ port, ...counters }) => ({ ifname: port, ...counters }));
  return `${JSON.stringify({ ports, drops: s.drops, fdb: s.fdb, ...(s.monitor !== undefined ? { monitor: s.monitor } : {}), ...(s.captures !== undefined ? { captures: s.captures } : {}) })}\n`;
}
