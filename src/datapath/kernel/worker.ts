// The kernel datapath's thread. Frames never come here: vsw_forward
// (bpf/datapath.bpf.c) forwards them inside the kernel. This thread keeps the
// program's maps in step with the switch, as ovs-vswitchd drives the OVS
// kernel module:
//
//   ports      attach/detach, link up/down and MTU from rtnetlink, VLAN modes,
//              the veth peer: ports.ts (one record per port)
//   FDB        the TypeScript Fdb (src/core/fdb.ts) is the table of record;
//              fdb-sync.ts applies the learn events of the `events` ring to it
//              and deletes from the kernel's map whatever it removes
//   acl        the rules in match order in acl[], their count in config;
//              hits per rule per CPU in acl_hits, summed on `aclHits`
//   mirrors    each mirror's output and VLANs in mirrors[], the masks of the
//              mirrors selecting each port in ports[], their count in config
//   banks      every configuration change (ports added or removed, VLAN
//              modes, ACL, mirrors) is written aside and published with one
//              write (banks.ts), so that a frame sees the old or the new
//   trace      a Forwarder (the specification, src/core) written with every
//              port, VLAN, ACL and mirror change and sharing the Fdb:
//              `vswconfig trace` runs on it (core/trace.ts); it never sees a frame
//   counters   per-CPU maps, summed on `stats`
//
// One poll() loop over the wake-up eventfd (control requests), rtnetlink and
// the events ring; it sleeps until the next FDB expiry otherwise.

import type { MessagePort } from 'node:worker_threads';
import type { AclTable } from '../../core/acl.js';
import { Fdb, fdbRefreshMs } from '../../core/fdb.js';
import { Forwarder } from '../../core/forwarder.js';
import type { MirrorTable } from '../../core/mirror.js';
import type { Trace, TraceFrame } from '../../core/trace.js';
import type { PortVlan } from '../../core/vlan.js';
import { VswError } from '../../errors.js';
import { BpfObject } from '../../native/libbpf.js';
import * as libc from '../../native/libc.js';
import { openRtnetlink } from '../../os/rtnetlink.js';
import { DATAPATH_OBJECT_PATH, Ingress } from '../bpf.js';
import { ConfigBanks, KernelAcl, KernelMirrors } from './banks.js';
import { dumpFdb, learnDump } from '../fdb-dump.js';
import { macHi, macLo } from '../../core/mac.js';
import { LinkMonitor, type LinkOwner } from '../link-monitor.js';
import type { AdoptOptions, DatapathOptions, HandedOverPort, PortStats, Stats } from '../messages.js';
import { adoptMaps, pinMaps, unpinAll } from './handover.js';
import { emit, journalDue, journalFdb, POLLFD_SIZE, postJournalIfDue, runThread, serveRequests, setPollFd, statsReply } from '../thread.js';
import { FdbSync, monotonicMs } from './fdb-sync.js';
import type { ConfigWords } from './layout.js';
import { LearnRing } from './learn-ring.js';
import { CapturedRing } from './capture-ring.js';
import { CaptureWriter } from '../capture-ring.js';
import { DatapathMaps, KERNEL_BANKS, KERNEL_MAX_PORTS } from './maps.js';
import { KernelPorts } from './ports.js';

const NFDS = 4; // eventfd, rtnetlink, events ring, captured ring
/**
 * Learn events applied per turn of the loop at most (and by a request that
 * reads the FDB): a few ms of work, so that under a MAC storm requests and
 * link events wait one such turn, never the storm.
 */
const LEARN_BATCH = 1024;
/** Captured frames moved to the main thread per turn at most (about 1.6 MiB). */
const CAPTURE_BATCH = 1024;

class KernelWorker implements LinkOwner {
  private readonly obj: BpfObject;
  private readonly maps: DatapathMaps;
  private readonly ring: LearnRing;
  /** `vswconfig capture`: the program's ring of captured frames, and the ring to the main thread. */
  private readonly captured: CapturedRing;
  private readonly captureOut: CaptureWriter;
  /** drops[16] (captured frames the program lost) as last read, and when. */
  private captureLost = 0;
  private captureLostAt = -Infinity;
  private readonly progFd: number;
  private readonly fdb: Fdb;
  private readonly fdbSync: FdbSync;
  /** The specification, for traces: same ports, modes, rules, mirrors and FDB; it forwards nothing, and nothing is read back from it but traces. */
  private readonly spec: Forwarder;
  private readonly ports: KernelPorts;
  private readonly wakeFd: number;
  private readonly links: LinkMonitor;
  /** RTM_GETLINK requests (is a port a veth with its peer elsewhere). */
  private readonly rtnl: number;
  private readonly pollfds = new Uint8Array(NFDS * POLLFD_SIZE);
  private readonly pollView = new DataView(this.pollfds.buffer);
  /** config[0] (and the live bank's words) as last written; victim -1 means the kernel may hold another than we think. */
  private readonly cfg: ConfigWords = { agingMs: 0, refreshMs: 0, portHi: 0, bank: 0, victim: 0n, vlanPorts: 0, aclRules: 0, mirrors: 0, aclGen: 1 };
  private readonly banks: ConfigBanks;
  private readonly acl: KernelAcl;
  private readonly mirrors: KernelMirrors;
  stopping = false;
  /** A restart's new vswitchd until adopted(): what the old one handed over. */
  private adopt: AdoptOptions | null;
  /** A restart's old vswitchd once it handed over: the maps are the new one's to read and age. */
  private handedOver = false;
  /** A restart's new vswitchd that could not take the old maps (why): its program replaces the old one at adopted(). */
  private replacing: string | null = null;

