// The byte layouts of the structs vswitchd and vsw_forward share through the
// maps (bpf/datapath.h), and the functions that write and read them. LAYOUT is
// the one table of sizes and field offsets on this side: bpf/datapath.h
// asserts the same numbers at compile time (_Static_assert, offsetof), and
// test/unit/kernel-maps.test.ts checks that LAYOUT, the header's asserts and
// the header's struct fields name the same things, and that each encoder
// writes each field where LAYOUT says. Little-endian, as the header.
// Pure: no map, no FFI (maps.ts does the system calls).

import { A_ACTION, A_DST_HI, A_DST_HI_MASK, A_DST_LO, A_DST_LO_MASK, A_PORT, A_SRC_HI, A_SRC_HI_MASK, A_SRC_LO, A_SRC_LO_MASK, A_TYPE, A_VLAN, ACL_STRIDE } from '../../core/acl.js';
import { VLAN_BITMAP_BYTES } from '../../core/vlan.js';

/** struct name → its size and each field's offset (pads included), as bpf/datapath.h asserts them. */
export const LAYOUT = {
  vsw_port: {
    size: 40,
    fields: { ifindex: 0, flags: 4, mtu: 8, vlan_mode: 12, vlan_tag: 14, peer_mtu: 16, mirror_in: 20, peer_mac: 24, mirror_out: 32, capture: 36 },
  },
  vsw_vlans: { size: 512, fields: { bits: 0 } },
  vsw_config: {
    size: 48,
    fields: { aging_ns: 0, refresh_ns: 8, port_hi: 16, bank: 20, victim: 24, vlan_ports: 32, acl_rules: 36, mirrors: 40, acl_gen: 44 },
  },
  vsw_mirror: { size: 520, fields: { out_port: 0, pad: 4, vlans: 8 } },
  vsw_acl_rule: {
    size: 48,
    fields: { src: 0, src_mask: 8, dst: 16, dst_mask: 24, port: 32, type: 36, vlan: 40, action: 44 },
  },
  vsw_fdb_entry: { size: 16, fields: { port: 0, bulk: 4, seen_ns: 8 } },
  vsw_learn_event: { size: 32, fields: { mac: 0, port: 8, kind: 12, seen_ns: 16, evicted: 24 } },
  vsw_capture: {
    size: 1640,
    fields: { time_ns: 0, port: 8, len: 12, kind: 16, reason: 18, rule: 20, vlan_proto: 24, vlan_tci: 26, vlan_present: 28, stored: 32, pad: 36, data: 40 },
  },
  vsw_port_counters: { size: 32, fields: { rx_frames: 0, rx_bytes: 8, tx_frames: 16, tx_bytes: 24 } },
} as const;

export type StructName = keyof typeof LAYOUT;

/**
 * An FDB key is a u64: the MAC in the low 48 bits (octet 0 the most
 * significant), the VID in bits 48-59. Little-endian, its low word is the
 * MAC's last four octets (Fdb.learnHL's lo) and its high word, masked with
 * this, VID << 16 | the first two octets (hi).
 */
export const FDB_KEY_HI_MASK = 0x0fffffff;

const PORT = LAYOUT.vsw_port.fields;
const CONFIG = LAYOUT.vsw_config.fields;
const MIRROR = LAYOUT.vsw_mirror.fields;
const RULE = LAYOUT.vsw_acl_rule.fields;
const FDB_ENTRY = LAYOUT.vsw_fdb_entry.fields;
const COUNTERS = LAYOUT.vsw_port_counters.fields;

/** ports[port] as struct vsw_port. */
export interface PortEntry {
  ifindex: number;
  flags: number;
  mtu: number;
  vlanMode: number;
  vlanTag: number;
  /** PORT_PEER: the veth peer's MAC and MTU. */
  peer: { mac: number; mtu: number } | null;
  mirrorIn: number;
  mirrorOut: number;
  /** What `vswconfig capture` takes from the port (CAPTURE_*, src/datapath/capture-ring.ts). */
  capture: number;
}

export const NO_PORT: Readonly<PortEntry> = Object.freeze({ ifindex: 0, flags: 0, mtu: 0, vlanMode: 0, vlanTag: 0, peer: null, mirrorIn: 0, mirrorOut: 0, capture: 0 });

/**
 * config[] as vswitchd keeps it: times in ms, the victim as the FDB key (VID << 48 | MAC), 0 for
 * none, and the bank frames read (config[0]); portHi, vlanPorts, aclRules, mirrors and aclGen
 * are the words of a bank (config[1 + bank], written by banks.ts).
 */
export interface ConfigWords {
  agingMs: number;
  refreshMs: number;
  portHi: number;
  bank: number;
  victim: bigint;
  vlanPorts: number;
  aclRules: number;
  mirrors: number;
  aclGen: number;
}

