// The kernel datapath's maps as vswitchd writes and reads them, each map
// behind one small method; the bytes of each value are layout.ts's (the
// structs of bpf/datapath.h). Control path only: nothing here runs per frame.

import { ACL_MAX_RULES } from '../../core/acl.js';
import { REASON_COUNT } from '../../core/reasons.js';
import { BPF_ANY, type BpfObject, mapDelete, mapLookup, mapLookupBatch, mapUpdate, possibleCpus } from '../../native/libbpf.js';
import type { SuppressedEvents } from '../thread.js';
import { addPortCounters, type ConfigWords, decodeConfigWords, encodeAclRule, encodeConfig, encodeFdbEntry, encodeMirror, encodePort, FDB_KEY_HI_MASK, LAYOUT, type PortCounters, type PortEntry } from './layout.js';

/** Port slots the program knows (VSW_MAX_PORTS). */
export const KERNEL_MAX_PORTS = 1024;
export const PORT_ATTACHED = 1;
export const PORT_UP = 2;
export const PORT_LIMITED = 4;
/** A veth whose peer is in another netns: known unicast for the peer's MAC enters it directly (bpf_redirect_peer). */
export const PORT_PEER = 8;
/** A mirror's output port: gets copies only; what arrives on it is dropped. */
export const PORT_MIRROR_OUT = 16;
/** With PORT_PEER: GSO frames take the peer redirect too (vswitchd --redirect-peer all). */
export const PORT_PEER_GSO = 32;
/** With PORT_PEER: not for a station that took a GSO frame in the last ~1 s (vswitchd --redirect-peer auto). */
export const PORT_PEER_AUTO = 64;
/** Mirrors the program holds (VSW_MIRROR_MAX). */
export const KERNEL_MAX_MIRRORS = 32;
/** Copies of each configuration table (VSW_BANKS): bank b's slot k is b * size + k. */
export const KERNEL_BANKS = 2;
const DROP_SLOTS = 17;
/** drops[13], drops[14]: events of stations not learned (limit, full map) the program suppressed (not frame drops). */
export const SUPPRESSED_LIMITED_SLOT = 13;
export const SUPPRESSED_FULL_SLOT = 14;
/** drops[15]: learn events lost for want of room on the ring (not a frame drop). */
export const EVENTS_LOST_SLOT = 15;
/** drops[16]: captured frames lost for want of room on the `captured` ring (not a frame drop). */
const CAPTURE_LOST_SLOT = 16;
const RING_BYTES = 1 << 20;
/** Keys a resync reads per system call (BPF_MAP_LOOKUP_BATCH); far more than a hash bucket holds. */
const FDB_BATCH = 4096;

/** Entries the kernel's FDB map holds beyond --fdb-size (see DatapathMaps.size). */
export function fdbHeadroom(fdbSize: number): number {
  return Math.max(256, Math.ceil(fdbSize / 4));
}

export class DatapathMaps {
  readonly ports: number;
  readonly portOf: number;
  readonly config: number;
  readonly fdb: number;
  readonly events: number;
  /** The ring of captured frames (`vswconfig capture`). */
  readonly captured: number;
  readonly vlans: number;
  readonly acl: number;
  private readonly aclHitsFd: number;
  private readonly mirrors: number;
  private readonly mirrorCopiesFd: number;
  private readonly barrier: number;
  private readonly barrierInner: Uint8Array;
  private readonly mirrorVal = new Uint8Array(LAYOUT.vsw_mirror.size);
  private readonly mirrorView = new DataView(this.mirrorVal.buffer);
  private readonly ruleVal = new Uint8Array(LAYOUT.vsw_acl_rule.size);
  private readonly ruleView = new DataView(this.ruleVal.buffer);
  readonly ringBytes = RING_BYTES;
  private readonly portCounters: number;
  private readonly drops: number;
  private readonly cpus = possibleCpus();
  private readonly key4 = new Uint8Array(4);
  private readonly key8 = new Uint8Array(8);
  private readonly k4 = new DataView(this.key4.buffer);
  private readonly k8 = new DataView(this.key8.buffer);
  private readonly fdbVal = new Uint8Array(LAYOUT.vsw_fdb_entry.size);
  private readonly fdbView = new DataView(this.fdbVal.buffer);
  private readonly portVal = new Uint8Array(LAYOUT.vsw_port.size);
  private readonly portView = new DataView(this.portVal.buffer);
  private readonly cfg = new Uint8Array(LAYOUT.vsw_config.size);
  private readonly cfgView = new DataView(this.cfg.buffer);
  private readonly perCpuPort: Uint8Array;
  private readonly batchKeys = new Uint8Array(8 * FDB_BATCH);
  private readonly batchValues = new Uint8Array(LAYOUT.vsw_fdb_entry.size * FDB_BATCH);
  private readonly perCpuDrop: Uint8Array;