  constructor(options: DatapathOptions, private readonly ctl: MessagePort, capture: SharedArrayBuffer) {
    if (options.maxPorts > KERNEL_MAX_PORTS) {
      throw new VswError('EUSAGE', `the kernel datapath takes at most ${KERNEL_MAX_PORTS} ports`);
    }
    const n = options.maxPorts;
    // The table of record: its size and aging are read from it from here on.
    this.fdb = new Fdb({
      size: options.fdbSize,
      agingMs: options.agingMs,
      maxPorts: n,
      portLimit: options.fdbPortLimit,
      hashSecret: options.hashSecret,
    });
    journalFdb(this.fdb);

    this.adopt = options.adopt ?? null;
    this.obj = BpfObject.open(DATAPATH_OBJECT_PATH);
    try {
      DatapathMaps.size(this.obj, this.fdb.size);
      // A restart: the program is loaded against the running maps (checked first), which frames keep using;
      // maps of another layout: against its own, and it replaces the old program once set up (adopted()).
      let taken: number[] = [];
      if (this.adopt !== null) {
        try {
          taken = adoptMaps(this.obj, this.adopt.pinDir);
        } catch (err) {
          if (!(err instanceof VswError && err.code === 'EADOPT')) throw err;
          this.replacing = err.message;
        }
      }
      try {
        this.obj.load();
      } finally {
        for (const fd of taken) libc.close(fd);
      }
      this.maps = new DatapathMaps(this.obj);
      this.progFd = this.obj.programFd('vsw_forward');
      this.cfg.agingMs = this.fdb.agingMs;
      this.cfg.refreshMs = fdbRefreshMs(this.fdb.agingMs);
      if (this.adopt === null || this.replacing !== null) {
        for (let b = 0; b < KERNEL_BANKS; b++) this.maps.setBankConfig(b, this.cfg);
        this.maps.setConfig(this.cfg);
      } else {
        // Written nowhere yet: the replay goes into the shadow of the bank frames read, and carries the ACL generation on.
        this.cfg.bank = this.maps.readConfig(0).bank & 1;
        this.cfg.aclGen = this.maps.readConfig(1 + this.cfg.bank).aclGen;
      }
      this.ring = LearnRing.map(this.maps.events, this.maps.ringBytes);
      this.captured = CapturedRing.map(this.maps.captured);
    } catch (err) {
      this.obj.close();
      throw err;
    }
    this.spec = new Forwarder({ maxPorts: n, fdb: this.fdb }, { transmit: () => false, refused: () => {} });
    this.captureOut = new CaptureWriter(capture);
    this.banks = new ConfigBanks(this.maps, this.cfg);
    if (this.adopt !== null && this.replacing === null) this.banks.begin(); // committed by adopted()
    this.acl = new KernelAcl(this.banks, this.maps, this.cfg);
    this.mirrors = new KernelMirrors(this.banks, this.maps, this.cfg, n);
    this.rtnl = openRtnetlink();
    this.ports = new KernelPorts(n, this.maps, this.cfg, this.spec, this.rtnl, this.banks, new Ingress(options.attach, options.tcWatchdogFd), options.redirectPeer);
    this.fdbSync = new FdbSync(this.fdb, this.maps, this.cfg, this.ports);
    this.wakeFd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
    this.links = new LinkMonitor();
    setPollFd(this.pollView, 0, this.wakeFd);
    setPollFd(this.pollView, 1, this.links.fd);
    setPollFd(this.pollView, 2, this.ring.fd);
    setPollFd(this.pollView, 3, this.captured.fd);
  }

  get eventFd(): number {
    return this.wakeFd;
  }

