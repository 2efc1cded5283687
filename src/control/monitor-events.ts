// The events of `vswconfig monitor` (monitor.ts streams them): what each
// carries, as the daemon makes them and the client checks them. On the wire
// every event is one JSON object, its time (ISO 8601) first:
//
//   {"time":"2026-12-07T12:00:00.000Z","event":"fdb-learn","mac":"02:00:00:00:00:01","vlan":0,"ifname":"veth1-vsw"}
//
// FDB: fdb-learn, fdb-move (from: the port it left), fdb-age, fdb-evict,
// fdb-flush (count, reason: port-removed, link-down, vlan-mode, mirror-output).
// Ports: port-add, port-del (reason: deleted, gone), link-up, link-down, mtu
// (old), rename (old). Configuration: vlan, acl-add, acl-del, mirror-add,
// mirror-del, tunnel-add, tunnel-del. And suppressed (kind, count): events of
// that kind over its rate in the last second, not sent.

import { z } from 'zod';

const count = z.number().int().nonnegative();
const fdbStation = { mac: z.string(), vlan: count, ifname: z.string() };

export const monitorEventSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('fdb-learn'), ...fdbStation }),
  z.object({ event: z.literal('fdb-move'), ...fdbStation, from: z.string() }),
  z.object({ event: z.literal('fdb-age'), ...fdbStation }),
  z.object({ event: z.literal('fdb-evict'), ...fdbStation }),
  z.object({ event: z.literal('fdb-flush'), ifname: z.string(), count, reason: z.string() }),
  z.object({ event: z.literal('port-add'), ifname: z.string() }),
  z.object({ event: z.literal('port-del'), ifname: z.string(), reason: z.enum(['deleted', 'gone']) }),
  z.object({ event: z.literal('link-up'), ifname: z.string() }),
  z.object({ event: z.literal('link-down'), ifname: z.string() }),
  z.object({ event: z.literal('mtu'), ifname: z.string(), mtu: count, old: count }),
  z.object({ event: z.literal('rename'), ifname: z.string(), old: z.string() }),
  z.object({ event: z.literal('vlan'), ifname: z.string(), mode: z.string(), tag: count, trunks: z.array(z.tuple([count, count])).nullable() }),
  z.object({ event: z.literal('acl-add'), id: count, rule: z.string() }),
  z.object({ event: z.literal('acl-del'), id: count }),
  z.object({ event: z.literal('mirror-add'), name: z.string(), output: z.string() }),
  z.object({ event: z.literal('mirror-del'), name: z.string() }),
  z.object({ event: z.literal('tunnel-add'), name: z.string(), vni: count }),
  z.object({ event: z.literal('tunnel-del'), name: z.string() }),
  z.object({ event: z.literal('suppressed'), kind: z.string(), count }),
]);

/** An event as the daemon publishes it (the time is added when it is sent). */
export type MonitorEventBody = z.infer<typeof monitorEventSchema>;
/** An event as the client receives it. */
export type MonitorEvent = MonitorEventBody & { time: string };
export type MonitorEventKind = MonitorEventBody['event'];

/** One event line as received: its time and its body. */
export const monitorLineSchema = z.intersection(z.object({ time: z.string() }), monitorEventSchema);

/** The first part line of a monitor reply: the subscription is in place, events follow. */
export const monitorStartSchema = z.object({ subscribed: z.literal(true) });
