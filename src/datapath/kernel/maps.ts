// The kernel datapath's maps as vswitchd writes and reads them: byte layouts
// of bpf/datapath.h (which must change with this file), each map behind one
// small method. Control path only: nothing here runs per frame.

import { A_ACTION, A_DST_HI, A_DST_HI_MASK, A_DST_LO, A_DST_LO_MASK, A_PORT, A_SRC_HI, A_SRC_HI_MASK, A_SRC_LO, A_SRC_LO_MASK, A_TYPE, A_VLAN, ACL_MAX_RULES, ACL_STRIDE } from '../../core/acl.js';
import { REASON_COUNT } from '../../core/reasons.js';
import { VLAN_BITMAP_BYTES } from '../../core/vlan.js';
import { BPF_ANY, type BpfObject, mapDelete, mapLookup, mapNextKey, mapUpdate, possibleCpus } from '../../native/libbpf.js';

/** Port slots the program knows (VSW_MAX_PORTS). */
export const KERNEL_MAX_PORTS = 1024;
export const PORT_ATTACHED = 1;
export const PORT_UP = 2;
export const PORT_LIMITED = 4;
/** A veth whose peer is in another netns: known unicast for the peer's MAC enters it directly (bpf_redirect_peer). */
export const PORT_PEER = 8;
/** A mirror's output port: gets copies only; what arrives on it is dropped. */
export const PORT_MIRROR_OUT = 16;
/** Mirrors the program holds (VSW_MIRROR_MAX). */
export const KERNEL_MAX_MIRRORS = 32;
const DROP_SLOTS = 16;
/** drops[15]: learn events lost for want of room on the ring (not a frame drop). */
export const EVENTS_LOST_SLOT = 15;
const RING_BYTES = 1 << 20;

/** Entries the kernel's FDB map holds beyond --fdb-size (see DatapathMaps.size). */
export function fdbHeadroom(fdbSize: number): number {
  return Math.max(256, Math.ceil(fdbSize / 4));
}

export interface PortCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
}

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
}

export const NO_PORT: Readonly<PortEntry> = Object.freeze({ ifindex: 0, flags: 0, mtu: 0, vlanMode: 0, vlanTag: 0, peer: null, mirrorIn: 0, mirrorOut: 0 });

export class DatapathMaps {
  readonly ports: number;
  readonly portOf: number;
  readonly config: number;
  readonly fdb: number;
  readonly events: number;
  readonly vlans: number;
  readonly acl: number;
  private readonly aclHitsFd: number;
  private readonly mirrors: number;
  private readonly mirrorCopiesFd: number;
  private readonly mirrorVal = new Uint8Array(8 + VLAN_BITMAP_BYTES);
  private readonly ruleVal = new Uint8Array(48);
  private readonly ruleView = new DataView(this.ruleVal.buffer);
  readonly ringBytes = RING_BYTES;
  private readonly portCounters: number;
  private readonly drops: number;
  private readonly cpus = possibleCpus();
  private readonly key4 = new Uint8Array(4);
  private readonly key8 = new Uint8Array(8);
  private readonly k4 = new DataView(this.key4.buffer);
  private readonly k8 = new DataView(this.key8.buffer);
  private readonly val16 = new Uint8Array(16);
  private readonly v16 = new DataView(this.val16.buffer);
  private readonly portVal = new Uint8Array(40);
  private readonly portView = new DataView(this.portVal.buffer);
  private readonly cfg = new Uint8Array(48);
  private readonly cfgView = new DataView(this.cfg.buffer);
  private readonly perCpuPort: Uint8Array;
  private readonly perCpuDrop: Uint8Array;

  constructor(obj: BpfObject) {
    this.ports = obj.mapFd('ports');
    this.portOf = obj.mapFd('port_of');
    this.config = obj.mapFd('config');
    this.fdb = obj.mapFd('fdb');
    this.events = obj.mapFd('events');
    this.vlans = obj.mapFd('vlans');
    this.acl = obj.mapFd('acl');
    this.aclHitsFd = obj.mapFd('acl_hits');
    this.mirrors = obj.mapFd('mirrors');
    this.mirrorCopiesFd = obj.mapFd('mirror_copies');
    this.portCounters = obj.mapFd('port_counters');
    this.drops = obj.mapFd('drops');
    this.perCpuPort = new Uint8Array(32 * this.cpus);
    this.perCpuDrop = new Uint8Array(8 * this.cpus);
  }

  /**
   * Before load: sizes that come from vswitchd's options. The kernel's FDB map
   * has room beyond --fdb-size, so that the program always learns a new
   * station at once, as the core does, even while the table of record is full:
   * vswitchd then evicts by the core's rule (its own Fdb) and deletes the
   * evicted entry, microseconds later.
   */
  static size(obj: BpfObject, fdbSize: number): void {
    obj.setMaxEntries('fdb', fdbSize + fdbHeadroom(fdbSize));
    obj.setMaxEntries('events', RING_BYTES);
  }

