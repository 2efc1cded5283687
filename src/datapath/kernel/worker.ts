// The kernel datapath's thread. Frames never come here: vsw_forward
// (bpf/datapath.bpf.c) forwards them inside the kernel. This thread keeps the
// program's maps in step with the switch, as ovs-vswitchd drives the OVS
// kernel module:
//
//   ports      attach/detach (a tcx link per port, owned by this process, so
//              the kernel detaches it when vswitchd dies), link up/down and
//              MTU from rtnetlink, the slot bound for the flood loop, and
//              whether the port is a veth whose peer is in another netns
//              (asked with RTM_GETLINK at attach and on each of its link
//              messages): the program then delivers into the peer directly
//   FDB        the TypeScript Fdb (src/core/fdb.ts) is the table of record:
//              every learn, move or refresh the kernel makes comes here on
//              the `events` ring and is applied to it; whatever it removes
//              (aging on its one timer, fair eviction when full, a port going
//              down or away, the per-port limit) is deleted from the kernel's
//              map. The program itself treats an entry older than the aging
//              time as absent, so a late deletion never forwards to a stale port.
//   acl        the rules in match order in acl[], their count in config;
//              hits per rule per CPU in acl_hits, summed on `aclHits`
//   mirrors    each mirror's output and VLANs in mirrors[], the masks of the
//              mirrors selecting each port in ports[], their count in config
//   trace      a Forwarder (the specification, src/core) kept in step with
//              every port, VLAN, ACL and mirror change and sharing the Fdb:
//              `vswconfig trace` runs on it (core/trace.ts); it never sees a frame
//   counters   per-CPU maps, summed on `stats`
//
// One poll() loop over the wake-up eventfd (control requests), rtnetlink and
// the events ring; it sleeps until the next FDB expiry otherwise.

import type { MessagePort } from 'node:worker_threads';
import { readLinkStateSync } from '../../os/sysfs.js';
import { ACL_MAX_RULES, type AclTable } from '../../core/acl.js';
import { Fdb, FDB_GRANULARITY_MS } from '../../core/fdb.js';
import { Forwarder } from '../../core/forwarder.js';
import { type MirrorTable, noMirrors } from '../../core/mirror.js';
import type { Trace, TraceFrame } from '../../core/trace.js';
import { DEFAULT_PORT_VLAN, fillVlanBitmap, type PortVlan, VLAN_BITMAP_BYTES, vlanModeNumber } from '../../core/vlan.js';
import { VswError } from '../../errors.js';
import { BpfObject } from '../../native/libbpf.js';
import { attachIngress, DATAPATH_OBJECT_PATH, detachIngress } from '../bpf.js';
import * as libc from '../../native/libc.js';
import type { DatapathOptions, PortStats, Stats } from '../messages.js';
import { dumpFdb } from '../fdb-dump.js';
import { openPromiscSocket } from '../../os/af-packet.js';
import { emit, POLLFD_SIZE, runThread, serveRequests, setPollFd, statsReply } from '../thread.js';
import { LinkMonitor, type LinkOwner } from '../link-monitor.js';
import { openRtnetlink, type VethPeer, vethPeerElsewhere } from '../../os/rtnetlink.js';
import { LEARNED, LearnRing, type LearnSink } from './learn-ring.js';
import { DatapathMaps, KERNEL_MAX_MIRRORS, KERNEL_MAX_PORTS, NO_PORT, PORT_ATTACHED, PORT_LIMITED, PORT_MIRROR_OUT, PORT_PEER, PORT_UP } from './maps.js';

const NFDS = 3; // eventfd, rtnetlink, events ring

/** CLOCK_MONOTONIC in ms: the clock of bpf_ktime_get_ns(), so kernel and Fdb times compare. */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

