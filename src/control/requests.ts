// The requests of the control protocol (protocol.ts frames them): each
// command's fields and the checks every value passes before the switch sees
// it. The same check functions serve vswconfig (cli/args.ts) and the saved
// configuration (daemon/db.ts).
//
// vlan (ifname, and to set it: mode, tag, trunks — see core/vlan.ts) answers
// with the port's mode after the request:
//
//   → {"v":1,"id":9,"cmd":"vlan","ifname":"veth1-vsw","mode":"trunk","trunks":[[10,10],[100,199]]}
//   ← {"v":1,"id":9,"ok":true,"result":{"ifname":"veth1-vsw","mode":"trunk","tag":0,"trunks":[[10,10],[100,199]]}}
//
// acl-add (priority, in, src, dst, type, vlan: each optional; action) answers
// with the new rule's id; acl-del (id); acl-show lists the rules in match order:
//
//   → {"v":1,"id":10,"cmd":"acl-add","src":"02:00:00:00:00:01/ff:ff:ff:00:00:00","vlan":"untagged","action":"drop"}
//   ← {"v":1,"id":10,"ok":true,"result":{"id":1}}
//
// mirror-add (name, output, select-ingress/-egress ports, select-vlans: each
// list optional), mirror-del (name), mirror-show (with the frames each copied):
//
//   → {"v":1,"id":11,"cmd":"mirror-add","name":"span","output":"veth4-vsw","selectIngress":["veth1-vsw"],"selectVlans":[[10,10]]}
//
// trace (in, and optional src, dst, vlan, type) answers with each stage of the
// pipeline for that made-up frame (core/trace.ts), ports named.
//
// capture (what: in, out, both or drops; ifname, optional for drops; count)
// streams the frames, a part line each, until the client closes the connection,
// the count is reached or the port goes; then the last line says why:
//
//   → {"v":1,"id":12,"cmd":"capture","ifname":"veth1-vsw","what":"in"}
//   ← {"v":1,"id":12,"ok":true,"part":{"frame":{"time":1765100000123.4,"ifname":"veth1-vsw","dir":"in","len":98,"data":"////…"}}}
//   ← {"v":1,"id":12,"ok":true,"result":{"frames":1,"lost":0,"end":"port-gone"}}
//
// restart: the daemon replaces itself by a new one (src/daemon/restart.ts);
// answered once the new one serves the socket, with its pid:
//
//   → {"v":1,"id":12,"cmd":"restart"}
//   ← {"v":1,"id":12,"ok":true,"result":{"pid":4242}}
//
// tunnel-add (name, vni, remotes, and optional local, dstport, vlan), tunnel-del
// (name), tunnel-show (tunnels, and the ports whose MTU is larger than a tunnel's):
//
//   → {"v":1,"id":11,"cmd":"tunnel-add","name":"vx1","vni":1000,"remotes":["10.0.0.2"],"vlan":10}
//   ← {"v":1,"id":11,"ok":true,"result":null}
//
// monitor subscribes the connection to the switch's events (monitor.ts,
// monitor-events.ts): a first part line, then one part line per event, no last
// line; nothing more is read from the connection:
//
//   → {"v":1,"id":1,"cmd":"monitor"}
//   ← {"v":1,"id":1,"ok":true,"part":{"subscribed":true}}
//   ← {"v":1,"id":1,"ok":true,"part":{"time":"2026-12-07T12:00:00.000Z","event":"port-add","ifname":"veth1-vsw"}}

import { z } from 'zod';
import { ifnameProblem } from '../os/ifname.js';
import { aclRuleProblems, ethertypeProblem, parseMacMask } from '../core/acl.js';
import { mirrorNameProblem } from '../core/mirror.js';
import { portVlanProblem, VID_MAX, vidProblem } from '../core/vlan.js';
import { MAX_REMOTES, tunnelSpecProblems } from './tunnel-spec.js';

export const PROTOCOL_VERSION = 1;