  run(): void {
    let nextGc = Infinity;
    while (!this.stopping) {
      const now = monotonicMs();
      // The journal's clock is performance.now(), the FDB's CLOCK_MONOTONIC: each wait measured on its own.
      const wait = Math.min(nextGc - now, journalDue() - performance.now());
      const timeout = wait === Infinity ? -1 : Math.max(0, Math.min(0x7fffffff, Math.ceil(wait)));
      // Requests and link events first; then this turn's share of the ring (what
      // is left keeps the ring's fd readable, so the next poll() returns at once).
      const still = this.still;
      if (libc.poll(this.pollfds, still ? 1 : NFDS, still ? -1 : timeout) > 0) this.serviceFds();
      if (this.stopping) break;
      if (this.still) continue;
      let changed = this.ring.drain(this.fdbSync, LEARN_BATCH) > 0;
      if (this.captured.pending()) this.drainCaptured();
      if (changed) nextGc = Math.min(nextGc, this.fdbSync.checkDue());
      const t = monotonicMs();
      if (t >= nextGc || nextGc === Infinity) {
        nextGc = this.fdbSync.timer(t);
        changed = true;
      }
      if (changed) this.syncLearnControls();
      postJournalIfDue(performance.now());
    }
    this.shutdown();
  }

  /**
   * Requests only, no learn events read and no aging: in a restart's old
   * vswitchd once it handed over (the ring and the maps are the new one's),
   * and in the new one until adopted() (a learn event would be refused by a
   * port whose configuration is not published yet, and deleted).
   */
  private get still(): boolean {
    return this.handedOver || this.adopt !== null;
  }

  /** One share of the learn events, unless still. */
  private learnPending(): void {
    if (!this.still) this.ring.drain(this.fdbSync, LEARN_BATCH);
  }

  /**
   * What the program needs to learn as the core does: the victim a new station
   * costs while the table is full, and which ports hold their limit. Written
   * only when changed.
   */
  private syncLearnControls(): void {
    this.fdbSync.syncVictim();
    if (this.fdb.portLimit) this.ports.syncLimits(this.fdb); // else no port is ever limited
  }

  private serviceFds(): void {
    const v = this.pollView;
    if ((v.getInt16(6, true) & libc.POLLIN) !== 0) {
      libc.drainEventfd(this.wakeFd);
      serveRequests(this.ctl, this);
    }
    if ((v.getInt16(POLLFD_SIZE + 6, true) & libc.POLLIN) !== 0) this.links.service(this);
  }

  // ---- RequestTarget: the control plane's requests ----

  addPort(port: number, ifname: string, ifindex: number): void {
    this.ports.add(port, ifname, ifindex, this.progFd, this.adopt && { ...this.adopt, later: this.replacing !== null });
  }

  // ---- a restart (src/daemon/restart.ts, kernel/handover.ts) ----

  /** The old vswitchd: maps and links pinned in `dir`; from now on this thread only answers requests (stop, or a port detached). */
  handOver(dir: string): HandedOverPort[] {
    pinMaps(this.obj, dir);
    const ports = this.ports.handOver(dir);
    this.handedOver = true;
    return ports;
  }

  /** The new vswitchd: the replayed configuration published at once; the pins removed (what was taken is held by fds). */
  adopted(): void {
    if (this.adopt === null) return;
    if (this.replacing === null) {
      this.banks.commit();
    } else {
      // Set up whole in maps of its own: each port goes from the old program to this one, no moment without either.
      this.ports.switchPending(this.progFd, this.adopt);
      emit({ event: 'log', message: `restart: cannot adopt the old program's maps (${this.replacing}): this program replaced it on every port, the FDB written anew; counters start from 0` });
    }
    this.ports.adoptedAll();
    unpinAll(this.adopt.pinDir);
    this.adopt = null;
    this.syncLearnControls();
  }

  /**
   * The new vswitchd, before adopted(): the old one's FDB into the table of
   * record; the kernel's map has it already, unless this program has maps of
   * its own (then written there, before any frame meets this program).
   */
  seedFdb(dump: Uint32Array): void {
    const now = monotonicMs();
    learnDump(this.fdb, dump, now);
    if (this.replacing !== null) {
      this.fdb.forEach((mac, port, ageMs, vlan) => this.maps.setFdb((macHi(mac) | (vlan << 16)) >>> 0, macLo(mac), port, now - ageMs), now);
    }
    if (!this.still) this.syncLearnControls();
  }

  removePort(port: number): void {
    this.ports.remove(port);
    this.syncLearnControls();
  }

  setVlan(port: number, v: PortVlan): void {
    const r = this.ports.at(port);
    if (r === null) throw new VswError('ENOTATTACHED', `port ${port} is not attached`);
    this.ports.setVlan(port, r, v);
    this.syncLearnControls(); // the table has room again: no victim to name
  }