  private portKey(port: number): Uint8Array {
    this.k4.setUint32(0, port, true);
    return this.key4;
  }

  /** ports[port] = { ifindex, flags, mtu, vlan_mode, vlan_tag, peer_mtu, mirror_in, peer_mac, mirror_out }. */
  setPort(port: number, e: Readonly<PortEntry>): void {
    const v = this.portView;
    v.setUint32(0, e.ifindex, true);
    v.setUint32(4, e.flags, true);
    v.setUint32(8, e.mtu, true);
    v.setUint16(12, e.vlanMode, true);
    v.setUint16(14, e.vlanTag, true);
    v.setUint32(16, e.peer?.mtu ?? 0, true);
    v.setUint32(20, e.mirrorIn >>> 0, true);
    v.setBigUint64(24, BigInt(e.peer?.mac ?? 0), true);
    v.setUint32(32, e.mirrorOut >>> 0, true);
    v.setUint32(36, 0, true);
    mapUpdate(this.ports, this.portKey(port), this.portVal, BPF_ANY, 'ports');
  }

  /** mirrors[k] = { out_port, vlans }: the output's slot and the selected VLANs (VLAN_BITMAP_BYTES). */
  setMirror(k: number, outPort: number, vlanBits: Uint8Array): void {
    if (k >= KERNEL_MAX_MIRRORS) throw new RangeError(`the kernel holds at most ${KERNEL_MAX_MIRRORS} mirrors`);
    new DataView(this.mirrorVal.buffer).setUint32(0, outPort, true);
    this.mirrorVal.set(vlanBits, 8);
    mapUpdate(this.mirrors, this.portKey(k), this.mirrorVal, BPF_ANY, 'mirrors');
  }

  /** mirror_copies[k], summed over CPUs. */
  mirrorCopies(k: number): number {
    return this.perCpuSum(this.mirrorCopiesFd, k, 'mirror_copies');
  }

  resetMirrorCopies(k: number): void {
    this.resetPerCpu(this.mirrorCopiesFd, k, 'mirror_copies');
  }

  /** Zeroes a per-CPU u64 slot on every CPU. */
  private resetPerCpu(fd: number, k: number, name: string): void {
    this.perCpuDrop.fill(0);
    mapUpdate(fd, this.portKey(k), this.perCpuDrop, BPF_ANY, name);
  }

  /** A per-CPU u64 slot, summed. */
  private perCpuSum(fd: number, k: number, name: string): number {
    if (!mapLookup(fd, this.portKey(k), this.perCpuDrop, name)) return 0;
    const v = new DataView(this.perCpuDrop.buffer);
    let sum = 0;
    for (let c = 0; c < this.cpus; c++) sum += Number(v.getBigUint64(c * 8, true));
    return sum;
  }

  /** vlans[port] = the port's membership bitmap (VLAN_BITMAP_BYTES, bit v of byte v >> 3). */
  setVlans(port: number, bitmap: Uint8Array): void {
    if (bitmap.length !== VLAN_BITMAP_BYTES) throw new RangeError('a VLAN bitmap is 512 bytes');
    mapUpdate(this.vlans, this.portKey(port), bitmap, BPF_ANY, 'vlans');
  }