class KernelWorker implements LearnSink, LinkOwner {
  private readonly obj: BpfObject;
  private readonly maps: DatapathMaps;
  private readonly ring: LearnRing;
  private readonly progFd: number;
  private readonly fdb: Fdb;
  /** The specification, for traces: same ports, modes, rules, mirrors and FDB; it forwards nothing. */
  private readonly spec: Forwarder;
  private readonly wakeFd: number;
  private readonly links: LinkMonitor;
  /** RTM_GETLINK requests (is a port a veth with its peer elsewhere). */
  private readonly rtnl: number;
  private readonly pollfds = new Uint8Array(NFDS * POLLFD_SIZE);
  private readonly pollView = new DataView(this.pollfds.buffer);
  private readonly refreshMs: number;
  // Per port slot (one table: README.md).
  private readonly ifindex: Int32Array;
  private readonly ifname: string[];
  private readonly linkFdOf: Int32Array;
  private readonly promiscFd: Int32Array;
  private readonly up: Uint8Array;
  private readonly mtu: Int32Array;
  /** Per port: holds its --fdb-port-limit entries (VSW_PORT_LIMITED in the ports map). */
  private readonly limited: Uint8Array;
  /** Per port: its veth peer in another netns (VSW_PORT_PEER), or null. */
  private readonly peer: Array<VethPeer | null>;
  /** config[0] as last written; victim -1 means the kernel may hold another than we think. */
  private readonly cfg = { agingMs: 0, refreshMs: 0, portHi: 0, victim: 0n, vlanPorts: 0, aclRules: 0, mirrors: 0, aclGen: 1 };
  /** The mirrors in force, and the copies each had before it got its slot (mirror_copies counts from there). */
  private mirrorSet: MirrorTable;
  private mirrorBase: number[] = [];
  /** The ACL's rule ids in acl[] order, and the hits each had before it got its slot (acl_hits counts from there). */
  private aclIds: number[] = [];
  private aclBase: number[] = [];
  /** Per port: its VLAN mode (core/vlan.ts), written to `ports` and `vlans`. */
  private readonly vlan: PortVlan[];
  /** Per port, VLAN_BITMAP_BYTES: the VLANs it carries, as in the `vlans` map. */
  private readonly vlanBits: Uint8Array;
  private lastLearn = 0;
  private eventsLostSeen = 0;
  stopping = false;

  constructor(private readonly options: DatapathOptions, private readonly ctl: MessagePort) {
    if (options.maxPorts > KERNEL_MAX_PORTS) {
      throw new VswError('EUSAGE', `the kernel datapath takes at most ${KERNEL_MAX_PORTS} ports`);
    }
    const n = options.maxPorts;
    this.ifindex = new Int32Array(n).fill(-1);
    this.ifname = new Array<string>(n).fill('');
    this.linkFdOf = new Int32Array(n).fill(-1);
    this.promiscFd = new Int32Array(n).fill(-1);
    this.up = new Uint8Array(n);
    this.mtu = new Int32Array(n);
    this.limited = new Uint8Array(n);
    this.vlan = new Array<PortVlan>(n).fill(DEFAULT_PORT_VLAN);
    this.vlanBits = new Uint8Array(n * VLAN_BITMAP_BYTES);
    this.peer = new Array<VethPeer | null>(n).fill(null);
    this.refreshMs = Math.min(FDB_GRANULARITY_MS, options.agingMs);

    this.obj = BpfObject.open(DATAPATH_OBJECT_PATH);
    try {
      DatapathMaps.size(this.obj, options.fdbSize);
      this.obj.load();
      this.maps = new DatapathMaps(this.obj);
      this.progFd = this.obj.programFd('vsw_forward');
      this.cfg.agingMs = options.agingMs;
      this.cfg.refreshMs = this.refreshMs;
      this.maps.setConfig(this.cfg);
      this.ring = new LearnRing(this.maps.events, this.maps.ringBytes);
    } catch (err) {
      this.obj.close();
      throw err;
    }
    this.fdb = new Fdb({
      size: options.fdbSize,
      agingMs: options.agingMs,
      maxPorts: n,
      portLimit: options.fdbPortLimit,
      hashSecret: options.hashSecret,
    });
    this.fdb.onRemove = (hi, lo) => this.maps.deleteFdb(hi, lo);
    const noEgress = { transmit: () => false };
    this.spec = new Forwarder({ maxPorts: n, fdbSize: options.fdbSize, agingMs: options.agingMs, fdb: this.fdb }, noEgress);
    this.mirrorSet = noMirrors(n);
    this.wakeFd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
    this.links = new LinkMonitor();
    this.rtnl = openRtnetlink();
    setPollFd(this.pollView, 0, this.wakeFd);
    setPollFd(this.pollView, 1, this.links.fd);
    setPollFd(this.pollView, 2, this.ring.fd);
  }

