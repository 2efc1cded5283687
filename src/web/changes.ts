// The changes the page can see between two snapshots: ports added and removed,
// link up and down, MTU and VLAN mode changes, ACL rules, mirrors and tunnels
// added and removed. It stands in for `vswconfig monitor` (not built yet), and
// sees only what differs from one snapshot to the next.

import type { WebSnapshot } from './snapshot.js';

export interface Change {
  time: number;
  text: string;
}

function vlanText(v: WebSnapshot['vlans'][number]): string {
  if (v.mode === 'default') return 'default';
  const trunks = v.trunks === null ? '' : ` trunks ${v.trunks.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`;
  return `${v.mode}${v.tag ? ` ${v.tag}` : ''}${trunks}`;
}

/** What changed from `prev` to `next`, in a fixed order (ports, then ACL, mirrors, tunnels). */
export function changes(prev: WebSnapshot, next: WebSnapshot): Change[] {
  const out: Change[] = [];
  const say = (text: string): void => void out.push({ time: next.time, text });
  const before = new Map(prev.stats.ports.map((p) => [p.port, p]));
  const after = new Map(next.stats.ports.map((p) => [p.port, p]));
  for (const [name, p] of after) {
    const was = before.get(name);
    if (was === undefined) {
      say(`port ${name} added (link ${p.up ? 'up' : 'down'}, mtu ${p.mtu})`);
      continue;
    }
    if (was.up !== p.up) say(`port ${name} link ${p.up ? 'up' : 'down'}`);
    if (was.mtu !== p.mtu) say(`port ${name} mtu ${was.mtu} -> ${p.mtu}`);
  }
  for (const name of before.keys()) if (!after.has(name)) say(`port ${name} removed`);
  const vlansBefore = new Map(prev.vlans.map((v) => [v.ifname, vlanText(v)]));
  for (const v of next.vlans) {
    const was = vlansBefore.get(v.ifname);
    if (was !== undefined && was !== vlanText(v)) say(`port ${v.ifname} vlan ${was} -> ${vlanText(v)}`);
  }
  const ids = new Set(prev.acl.rules.map((r) => r.id));
  const idsNow = new Set(next.acl.rules.map((r) => r.id));
  for (const r of next.acl.rules) if (!ids.has(r.id)) say(`acl rule ${r.id} added (${r.action})`);
  for (const id of ids) if (!idsNow.has(id)) say(`acl rule ${id} deleted`);
  const named = (kind: string, a: readonly string[], b: readonly string[]): void => {
    for (const n of b) if (!a.includes(n)) say(`${kind} ${n} added`);
    for (const n of a) if (!b.includes(n)) say(`${kind} ${n} deleted`);
  };
  named('mirror', prev.mirrors.mirrors.map((m) => m.name), next.mirrors.mirrors.map((m) => m.name));
  named('tunnel', prev.tunnels.tunnels.map((t) => t.name), next.tunnels.tunnels.map((t) => t.name));
  return out;
}

/** `vlan` text of a port, as the ports table shows it. */
export { vlanText };
