// `vswconfig trace`: one line per stage of the pipeline, in order, as
// ovs-appctl ofproto/trace prints its stages; -j prints the same as JSON.
//
//   frame    in veth1-vsw src 02:00:00:00:00:01 dst ff:ff:ff:ff:ff:ff untagged type 0x0800
//   ingress  veth1-vsw: access 10
//   vlan     10: untagged frame on an access port: the port's VLAN
//   acl      no rule matched (3 rules): allow
//   learn    02:00:00:00:00:01 in VLAN 10 on veth1-vsw: new entry
//   lookup   ff:ff:ff:ff:ff:ff: group address: flood
//   egress   veth3-vsw: untagged
//   egress   veth2-vsw: skipped (VLAN 10 not carried)
//   mirror   span to veth4-vsw: tagged 10
//   verdict  forward to veth3-vsw, veth4-vsw

import type { TraceResult } from '../control/results.js';

const hex4 = (t: number): string => `0x${t.toString(16).padStart(4, '0')}`;

function tagText(tag: number | null): string {
  return tag === null ? 'untagged' : `tagged ${tag}`;
}

export function formatTrace(t: TraceResult): string {
  const lines: Array<[string, string]> = [];
  const f = t.frame;
  lines.push(['frame', `in ${f.in} src ${f.src} dst ${f.dst} ${f.vlan === null ? 'untagged' : `vlan ${f.vlan}`} type ${hex4(f.type)}`]);
  lines.push(['ingress', `${t.ingress.port}: ${t.ingress.mirrorOutput ? 'the output of a mirror' : t.ingress.mode}`]);
  if (t.validation !== null) lines.push(['validate', `drop: ${t.validation.drop}`]);
  if (t.vlan !== null) lines.push(['vlan', `${t.vlan.vid}: ${t.vlan.why}${t.vlan.drop ? `: drop (${t.vlan.drop})` : ''}`]);
  if (t.acl !== null) {
    const n = `${t.acl.rules} rule${t.acl.rules === 1 ? '' : 's'}`;
    lines.push(['acl', t.acl.rules === 0 ? 'no rules: allow' : t.acl.rule === null ? `no rule matched (${n}): allow` : `rule ${t.acl.rule} matched (${n}): ${t.acl.action}`]);
  }
  if (t.learn !== null) {
    const vid = t.vlan?.vid ?? 0;
    const what =
      t.learn.kind === 'refresh' ? 'known here: refreshed'
      : t.learn.kind === 'move' ? `moves from ${t.learn.from}`
      : t.learn.kind === 'refused' ? 'not learned: the port holds its limit of entries'
      : t.learn.evicts ? `new entry, evicting ${t.learn.evicts.mac} (VLAN ${t.learn.evicts.vlan}) of ${t.learn.evicts.port}: the table is full`
      : 'new entry';
    lines.push(['learn', `${f.src} in VLAN ${vid} on ${t.ingress.port}: ${what}`]);
  }
  if (t.lookup !== null) {
    const l = t.lookup;
    lines.push(['lookup', `${f.dst}: ${l.kind === 'group' ? 'group address: flood' : l.kind === 'hit' ? `learned on ${l.port}` : 'unknown: flood'}`]);
  }
  for (const e of t.egress) lines.push(['egress', `${e.port}: ${e.skipped !== undefined ? `skipped (${e.skipped})` : tagText(e.tag)}`]);
  for (const m of t.mirrors) lines.push(['mirror', `${m.mirror} to ${m.output}: ${m.skipped !== undefined ? `skipped (${m.skipped})` : tagText(m.tag)}`]);
  const v = t.verdict;
  lines.push(['verdict', v.action === 'drop' ? `drop (${v.reason})` : v.ports.length === 0 ? 'forward to no port' : `forward to ${v.ports.join(', ')}`]);
  return lines.map(([stage, text]) => `${stage.padEnd(8)} ${text}\n`).join('');
}

export function jsonTrace(t: TraceResult): string {
  return `${JSON.stringify(t)}\n`;
}