  constructor(obj: BpfObject) {
    this.ports = obj.mapFd('ports');
    this.portOf = obj.mapFd('port_of');
    this.config = obj.mapFd('config');
    this.fdb = obj.mapFd('fdb');
    this.events = obj.mapFd('events');
    this.captured = obj.mapFd('captured');
    this.vlans = obj.mapFd('vlans');
    this.acl = obj.mapFd('acl');
    this.aclHitsFd = obj.mapFd('acl_hits');
    this.mirrors = obj.mapFd('mirrors');
    this.mirrorCopiesFd = obj.mapFd('mirror_copies');
    this.barrier = obj.mapFd('barrier');
    this.barrierInner = new Uint8Array(4);
    new DataView(this.barrierInner.buffer).setUint32(0, obj.mapFd('barrier_inner'), true);
    this.portCounters = obj.mapFd('port_counters');
    this.drops = obj.mapFd('drops');
    this.perCpuPort = new Uint8Array(LAYOUT.vsw_port_counters.size * this.cpus);
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

  /** ports[bank's port] = struct vsw_port. */
  setPort(bank: number, port: number, e: Readonly<PortEntry>): void {
    encodePort(this.portView, e);
    mapUpdate(this.ports, this.portKey(bank * KERNEL_MAX_PORTS + port), this.portVal, BPF_ANY, 'ports');
  }

  /** ports[bank's port].capture, as the program reads it (0: no capture takes anything from the port). */
  portCapture(bank: number, port: number): number {
    if (!mapLookup(this.ports, this.portKey(bank * KERNEL_MAX_PORTS + port), this.portVal, 'ports')) return 0;
    return this.portView.getUint32(LAYOUT.vsw_port.fields.capture, true);
  }

  /** mirrors[bank's k] = { out_port, vlans }: the output's slot and the selected VLANs (a VLAN bitmap, as vlans[]). */
  setMirror(bank: number, k: number, outPort: number, vlanBits: Uint8Array): void {
    if (k >= KERNEL_MAX_MIRRORS) throw new RangeError(`the kernel holds at most ${KERNEL_MAX_MIRRORS} mirrors`);
    encodeMirror(this.mirrorView, outPort, vlanBits);
    mapUpdate(this.mirrors, this.portKey(bank * KERNEL_MAX_MIRRORS + k), this.mirrorVal, BPF_ANY, 'mirrors');
  }

  /** mirror_copies[bank's k], summed over CPUs. */
  mirrorCopies(bank: number, k: number): number {
    return this.perCpuSum(this.mirrorCopiesFd, bank * KERNEL_MAX_MIRRORS + k, 'mirror_copies');
  }

  resetMirrorCopies(bank: number, k: number): void {
    this.resetPerCpu(this.mirrorCopiesFd, bank * KERNEL_MAX_MIRRORS + k, 'mirror_copies');
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

  /** vlans[bank's port] = the port's membership bitmap (struct vsw_vlans: bit v of byte v >> 3, core/vlan.ts). */
  setVlans(bank: number, port: number, bitmap: Uint8Array): void {
    if (bitmap.length !== LAYOUT.vsw_vlans.size) throw new RangeError(`a VLAN bitmap is ${LAYOUT.vsw_vlans.size} bytes`);
    mapUpdate(this.vlans, this.portKey(bank * KERNEL_MAX_PORTS + port), bitmap, BPF_ANY, 'vlans');
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
   * config[0]: aging and refresh time, the FDB key (VID << 48 | MAC) a new
   * station costs while the table is full (0: none), and the bank frames read:
   * writing a new bank here is the one write that publishes a configuration.
   */
  setConfig(c: Readonly<ConfigWords>): void {
    this.writeConfig(0, c);
  }

  /**
   * config[1 + bank]: the bank's words: the slot above the highest attached
   * port (the flood's bound), how many ports have a VLAN mode, how many ACL
   * rules and mirrors are in force, and the ACL's generation.
   */
  setBankConfig(bank: number, c: Readonly<ConfigWords>): void {
    this.writeConfig(1 + bank, c);
  }

  /** config[slot] as a vswitchd adopting the maps needs it (restart): the bank frames read (slot 0), a bank's ACL generation (slot 1 + bank). */
  readConfig(slot: number): { bank: number; aclGen: number } {
    if (!mapLookup(this.config, this.portKey(slot), this.cfg, 'config')) throw new RangeError(`config[${slot}] is missing`);
    return decodeConfigWords(this.cfgView);
  }

  private writeConfig(slot: number, c: Readonly<ConfigWords>): void {
    encodeConfig(this.cfgView, c);
    mapUpdate(this.config, this.portKey(slot), this.cfg, BPF_ANY, 'config');
  }

  /**
   * Returns once every frame that was being forwarded has been: the update of
   * a map-in-map slot waits for every running program (synchronize_rcu).
   */
  waitForFrames(): void {
    mapUpdate(this.barrier, this.portKey(0), this.barrierInner, BPF_ANY, 'barrier');
  }

  /** acl[bank's k] = rule k of `rules` (ACL_STRIDE int32s per rule, core/acl.ts), as struct vsw_acl_rule. */
  setAclRule(bank: number, k: number, rules: Int32Array): void {
    if (k >= ACL_MAX_RULES) throw new RangeError(`the kernel holds at most ${ACL_MAX_RULES} ACL rules`);
    encodeAclRule(this.ruleView, rules, k);
    mapUpdate(this.acl, this.portKey(bank * ACL_MAX_RULES + k), this.ruleVal, BPF_ANY, 'acl');
  }

  /** acl_hits[bank's k], summed over CPUs. */
  aclHits(bank: number, k: number): number {
    return this.perCpuSum(this.aclHitsFd, bank * ACL_MAX_RULES + k, 'acl_hits');
  }

  resetAclHits(bank: number, k: number): void {
    this.resetPerCpu(this.aclHitsFd, bank * ACL_MAX_RULES + k, 'acl_hits');
  }

  private macKey(hi: number, lo: number): Uint8Array {
    this.k8.setInt32(0, lo, true);
    this.k8.setUint32(4, hi, true);
    return this.key8;
  }

  /** fdb[key] = { port, seen }; false if the map is full. The key is (hi, lo) as Fdb.learnHL's. */
  setFdb(hi: number, lo: number, port: number, seenMs: number): boolean {
    encodeFdbEntry(this.fdbView, port, seenMs);
    try {
      mapUpdate(this.fdb, this.macKey(hi, lo), this.fdbVal, BPF_ANY, 'fdb');
      return true;
    } catch {
      return false;
    }
  }

  deleteFdb(hi: number, lo: number): void {
    mapDelete(this.fdb, this.macKey(hi, lo), 'fdb');
  }

  /**
   * The keys of the kernel's fdb map, as [hi, lo] pairs, last written before
   * `beforeMs` (CLOCK_MONOTONIC) and not `held` (a resync walks it):
   * FDB_BATCH keys per system call, and only those asked for are made into
   * arrays (a walk of 80,000 keys allocates next to nothing).
   */
  staleFdbKeys(beforeMs: number, held: (hi: number, lo: number) => boolean): Array<[number, number]> {
    const keys: Array<[number, number]> = [];
    const kv = new DataView(this.batchKeys.buffer);
    const vv = new DataView(this.batchValues.buffer);
    const stride = LAYOUT.vsw_fdb_entry.size;
    const seen = LAYOUT.vsw_fdb_entry.fields.seen_ns;
    const count = new Uint32Array(1);
    // The batch position of a hash map is a bucket number (u32); 8 bytes leave room.
    let from: Uint8Array | null = null;
    for (;;) {
      const to = new Uint8Array(8);
      count[0] = FDB_BATCH;
      const more = mapLookupBatch(this.fdb, from, to, this.batchKeys, this.batchValues, count, 'fdb');
      for (let i = 0; i < count[0]; i++) {
        const seenMs = (vv.getUint32(i * stride + seen + 4, true) * 4294967296 + vv.getUint32(i * stride + seen, true)) / 1e6;
        if (seenMs >= beforeMs) continue;
        const hi = kv.getUint32(8 * i + 4, true) & FDB_KEY_HI_MASK;
        const lo = kv.getInt32(8 * i, true);
        if (!held(hi, lo)) keys.push([hi, lo]);
      }
      if (!more) return keys;
      from = to;
    }
  }

  /** A port's counters, summed over CPUs. */
  portCountersOf(port: number): PortCounters {
    const out = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 };
    if (!mapLookup(this.portCounters, this.portKey(port), this.perCpuPort, 'port_counters')) return out;
    const v = new DataView(this.perCpuPort.buffer);
    for (let c = 0; c < this.cpus; c++) addPortCounters(out, v, c * LAYOUT.vsw_port_counters.size);
    return out;
  }

  /** Zeroes a port's counters (a new port starts from nothing). */
  resetPortCounters(port: number): void {
    this.perCpuPort.fill(0);
    mapUpdate(this.portCounters, this.portKey(port), this.perCpuPort, BPF_ANY, 'port_counters');
  }

  /** Captured frames the program found no room for on `captured`, summed over CPUs. */
  captureLost(): number {
    return this.perCpuSum(this.drops, CAPTURE_LOST_SLOT, 'drops');
  }

  /** Drops by reason (REASON_COUNT long), summed over CPUs; the learn events lost, and those suppressed. */
  dropCounts(): { drops: Float64Array; eventsLost: number; suppressed: SuppressedEvents } {
    const drops = new Float64Array(REASON_COUNT);
    let eventsLost = 0;
    const suppressed = { limited: 0, full: 0 };
    const v = new DataView(this.perCpuDrop.buffer);
    for (let r = 0; r < DROP_SLOTS; r++) {
      if (r >= REASON_COUNT && r !== EVENTS_LOST_SLOT && r !== SUPPRESSED_LIMITED_SLOT && r !== SUPPRESSED_FULL_SLOT) continue;
      if (!mapLookup(this.drops, this.portKey(r), this.perCpuDrop, 'drops')) continue;
      let sum = 0;
      for (let c = 0; c < this.cpus; c++) sum += Number(v.getBigUint64(c * 8, true));
      if (r === EVENTS_LOST_SLOT) eventsLost = sum;
      else if (r === SUPPRESSED_LIMITED_SLOT) suppressed.limited = sum;
      else if (r === SUPPRESSED_FULL_SLOT) suppressed.full = sum;
      else drops[r] = sum;
    }
    return { drops, eventsLost, suppressed };
  }
}