  setPortOf(ifindex: number, port: number): void {
    this.k4.setUint32(0, ifindex, true);
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, port, true);
    mapUpdate(this.portOf, this.key4, v, BPF_ANY, 'port_of');
  }

  deletePortOf(ifindex: number): void {
    this.k4.setUint32(0, ifindex, true);
    mapDelete(this.portOf, this.key4, 'port_of');
  }

  /**
   * config[0]: aging and refresh in ms, the slot above the highest attached
   * port, their smallest MTU, and the FDB key (VID << 48 | MAC) a new station
   * costs while the table is full (0: none), and how many ports have a VLAN mode.
   */
  setConfig(c: { agingMs: number; refreshMs: number; portHi: number; victim: bigint; vlanPorts: number; aclRules: number; mirrors: number; aclGen: number }): void {
    const v = this.cfgView;
    v.setBigUint64(0, BigInt(c.agingMs) * 1_000_000n, true);
    v.setBigUint64(8, BigInt(c.refreshMs) * 1_000_000n, true);
    v.setUint32(16, c.portHi, true);
    v.setUint32(20, 0, true);
    v.setBigUint64(24, BigInt.asUintN(64, c.victim), true);
    v.setUint32(32, c.vlanPorts, true);
    v.setUint32(36, c.aclRules, true);
    v.setUint32(40, c.mirrors, true);
    v.setUint32(44, c.aclGen >>> 0, true);
    this.k4.setUint32(0, 0, true);
    mapUpdate(this.config, this.key4, this.cfg, BPF_ANY, 'config');
  }

  /** acl[k] = rule k of `rules` (ACL_STRIDE int32s per rule, core/acl.ts), as struct vsw_acl_rule. */
  setAclRule(k: number, rules: Int32Array): void {
    if (k >= ACL_MAX_RULES) throw new RangeError(`the kernel holds at most ${ACL_MAX_RULES} ACL rules`);
    const at = k * ACL_STRIDE;
    const v = this.ruleView;
    const mac = (off: number, hi: number, lo: number): void => {
      v.setUint32(off, rules[at + lo] >>> 0, true);
      v.setUint32(off + 4, rules[at + hi] >>> 0, true);
    };
    mac(0, A_SRC_HI, A_SRC_LO);
    mac(8, A_SRC_HI_MASK, A_SRC_LO_MASK);
    mac(16, A_DST_HI, A_DST_LO);
    mac(24, A_DST_HI_MASK, A_DST_LO_MASK);
    v.setInt32(32, rules[at + A_PORT], true);
    v.setInt32(36, rules[at + A_TYPE], true);
    v.setInt32(40, rules[at + A_VLAN], true);
    v.setUint32(44, rules[at + A_ACTION], true);
    mapUpdate(this.acl, this.portKey(k), this.ruleVal, BPF_ANY, 'acl');
  }

  /** acl_hits[k], summed over CPUs. */
  aclHits(k: number): number {
    return this.perCpuSum(this.aclHitsFd, k, 'acl_hits');
  }

  resetAclHits(k: number): void {
    this.resetPerCpu(this.aclHitsFd, k, 'acl_hits');
  }

  private macKey(hi: number, lo: number): Uint8Array {
    this.k8.setInt32(0, lo, true);
    this.k8.setUint32(4, hi, true);
    return this.key8;
  }

  /** fdb[key] = { port, seen }; false if the map is full. The key is (hi, lo) as Fdb.learnHL's. */
  setFdb(hi: number, lo: number, port: number, seenMs: number): boolean {
    this.v16.setUint32(0, port, true);
    this.v16.setUint32(4, 0, true);
    this.v16.setBigUint64(8, BigInt(Math.round(seenMs * 1e6)), true);
    try {
      mapUpdate(this.fdb, this.macKey(hi, lo), this.val16, BPF_ANY, 'fdb');
      return true;
    } catch {
      return false;
    }
  }

  deleteFdb(hi: number, lo: number): void {
    mapDelete(this.fdb, this.macKey(hi, lo), 'fdb');
  }

  /** Every key in the kernel's fdb map, as [hi, lo] pairs (a resync walks it). */
  fdbKeys(): Array<[number, number]> {
    const keys: Array<[number, number]> = [];
    const next = new Uint8Array(8);
    const nv = new DataView(next.buffer);
    let prev: Uint8Array | null = null;
    while (mapNextKey(this.fdb, prev, next, 'fdb')) {
      keys.push([nv.getUint32(4, true) & 0x0fffffff, nv.getInt32(0, true)]);
      prev = next.slice();
    }
    return keys;
  }

  /** A port's counters, summed over CPUs. */
  portCountersOf(port: number): PortCounters {
    const out = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 };
    if (!mapLookup(this.portCounters, this.portKey(port), this.perCpuPort, 'port_counters')) return out;
    const v = new DataView(this.perCpuPort.buffer);
    for (let c = 0; c < this.cpus; c++) {
      out.rxFrames += Number(v.getBigUint64(c * 32, true));
      out.rxBytes += Number(v.getBigUint64(c * 32 + 8, true));
      out.txFrames += Number(v.getBigUint64(c * 32 + 16, true));
      out.txBytes += Number(v.getBigUint64(c * 32 + 24, true));
    }
    return out;
  }

  /** Zeroes a port's counters (a new port starts from nothing). */
  resetPortCounters(port: number): void {
    this.perCpuPort.fill(0);
    mapUpdate(this.portCounters, this.portKey(port), this.perCpuPort, BPF_ANY, 'port_counters');
  }

  /** Drops by reason (REASON_COUNT long), summed over CPUs; and the learn events lost. */
  dropCounts(): { drops: Float64Array; eventsLost: number } {
    const drops = new Float64Array(REASON_COUNT);
    let eventsLost = 0;
    const v = new DataView(this.perCpuDrop.buffer);
    for (let r = 0; r < DROP_SLOTS; r++) {
      if (r >= REASON_COUNT && r !== EVENTS_LOST_SLOT) continue;
      if (!mapLookup(this.drops, this.portKey(r), this.perCpuDrop, 'drops')) continue;
      let sum = 0;
      for (let c = 0; c < this.cpus; c++) sum += Number(v.getBigUint64(c * 8, true));
      if (r === EVENTS_LOST_SLOT) eventsLost = sum;
      else drops[r] = sum;
    }
    return { drops, eventsLost };
  }
}
