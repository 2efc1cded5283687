// The stages of the forwarding pipeline, each written once. Forwarder.process()
// calls them for every frame of a batch, and the trace (trace.ts, `vswconfig
// trace`) calls the same functions for its one made-up frame and names what
// they decided, as Open vSwitch's ofproto/trace runs the real translation
// code. A new stage, or a change to one, is therefore made here and both see
// it; test/unit/trace.test.ts still checks them against each other.
//
// Hot path rules: plain functions over numbers and typed arrays. No closure,
// no object per frame, nothing allocated; a decision and its drop reason come
// back as one number.
//
// Order of the stages (forwarder.ts says why each is where it is):
//   validation        validationDrop()   runt is the caller's (it has the length)
//   VLAN (ingress)    ingressVid()       br_allowed_ingress, by the port's mode
//   ACL               aclRule(), aclDrops()
//   learning          Fdb.learnHL(), or Fdb.previewLearn() for a trace (one decision, fdb.ts)
//   destination       destination()      group, known or unknown
//   egress            carries(), taggedAs(), egressTag(), mirrorSelects()

import { FLOOD, NO_TAG } from './batch.js';
import { ACL_CACHE_MISS, type AclCache } from './acl-cache.js';
import { A_ACTION, ACL_DROP, ACL_STRIDE, aclFirstMatch } from './acl.js';
import type { Fdb } from './fdb.js';
import { LINK_LOCAL_HI, LINK_LOCAL_LO } from './mac.js';
import { Reason } from './reasons.js';
import { VLAN_BITMAP_BYTES, VlanMode } from './vlan.js';

// As plain constants (keeps the hot paths free of property loads, as forwarder.ts).
const R_LINK_LOCAL = Reason.LINK_LOCAL;
const R_INVALID_SOURCE = Reason.INVALID_SOURCE;
const R_VLAN_TAGGED = Reason.VLAN_TAGGED;
const R_VLAN_NOT_ALLOWED = Reason.VLAN_NOT_ALLOWED;
const M_DEFAULT = VlanMode.DEFAULT;
const M_ACCESS = VlanMode.ACCESS;
const M_TRUNK = VlanMode.TRUNK;

/** batch.vlan's TPID bits for an 802.1Q tag, and its priority + DEI bits. */
export const TAG_8021Q = (0x8100 << 16) | 0;
const TAG_PRI = 0xf000;
/** A stage's "go on": no drop reason. */
export const PASS = -1;

/**
 * Validation (br_handle_frame), on the MACs as hi/lo: the Reason a frame is
 * dropped for — a link-local destination 01:80:C2:00:00:00-0F (STP, pause,
 * LACP, LLDP, 802.1X), or a source that is a group address or zero — or PASS.
 */
export function validationDrop(dhi: number, dlo: number, shi: number, slo: number): number {
  if (dhi === LINK_LOCAL_HI && (dlo & ~0xf) === LINK_LOCAL_LO) return R_LINK_LOCAL;
  if ((shi & 0x0100) !== 0 || (shi | slo) === 0) return R_INVALID_SOURCE;
  return PASS;
}

/** Does `port` carry VLAN `vid`? (its bitmap in `members`, VLAN_BITMAP_BYTES per port) */
export function carries(members: Uint8Array, port: number, vid: number): boolean {
  return (members[port * VLAN_BITMAP_BYTES + (vid >> 3)] & (1 << (vid & 7))) !== 0;
}

/**
 * VLAN classification at ingress (br_allowed_ingress; Open vSwitch's
 * input_vid_to_vlan): the VLAN of a frame that arrived on `port`, of VlanMode
 * `mode` and access/native VLAN `native`, with outer tag `tag` (batch.vlan:
 * NO_TAG or TPID << 16 | TCI). Only an 802.1Q outer tag is a VLAN. Returns the
 * VID (>= 0), or ~Reason of the drop: a tagged frame on an access port
 * (VLAN_TAGGED), a VLAN the port does not carry (VLAN_NOT_ALLOWED). A port
 * with no mode takes every frame: its VID, or 0.
 */