  get eventFd(): number {
    return this.wakeFd;
  }

  run(): void {
    let nextGc = Infinity;
    while (!this.stopping) {
      const now = monotonicMs();
      const timeout = nextGc === Infinity ? -1 : Math.max(0, Math.min(0x7fffffff, Math.ceil(nextGc - now)));
      if (libc.poll(this.pollfds, NFDS, timeout) > 0) this.serviceFds();
      if (this.stopping) break;
      let changed = this.ring.drain(this) > 0;
      const t = monotonicMs();
      if (t >= nextGc || nextGc === Infinity) {
        this.checkEventsLost();
        nextGc = this.fdb.expire(t);
        changed = true;
      }
      if (changed) this.syncLearnControls();
    }
    this.shutdown();
  }

  // ---- what the kernel learned ----

  onLearn(hi: number, lo: number, port: number, kind: number, seenMs: number, evictedHi: number, evictedLo: number): void {
    const evicted = evictedHi !== 0 || evictedLo !== 0;
    // The program took the victim named in config: name the next one.
    if (evicted) this.cfg.victim = -1n;
    const vid = hi >>> 16;
    if (
      port >= this.options.maxPorts ||
      this.linkFdOf[port] < 0 ||
      this.up[port] === 0 ||
      (this.vlanBits[port * VLAN_BITMAP_BYTES + (vid >> 3)] & (1 << (vid & 7))) === 0
    ) {
      // Learned just before the port went away or down, or changed its VLAN mode: not the switch's any more.
      if (kind === LEARNED) this.maps.deleteFdb(hi, lo);
      return;
    }
    // The Fdb wants a clock that does not go backwards; CPUs' events may interleave by nanoseconds.
    const now = (this.lastLearn = Math.max(this.lastLearn, seenMs));
    this.fdb.learnHL(hi, lo, port, now);
    if (this.fdb.lookupHL(hi, lo, now) !== port) {
      // Refused (per-port limit): the kernel must not keep it either.
      if (kind === LEARNED) this.maps.deleteFdb(hi, lo);
    } else if (kind !== LEARNED && !this.maps.setFdb(hi, lo, port, now)) {
      this.resyncFdb(); // the kernel's map is fuller than the table of record
    }
    // The table of record made room with another entry than the program: give that one back.
    if (evicted) {
      const at = this.fdb.lookupHL(evictedHi, evictedLo, now);
      if (at >= 0) this.maps.setFdb(evictedHi, evictedLo, at, now);
    }
  }

  /**
   * What the program needs to learn as the core does: the victim a new station
   * costs while the table is full, and which ports hold their limit. Written
   * only when changed.
   */
  private syncLearnControls(): void {
    const now = monotonicMs();
    const v = this.fdb.nextVictimKey(now);
    const victim = v === null ? 0n : (BigInt(v[0]) << 32n) | BigInt(v[1] >>> 0);
    if (victim !== this.cfg.victim) {
      this.cfg.victim = victim;
      this.maps.setConfig(this.cfg);
    }
    if (!this.options.fdbPortLimit) return; // no port is ever limited
    for (let p = 0; p < this.options.maxPorts; p++) {
      if (this.linkFdOf[p] < 0) continue;
      const limited = this.fdb.atPortLimit(p) ? 1 : 0;
      if (limited === this.limited[p]) continue;
      this.limited[p] = limited;
      this.writePort(p);
    }
  }