export function encodePort(v: DataView, e: Readonly<PortEntry>): void {
  v.setUint32(PORT.ifindex, e.ifindex, true);
  v.setUint32(PORT.flags, e.flags, true);
  v.setUint32(PORT.mtu, e.mtu, true);
  v.setUint16(PORT.vlan_mode, e.vlanMode, true);
  v.setUint16(PORT.vlan_tag, e.vlanTag, true);
  v.setUint32(PORT.peer_mtu, e.peer?.mtu ?? 0, true);
  v.setUint32(PORT.mirror_in, e.mirrorIn >>> 0, true);
  v.setBigUint64(PORT.peer_mac, BigInt(e.peer?.mac ?? 0), true);
  v.setUint32(PORT.mirror_out, e.mirrorOut >>> 0, true);
  v.setUint32(PORT.capture, e.capture, true);
}

export function encodeConfig(v: DataView, c: Readonly<ConfigWords>): void {
  v.setBigUint64(CONFIG.aging_ns, BigInt(c.agingMs) * 1_000_000n, true);
  v.setBigUint64(CONFIG.refresh_ns, BigInt(c.refreshMs) * 1_000_000n, true);
  v.setUint32(CONFIG.port_hi, c.portHi, true);
  v.setUint32(CONFIG.bank, c.bank, true);
  v.setBigUint64(CONFIG.victim, BigInt.asUintN(64, c.victim), true);
  v.setUint32(CONFIG.vlan_ports, c.vlanPorts, true);
  v.setUint32(CONFIG.acl_rules, c.aclRules, true);
  v.setUint32(CONFIG.mirrors, c.mirrors, true);
  v.setUint32(CONFIG.acl_gen, c.aclGen >>> 0, true);
}

/** What a new vswitchd adopting the maps reads of config (restart): the bank frames read (config[0]) and a bank's ACL generation. */
export function decodeConfigWords(v: DataView): { bank: number; aclGen: number } {
  return { bank: v.getUint32(CONFIG.bank, true), aclGen: v.getUint32(CONFIG.acl_gen, true) };
}

/** A mirror's output slot and the VLANs it selects (VLAN_BITMAP_BYTES: bit v of byte v >> 3 is bit v of the u64 words). */
export function encodeMirror(v: DataView, outPort: number, vlanBits: Uint8Array): void {
  if (vlanBits.length !== VLAN_BITMAP_BYTES) throw new RangeError(`a VLAN bitmap is ${VLAN_BITMAP_BYTES} bytes`);
  v.setUint32(MIRROR.out_port, outPort, true);
  v.setUint32(MIRROR.pad, 0, true);
  new Uint8Array(v.buffer, v.byteOffset + MIRROR.vlans, VLAN_BITMAP_BYTES).set(vlanBits);
}

/** Rule k of `rules` (ACL_STRIDE int32s per rule, core/acl.ts); a MAC is the u64 hi << 32 | lo. */
export function encodeAclRule(v: DataView, rules: Int32Array, k: number): void {
  const at = k * ACL_STRIDE;
  const mac = (off: number, hi: number, lo: number): void => {
    v.setUint32(off, rules[at + lo] >>> 0, true);
    v.setUint32(off + 4, rules[at + hi] >>> 0, true);
  };
  mac(RULE.src, A_SRC_HI, A_SRC_LO);
  mac(RULE.src_mask, A_SRC_HI_MASK, A_SRC_LO_MASK);
  mac(RULE.dst, A_DST_HI, A_DST_LO);
  mac(RULE.dst_mask, A_DST_HI_MASK, A_DST_LO_MASK);
  v.setInt32(RULE.port, rules[at + A_PORT], true);
  v.setInt32(RULE.type, rules[at + A_TYPE], true);
  v.setInt32(RULE.vlan, rules[at + A_VLAN], true);
  v.setUint32(RULE.action, rules[at + A_ACTION], true);
}

/** An FDB entry: the port and when it was last seen (ms on CLOCK_MONOTONIC, stored as ns). */
export function encodeFdbEntry(v: DataView, port: number, seenMs: number): void {
  v.setUint32(FDB_ENTRY.port, port, true);
  v.setUint32(FDB_ENTRY.bulk, 0, true); // not bulk: the program marks it again at the next GSO frame
  v.setBigUint64(FDB_ENTRY.seen_ns, BigInt(Math.round(seenMs * 1e6)), true);
}

export interface PortCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
}

/** Adds the struct vsw_port_counters at byte `at` of `v` (one CPU's) to `out`. */
export function addPortCounters(out: PortCounters, v: DataView, at: number): void {
  out.rxFrames += Number(v.getBigUint64(at + COUNTERS.rx_frames, true));
  out.rxBytes += Number(v.getBigUint64(at + COUNTERS.rx_bytes, true));
  out.txFrames += Number(v.getBigUint64(at + COUNTERS.tx_frames, true));
  out.txBytes += Number(v.getBigUint64(at + COUNTERS.tx_bytes, true));
}