export const ifnameSchema = z.string().superRefine((s, ctx) => {
  const problem = ifnameProblem(s);
  if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid interface name: ${problem}` });
});

export const idSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** A VID list (a trunk's, a mirror's select-vlan) as ranges; vidListProblem checks the values. */
export const vidRangesSchema = z.array(z.tuple([z.number().int(), z.number().int()])).max(VID_MAX);

/** What is wrong with a VID list, or null: every VID in 1-4094, no range reversed (a trunk's list, core/vlan.ts). */
export function vidListProblem(ranges: ReadonlyArray<[number, number]>): string | null {
  return portVlanProblem({ mode: 'trunk', tag: 0, trunks: [...ranges] });
}

/** What is wrong with a MAC address (no mask), or null. */
function macProblem(m: string): string | null {
  try {
    return parseMacMask(m).mask === 0xffffffffffff && !m.includes('/') ? null : `not a MAC address: '${m}'`;
  } catch (err) {
    return (err as Error).message;
  }
}
export const versionSchema = z.literal(PROTOCOL_VERSION);
const v = versionSchema;

export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ v, id: idSchema, cmd: z.literal('add'), ifname: ifnameSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('delete'), ifname: ifnameSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('show') }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('fdb') }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('stats') }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('restart') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('vlan'),
      ifname: ifnameSchema,
      // Absent: only asks for the port's mode.
      mode: z.enum(['access', 'trunk', 'native-tagged', 'native-untagged']).optional(),
      tag: z.number().int().optional(),
      trunks: vidRangesSchema.nullable().optional(),
    })
    .strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('acl-add'),
      priority: z.number().optional(),
      in: ifnameSchema.optional(),
      src: z.string().max(64).optional(),
      dst: z.string().max(64).optional(),
      type: z.number().optional(),
      vlan: z.union([z.number(), z.literal('untagged')]).optional(),
      action: z.enum(['allow', 'drop']),
    })
    .strict(),
  z.object({ v, id: idSchema, cmd: z.literal('acl-del'), rule: idSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('acl-show') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('mirror-add'),
      name: z.string().max(64),
      output: ifnameSchema,
      // An empty list would select nothing: leave the list out to select every frame.
      selectIngress: z.array(ifnameSchema).min(1).max(1024).optional(),
      selectEgress: z.array(ifnameSchema).min(1).max(1024).optional(),
      selectVlans: vidRangesSchema.optional(),
    })
    .strict(),
  z.object({ v, id: idSchema, cmd: z.literal('mirror-del'), name: z.string().max(64) }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('mirror-show') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('trace'),
      in: ifnameSchema,
      src: z.string().max(64).optional(),
      dst: z.string().max(64).optional(),
      vlan: z.number().int().optional(),
      type: z.number().optional(),
    })
    .strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('tunnel-add'),
      name: ifnameSchema,
      vni: z.number(),
      remotes: z.array(z.string().max(64)).max(MAX_REMOTES),
      local: z.string().max(64).optional(),
      dstport: z.number().optional(),
      vlan: z.number().optional(),
    })
    .strict(),
  z.object({ v, id: idSchema, cmd: z.literal('tunnel-del'), name: ifnameSchema }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('tunnel-show') }).strict(),
  z.object({ v, id: idSchema, cmd: z.literal('monitor') }).strict(),
  z
    .object({
      v,
      id: idSchema,
      cmd: z.literal('capture'),
      // With drops: the port whose dropped frames (absent: every port's); else the port whose frames.
      ifname: ifnameSchema.optional(),
      what: z.enum(['in', 'out', 'both', 'drops']),
      // End after this many frames (absent: until the client goes or the port does).
      count: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    })
    .strict(),
]).superRefine((r, ctx) => {
  const report = (p: string | null): void => {
    if (p !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: p });
  };
  if (r.cmd === 'mirror-add') {
    report(mirrorNameProblem(r.name));
    report(vidListProblem(r.selectVlans ?? []));
    return;
  }
  if (r.cmd === 'trace') {
    report(r.type === undefined ? null : ethertypeProblem(r.type));
    report(r.vlan === undefined ? null : vidProblem(r.vlan));
    for (const m of [r.src, r.dst]) report(m === undefined ? null : macProblem(m));
    return;
  }
  if (r.cmd === 'tunnel-add') {
    for (const [, p] of tunnelSpecProblems(r)) report(p);
    return;
  }
  if (r.cmd === 'acl-add') {
    for (const [, p] of aclRuleProblems(r)) report(p);
    return;
  }
  if (r.cmd === 'capture') {
    if (r.what !== 'drops' && r.ifname === undefined) report(`a capture of '${r.what}' frames needs a port`);
    return;
  }
  if (r.cmd !== 'vlan') return;
  if (r.mode === undefined) {
    if (r.tag !== undefined || r.trunks !== undefined) report("'tag' and 'trunks' need a 'mode'");
    return;
  }
  report(portVlanProblem({ mode: r.mode, tag: r.tag ?? 0, trunks: r.trunks ?? null }));
});

export type Request = z.infer<typeof requestSchema>;
export type Command = Request['cmd'];
/** An acl-add request's rule (checked: every value in range, MACs parse). */
export type AclAddRequest = Omit<Extract<Request, { cmd: 'acl-add' }>, 'v' | 'id' | 'cmd'>;
/** A mirror-add request's mirror (checked: name, VLAN ranges). */
export type MirrorAddRequest = Omit<Extract<Request, { cmd: 'mirror-add' }>, 'v' | 'id' | 'cmd'>;
/** A trace request's frame (checked: MACs, VID, ethertype). */
export type TraceRequest = Omit<Extract<Request, { cmd: 'trace' }>, 'v' | 'id' | 'cmd'>;
/** A capture request (capture.ts in the daemon streams its frames). */
export type CaptureRequest = Omit<Extract<Request, { cmd: 'capture' }>, 'v' | 'cmd'>;
/** A tunnel-add request's spec (checked: tunnel-spec.ts). */
export type TunnelAddRequest = Omit<Extract<Request, { cmd: 'tunnel-add' }>, 'v' | 'id' | 'cmd'>;
export const COMMANDS: readonly Command[] = ['add', 'delete', 'show', 'fdb', 'stats', 'vlan', 'acl-add', 'acl-del', 'acl-show', 'mirror-add', 'mirror-del', 'mirror-show', 'trace', 'tunnel-add', 'tunnel-del', 'tunnel-show', 'monitor', 'capture', 'restart'];