  private writePort(port: number): void {
    const peer = this.peer[port];
    const flags =
      PORT_ATTACHED | (this.up[port] ? PORT_UP : 0) | (this.limited[port] ? PORT_LIMITED : 0) | (peer ? PORT_PEER : 0);
    const v = this.vlan[port];
    const m = this.mirrorSet;
    this.maps.setPort(port, {
      ifindex: this.ifindex[port],
      flags: flags | (m.outputs.includes(port) ? PORT_MIRROR_OUT : 0),
      mtu: this.mtu[port],
      vlanMode: vlanModeNumber(v),
      vlanTag: v.tag,
      peer,
      mirrorIn: m.ingressMask[port],
      mirrorOut: m.egressMask[port],
    });
  }

  /**
   * Each mirror's output and VLANs go into mirrors[] first, then every port's
   * masks and output flag, then the count into config: a frame sees a whole
   * mirror or none. A mirror kept (by name) keeps its count. An output port
   * loses its FDB entries (the spec's setMirrors flushes the shared Fdb, which
   * deletes them from the kernel's map).
   */
  setMirrors(table: MirrorTable): void {
    const n = table.names.length;
    if (n > KERNEL_MAX_MIRRORS) throw new VswError('EUSAGE', `the kernel datapath holds at most ${KERNEL_MAX_MIRRORS} mirrors`);
    const copies = this.mirrorCopies();
    const old = new Map(this.mirrorSet.names.map((name, k) => [name, copies[k]!]));
    if (n < this.cfg.mirrors) {
      this.cfg.mirrors = n; // fewer first: no frame reads a slot being rewritten
      this.maps.setConfig(this.cfg);
    }
    for (let k = 0; k < n; k++) {
      this.maps.setMirror(k, table.outputs[k], table.vlanBits.subarray(k * VLAN_BITMAP_BYTES, (k + 1) * VLAN_BITMAP_BYTES));
      this.maps.resetMirrorCopies(k);
    }
    this.mirrorSet = table;
    this.mirrorBase = table.names.map((name) => old.get(name) ?? 0);
    for (let p = 0; p < this.options.maxPorts; p++) if (this.linkFdOf[p] >= 0) this.writePort(p);
    this.cfg.mirrors = n;
    this.maps.setConfig(this.cfg);
    this.spec.setMirrors(table);
    this.syncLearnControls();
  }

  mirrorCopies(): number[] {
    return this.mirrorSet.names.map((_, k) => this.mirrorBase[k]! + this.maps.mirrorCopies(k));
  }

  /** The FDB as of the last learn event the kernel sent. */
  trace(frame: TraceFrame): Trace {
    this.ring.drain(this);
    return this.spec.trace(frame, monotonicMs());
  }

  /** The port's VLAN mode: written before its entries are flushed, so the next frame has it. */
  setVlan(port: number, v: PortVlan): void {
    if (port < 0 || port >= this.options.maxPorts || this.linkFdOf[port] < 0) throw new VswError('ENOTATTACHED', `port ${port} is not attached`);
    this.writeVlan(port, v);
    this.spec.setVlan(port, v); // flushes the port's entries from the shared Fdb
    this.syncLearnControls(); // the table has room again: no victim to name
  }

  /**
   * The new rules go into acl[], then their count into config: a frame sees
   * the old rules or the new ones at each slot. A rule kept (by id) keeps its
   * hits; frames counted between reading and zeroing a slot are lost.
   */
  setAcl(table: AclTable): void {
    const hits = this.aclHits();
    const old = new Map(this.aclIds.map((id, k) => [id, hits[k]!]));
    const n = table.ids.length;
    if (n > ACL_MAX_RULES) throw new VswError('EUSAGE', `the kernel datapath holds at most ${ACL_MAX_RULES} ACL rules`);
    for (let k = 0; k < n; k++) {
      this.maps.setAclRule(k, table.rules);
      this.maps.resetAclHits(k);
    }
    this.aclIds = table.ids.slice();
    this.aclBase = table.ids.map((id) => old.get(id) ?? 0);
    this.cfg.aclRules = n;
    this.cfg.aclGen = (this.cfg.aclGen + 1) >>> 0 || 1; // the program's cached answers are of the old table
    this.maps.setConfig(this.cfg);
    this.spec.setAcl(table);
  }