export function ingressVid(mode: number, native: number, members: Uint8Array, port: number, tag: number): number {
  const q = tag !== NO_TAG && (tag & 0xffff0000) === TAG_8021Q;
  let vid = q ? tag & 0xfff : 0;
  if (mode === M_DEFAULT) return vid;
  if (tag !== NO_TAG && !q) return mode === M_ACCESS ? ~R_VLAN_TAGGED : ~R_VLAN_NOT_ALLOWED;
  if (mode === M_ACCESS) {
    if (vid !== 0) return ~R_VLAN_TAGGED;
    vid = native;
  } else if (vid === 0 && mode !== M_TRUNK) {
    vid = native;
  }
  return carries(members, port, vid) ? vid : ~R_VLAN_NOT_ALLOWED;
}

/**
 * The ACL lookup: index of the first rule (of `count` in `rules`, match order)
 * that the frame's fields match, or -1. With a cache (acl-cache.ts) the answer
 * is taken from it or scanned and stored; without one (a trace, which changes
 * nothing) the rules are scanned.
 */
export function aclRule(
  cache: AclCache | null, rules: Int32Array, count: number,
  ingress: number, shi: number, slo: number, dhi: number, dlo: number, type: number, vid: number, untagged: boolean,
): number {
  if (cache === null) return aclFirstMatch(rules, count, ingress, shi, slo, dhi, dlo, type, vid, untagged);
  const k0 = (ingress << 16) | shi;
  const k4 = (type << 13) | (vid << 1) | (untagged ? 1 : 0);
  let k = cache.lookup(k0, slo, dhi, dlo, k4);
  if (k === ACL_CACHE_MISS) {
    k = aclFirstMatch(rules, count, ingress, shi, slo, dhi, dlo, type, vid, untagged);
    cache.store(k0, slo, dhi, dlo, k4, k);
  }
  return k;
}

/** Does rule k (from aclRule; -1: none matched, allowed) drop the frame? */
export function aclDrops(rules: Int32Array, k: number): boolean {
  return k >= 0 && rules[k * ACL_STRIDE + A_ACTION] === ACL_DROP;
}

/** The FDB key's hi for a MAC's first two octets in VLAN vid: the VID above them (fdb.ts). */
export function fdbHi(hi: number, vid: number): number {
  return hi | (vid << 16);
}

/**
 * The destination (br_handle_frame_finish): FLOOD for a group address or a
 * (VLAN, MAC) the FDB does not know (or knows no longer), else its port. The
 * caller drops a frame whose port is its ingress port (SAME_PORT).
 */
export function destination(fdb: Fdb, dhi: number, dlo: number, vid: number, now: number): number {
  if ((dhi & 0x0100) !== 0) return FLOOD;
  const p = fdb.lookupHL(fdbHi(dhi, vid), dlo, now);
  return p < 0 ? FLOOD : p;
}

/**
 * The tag a frame of VLAN vid, that arrived with outer tag `tag`, leaves a
 * tagged port with (br_handle_vlan; Open vSwitch's output_normal): VLAN 0
 * leaves as it came; any other an 802.1Q tag of vid that keeps the priority
 * and DEI bits of the 802.1Q tag it came with. Worked out once per frame.
 */
export function taggedAs(tag: number, vid: number): number {
  if (vid === 0) return tag;
  return TAG_8021Q | vid | (tag !== NO_TAG && (tag & 0xffff0000) === TAG_8021Q ? tag & TAG_PRI : 0);
}

/**
 * The tag (batch.vlan's form, NO_TAG: none) a frame of VLAN vid leaves `port`
 * with, `tagged` being taggedAs() of it: untagged where vid is the port's
 * untagged VLAN (`untagged`: per port, -1 for none), else `tagged`.
 */
export function egressTag(untagged: Int32Array, port: number, vid: number, tagged: number): number {
  return vid !== 0 && untagged[port] === vid ? NO_TAG : tagged;
}

/** Does mirror k select VLAN vid? (`vlanBits`: VLAN_BITMAP_BYTES per mirror, mirror.ts) */
export function mirrorSelects(vlanBits: Uint8Array, k: number, vid: number): boolean {
  return (vlanBits[k * VLAN_BITMAP_BYTES + (vid >> 3)] & (1 << (vid & 7))) !== 0;
}
