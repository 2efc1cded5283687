// The lines of `vswconfig monitor`: one per event, its ISO time first, in the
// words of `bridge monitor` (text), or the event's own JSON (-j). Pure: the
// web page shows its events with these same lines.

import type { MonitorEvent } from '../control/monitor-events.js';

function vlanWords(mode: string, tag: number, trunks: Array<[number, number]> | null): string {
  const vids = trunks === null ? '' : ` ${trunks.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`;
  return `${mode}${tag ? ` ${tag}` : ''}${vids}`;
}

/** What happened, without the time. */
export function describeEvent(ev: MonitorEvent): string {
  switch (ev.event) {
    case 'fdb-learn':
    case 'fdb-age':
    case 'fdb-evict':
      return `${ev.event} ${ev.mac} vlan ${ev.vlan} port ${ev.ifname}`;
    case 'fdb-move':
      return `${ev.event} ${ev.mac} vlan ${ev.vlan} port ${ev.ifname} from ${ev.from}`;
    case 'fdb-flush':
      return `fdb-flush port ${ev.ifname} ${ev.count} entr${ev.count === 1 ? 'y' : 'ies'} (${ev.reason})`;
    case 'port-add':
    case 'link-up':
    case 'link-down':
      return `${ev.event} ${ev.ifname}`;
    case 'port-del':
      return `port-del ${ev.ifname} (${ev.reason})`;
    case 'mtu':
      return `mtu ${ev.ifname} ${ev.old} -> ${ev.mtu}`;
    case 'rename':
      return `rename ${ev.old} -> ${ev.ifname}`;
    case 'vlan':
      return `vlan ${ev.ifname} ${vlanWords(ev.mode, ev.tag, ev.trunks)}`;
    case 'acl-add':
      return `acl-add ${ev.id}: ${ev.rule}`;
    case 'acl-del':
      return `acl-del ${ev.id}`;
    case 'mirror-add':
      return `mirror-add ${ev.name} output ${ev.output}`;
    case 'mirror-del':
      return `mirror-del ${ev.name}`;
    case 'tunnel-add':
      return `tunnel-add ${ev.name} vni ${ev.vni}`;
    case 'tunnel-del':
      return `tunnel-del ${ev.name}`;
    case 'suppressed':
      return `suppressed ${ev.count} ${ev.kind} in the last second`;
  }
}

/** One text line: time, then what happened. */
export function formatEvent(ev: MonitorEvent): string {
  return `${ev.time} ${describeEvent(ev)}\n`;
}

/** One JSON line: the event as the daemon sent it. */
export function jsonEvent(ev: MonitorEvent): string {
  return `${JSON.stringify(ev)}\n`;
}