  aclHits(): number[] {
    return this.aclIds.map((_, k) => this.aclBase[k]! + this.maps.aclHits(k));
  }

  private writeVlan(port: number, v: PortVlan): void {
    const moded = (v.mode !== 'default' ? 1 : 0) - (this.vlan[port]!.mode !== 'default' ? 1 : 0);
    this.vlan[port] = v;
    const at = port * VLAN_BITMAP_BYTES;
    fillVlanBitmap(v, this.vlanBits, at);
    this.maps.setVlans(port, this.vlanBits.subarray(at, at + VLAN_BITMAP_BYTES));
    if (this.linkFdOf[port] >= 0) this.writePort(port);
    if (moded !== 0) {
      // After the port: the first frame that may need retagging finds the port's mode written.
      this.cfg.vlanPorts += moded;
      this.maps.setConfig(this.cfg);
    }
  }

  /**
   * Asks the kernel again whether the port is a veth whose peer is in another
   * netns, and with which MAC and MTU (a peer moved between namespaces takes
   * its link down and up: the port gets link messages). True if that changed.
   */
  private refreshPeer(port: number): boolean {
    const now = vethPeerElsewhere(this.rtnl, this.ifindex[port]);
    const was = this.peer[port];
    this.peer[port] = now;
    return (now === null) !== (was === null) || (now !== null && was !== null && (now.mac !== was.mac || now.mtu !== was.mtu));
  }

  /** After learn events were lost, drop whatever the kernel holds that the table of record does not. */
  private checkEventsLost(): void {
    const lost = this.maps.dropCounts().eventsLost;
    if (lost === this.eventsLostSeen) return;
    this.eventsLostSeen = lost;
    this.resyncFdb();
  }

  private resyncFdb(): void {
    this.cfg.victim = -1n; // the program may have taken the victim in an event that was lost
    const now = monotonicMs();
    for (const [hi, lo] of this.maps.fdbKeys()) if (this.fdb.lookupHL(hi, lo, now) < 0) this.maps.deleteFdb(hi, lo);
  }

  // ---- control path ----

  private serviceFds(): void {
    const v = this.pollView;
    if ((v.getInt16(6, true) & libc.POLLIN) !== 0) {
      libc.drainEventfd(this.wakeFd);
      this.serviceControl();
    }
    if ((v.getInt16(POLLFD_SIZE + 6, true) & libc.POLLIN) !== 0) this.links.service(this);
  }

  private serviceControl(): void {
    serveRequests(this.ctl, this);
  }

  // ---- RequestTarget: the control plane's requests ----

  fdbDump(): unknown {
    this.ring.drain(this);
    return dumpFdb(this.fdb, monotonicMs());
  }

  requestStop(): void {
    this.stopping = true;
  }

  addPort(port: number, ifname: string, ifindex: number): void {
    if (port < 0 || port >= this.options.maxPorts || this.linkFdOf[port] !== -1) {
      throw new VswError('EINTERNAL', `port slot ${port} is not free`);
    }
    const link = readLinkStateSync(ifname, ifindex);
    const promisc = openPromiscSocket(ifindex, ifname);
    try {
      // The maps first: the very first frame through the link finds its port.
      this.maps.resetPortCounters(port);
      this.ifindex[port] = ifindex;
      this.mtu[port] = link.mtu;
      this.up[port] = link.up ? 1 : 0;
      this.limited[port] = 0;
      this.writeVlan(port, DEFAULT_PORT_VLAN);
      this.refreshPeer(port);
      this.writePort(port);
      this.maps.setPortOf(ifindex, port);
      this.updateConfig();
      this.linkFdOf[port] = attachIngress(this.progFd, ifindex, ifname);
      this.spec.attach(port, link.up, link.mtu);
    } catch (err) {
      this.ifindex[port] = -1;
      this.peer[port] = null;
      this.clearPortMaps(port, ifindex);
      libc.close(promisc);
      throw err;
    }
    this.promiscFd[port] = promisc;
    this.ifname[port] = ifname;
  }

