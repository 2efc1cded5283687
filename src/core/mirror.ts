// Port mirrors (issue 9), with Open vSwitch's semantics (vswitch.xml, Mirror
// table): a frame is copied to a mirror's output port when it enters through
// one of the mirror's select-ingress ports or leaves through one of its
// select-egress ports, and is in one of its select-vlan VLANs (every VLAN when
// none is given). A mirror with neither select list selects every frame (OVS's
// select_all). Each mirror copies a frame once, however many of its ports the
// frame touches. The output port belongs to the mirror: it gets only copies,
// it is never learned on or flooded to, and what arrives on it is dropped
// (MIRROR_OUTPUT).
//
// Which frames: those the switch forwards, i.e. that pass validation, their
// ingress VLAN and the ACL and are not addressed back to their ingress port. A
// select-ingress mirror copies such a frame even when no egress port takes it
// (the port is down, the flood finds nobody); a select-egress mirror copies it
// when one of its ports passed should_deliver for it.
//
// A copy leaves the output port tagged with the frame's VLAN unless that is
// the output port's untagged VLAN (access, native-untagged), as any egress; a
// frame of VLAN 0 leaves as it came.
//
// The control plane validates the mirrors and hands each datapath a
// MirrorTable: bit k of a port's masks is the k-th mirror; up to MIRROR_MAX.

import { VLAN_BITMAP_BYTES } from './vlan.js';

/** Mirrors a switch holds (one bit each in a 32-bit mask, as OVS's MAX_MIRRORS). */
export const MIRROR_MAX = 32;

/** A mirror as the datapaths take it: ports as slots. */
export interface MirrorSpec {
  name: string;
  output: number;
  selectIngress: number[];
  selectEgress: number[];
  /**
   * Every frame (OVS's select_all): a mirror added with no select list. Only
   * this says "every frame": a mirror whose select lists emptied (their ports
   * left the switch) selects nothing, never everything.
   */
  selectAll: boolean;
  /** VLAN ranges, or null: every VLAN (0 included). */
  selectVlans: Array<[number, number]> | null;
}

/** What the datapaths match on: per port the masks of mirrors selecting it, per mirror its output and VLANs. */
export interface MirrorTable {
  names: string[];
  /** Per mirror: the output port slot. */
  outputs: Int32Array;
  /** Per port: bit k set when mirror k selects frames entering through it. */
  ingressMask: Int32Array;
  /** Per port: bit k set when mirror k selects frames leaving through it. */
  egressMask: Int32Array;
  /** Per mirror, VLAN_BITMAP_BYTES: bit v set when VLAN v is selected. */
  vlanBits: Uint8Array;
}

/** The table of `mirrors` for a switch of `maxPorts` slots (the specs must be valid). */
export function mirrorTable(mirrors: readonly MirrorSpec[], maxPorts: number): MirrorTable {
  const n = mirrors.length;
  if (n > MIRROR_MAX) throw new RangeError(`at most ${MIRROR_MAX} mirrors`);
  const t: MirrorTable = {
    names: mirrors.map((m) => m.name),
    outputs: new Int32Array(n),
    ingressMask: new Int32Array(maxPorts),
    egressMask: new Int32Array(maxPorts),
    vlanBits: new Uint8Array(n * VLAN_BITMAP_BYTES),
  };
  const outputs = new Set(mirrors.map((m) => m.output));
  mirrors.forEach((m, k) => {
    const bit = 1 << k;
    t.outputs[k] = m.output;
    if (m.selectAll) {
      // Every frame entering through a port that is no mirror's output.
      for (let p = 0; p < maxPorts; p++) if (!outputs.has(p)) t.ingressMask[p] |= bit;
    }
    for (const p of m.selectIngress) t.ingressMask[p] |= bit;
    for (const p of m.selectEgress) t.egressMask[p] |= bit;
    const at = k * VLAN_BITMAP_BYTES;
    if (m.selectVlans === null) t.vlanBits.fill(0xff, at, at + VLAN_BITMAP_BYTES);
    else for (const [lo, hi] of m.selectVlans) for (let v = lo; v <= hi; v++) t.vlanBits[at + (v >> 3)] |= 1 << (v & 7);
  });
  return t;
}

/** The empty table. */
export function noMirrors(maxPorts: number): MirrorTable {
  return mirrorTable([], maxPorts);
}

/** Mirror names: what `ip link` accepts for an interface name, which users already know. */
export function mirrorNameProblem(name: string): string | null {
  return /^[A-Za-z0-9_.-]{1,32}$/.test(name) ? null : `bad mirror name '${name}' (1-32 of A-Z a-z 0-9 _ . -)`;
}