  /** The whole table published at once (banks.ts); a rule kept (by id) keeps its hits. */
  setAcl(table: AclTable): void {
    this.acl.set(table);
    this.spec.setAcl(table);
  }

  aclHits(): number[] {
    return this.acl.hits();
  }

  /** A share of the captured frames to the main thread, and (at most every 200 ms) those the program lost. */
  private drainCaptured(): void {
    this.captured.drain(this.captureOut, this.spec, Date.now() - monotonicMs(), CAPTURE_BATCH);
    const now = monotonicMs();
    if (now - this.captureLostAt < 200) return;
    this.captureLostAt = now;
    const lost = this.maps.captureLost();
    this.captureOut.addLost(lost - this.captureLost);
    this.captureLost = lost;
  }

  /** The ports' capture flags, in their entries (both banks); none: the rings are emptied. */
  setCapture(flags: Array<[number, number]>): void {
    this.ports.setCapture(flags);
    if (flags.length === 0) {
      this.captured.drain(this.captureOut, this.spec, 0, Infinity);
      this.captureOut.reset();
    }
  }

  /**
   * The mirrors and every port's masks and output flag published at once
   * (banks.ts); a mirror kept (by name) keeps its count. An output port loses
   * its FDB entries (the spec's setMirrors flushes the shared Fdb, which
   * deletes them from the kernel's map), and learn events from before are
   * refused.
   */
  setMirrors(table: MirrorTable): void {
    this.mirrors.set(table, this.ports);
    this.spec.setMirrors(table);
    this.syncLearnControls();
  }

  mirrorCopies(): number[] {
    return this.mirrors.copies();
  }

  /** The FDB with one more share of the learn events applied (all of them, unless a storm is on). */
  trace(frame: TraceFrame): Trace {
    this.learnPending();
    return this.spec.trace(frame, monotonicMs());
  }

  fdbDump(): unknown {
    this.learnPending();
    return dumpFdb(this.fdb, monotonicMs());
  }

  stats(): Stats {
    this.learnPending();
    const ports: PortStats[] = [];
    let capturePorts = 0;
    for (const [p, r] of this.ports.attached()) {
      ports.push({ port: p, up: r.up, mtu: r.mtu, ...this.maps.portCountersOf(p), rxRingDrops: 0 });
      // Read back from the map, what the program sees, not what was meant: the
      // live bank only, one lookup per port (this thread drains the learn
      // events). The flags are a port's state, written into both banks
      // (KernelPorts.setCapture through ConfigBanks.write: outside a change
      // both at once, inside one the shadow, then the old bank once
      // published), so the other bank holds the same or is about to.
      if (this.maps.portCapture(this.banks.live, p) !== 0) capturePorts++;
    }
    const counts = this.maps.dropCounts();
    return { ...statsReply(ports, counts.drops, this.fdb, counts.suppressed), capturePorts };
  }

  requestStop(): void {
    this.stopping = true;
  }

  // ---- LinkOwner: what rtnetlink reports about the ports ----

  attachedPorts(): Array<{ port: number; ifindex: number }> {
    return Array.from(this.ports.attached(), ([port, r]) => ({ port, ifindex: r.ifindex }));
  }

  portOfIfindex(ifindex: number): number {
    for (const [p, r] of this.ports.attached()) if (r.ifindex === ifindex) return p;
    return -1;
  }

  mtuOf(port: number): number {
    return this.ports.at(port)?.mtu ?? 0;
  }

  renamed(port: number, ifname: string): void {
    const r = this.ports.at(port);
    if (r === null || ifname === r.ifname) return;
    r.ifname = ifname;
    emit({ event: 'renamed', port, ifname });
  }

  /** As Forwarder.setLink: a port going down loses its FDB entries. */
  linkChanged(port: number, up: boolean, mtu: number): void {
    const r = this.ports.at(port);
    if (r === null) return;
    const wasUp = r.up;
    const oldMtu = r.mtu;
    if (!this.ports.setLink(port, r, up, mtu)) return;
    if (!up && wasUp) this.syncLearnControls();
    emit({ event: 'link', port, up, mtu, wasUp, oldMtu });
  }

  portGone(port: number): void {
    this.removePort(port);
    emit({ event: 'gone', port });
  }

  private shutdown(): void {
    // Handed over, the ports are the new vswitchd's: only our fds close (it holds its own on the links).
    if (!this.handedOver) for (const [p] of this.ports.attached()) this.removePort(p);
    this.ring.close();
    this.captured.close();
    this.obj.close();
    this.links.close();
    libc.close(this.rtnl);
    libc.close(this.wakeFd);
    this.ctl.close();
  }
}

// ---- thread entry ----
runThread((data) => new KernelWorker(data.options, data.ctl, data.capture));