  removePort(port: number): void {
    if (port < 0 || port >= this.options.maxPorts || this.linkFdOf[port] < 0) {
      throw new VswError('ENOTATTACHED', `port slot ${port} is not attached`);
    }
    // The link first: from here on the port's frames reach the host again, not the switch.
    detachIngress(this.linkFdOf[port]);
    this.linkFdOf[port] = -1;
    const ifindex = this.ifindex[port];
    this.ifindex[port] = -1;
    this.clearPortMaps(port, ifindex);
    this.writeVlan(port, DEFAULT_PORT_VLAN); // the slot's next port has no mode
    this.spec.detach(port); // flushes the port's entries from the shared Fdb
    this.up[port] = 0;
    this.peer[port] = null;
    this.syncLearnControls();
    libc.close(this.promiscFd[port]);
    this.promiscFd[port] = -1;
    this.ifname[port] = '';
  }

  private clearPortMaps(port: number, ifindex: number): void {
    this.maps.setPort(port, NO_PORT);
    try {
      this.maps.deletePortOf(ifindex);
    } catch {
      // never written
    }
    this.updateConfig();
  }

  /** The flood loop stops at the slot above the highest attached port. */
  private updateConfig(): void {
    let hi = 0;
    for (let p = 0; p < this.options.maxPorts; p++) if (this.ifindex[p] >= 0) hi = p + 1;
    this.cfg.portHi = hi;
    this.maps.setConfig(this.cfg);
  }

  // ---- LinkOwner: what rtnetlink reports about the ports ----

  attachedPorts(): Array<{ port: number; ifindex: number }> {
    const out: Array<{ port: number; ifindex: number }> = [];
    for (let p = 0; p < this.options.maxPorts; p++) if (this.linkFdOf[p] >= 0) out.push({ port: p, ifindex: this.ifindex[p] });
    return out;
  }

  mtuOf(port: number): number {
    return this.mtu[port];
  }

  renamed(port: number, ifname: string): void {
    if (ifname === this.ifname[port]) return;
    this.ifname[port] = ifname;
    emit({ event: 'renamed', port, ifname });
  }

  /** As Forwarder.setLink: a port going down loses its FDB entries. */
  linkChanged(port: number, up: boolean, mtu: number): void {
    const peerChanged = this.refreshPeer(port);
    if ((up ? 1 : 0) === this.up[port] && mtu === this.mtu[port]) {
      if (peerChanged) this.writePort(port);
      return;
    }
    const wasUp = this.up[port] === 1;
    this.up[port] = up ? 1 : 0;
    this.mtu[port] = mtu;
    this.writePort(port);
    this.spec.setLink(port, up, mtu); // down: flushes the port's entries from the shared Fdb
    if (!up && wasUp) this.syncLearnControls();
    emit({ event: 'link', port, up, mtu });
  }

  portGone(port: number): void {
    this.removePort(port);
    emit({ event: 'gone', port });
  }

  portOfIfindex(ifindex: number): number {
    for (let p = 0; p < this.options.maxPorts; p++) if (this.linkFdOf[p] >= 0 && this.ifindex[p] === ifindex) return p;
    return -1;
  }

  stats(): Stats {
    this.ring.drain(this);
    const ports: PortStats[] = [];
    for (let p = 0; p < this.options.maxPorts; p++) {
      if (this.linkFdOf[p] < 0) continue;
      const c = this.maps.portCountersOf(p);
      ports.push({ port: p, up: this.up[p] === 1, mtu: this.mtu[p], ...c, rxRingDrops: 0 });
    }
    return statsReply(ports, this.maps.dropCounts().drops, this.fdb);
  }

  private shutdown(): void {
    for (let p = 0; p < this.options.maxPorts; p++) if (this.linkFdOf[p] >= 0) this.removePort(p);
    this.ring.close();
    this.obj.close();
    this.links.close();
    libc.close(this.rtnl);
    libc.close(this.wakeFd);
    this.ctl.close();
  }
}


// ---- thread entry ----
runThread((data) => new KernelWorker(data.options, data.ctl));
