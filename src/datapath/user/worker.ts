// The datapath thread. It owns every port socket, the ring memory and the
// forwarding core, and runs one loop:
//
//   poll() on the ports, the wake-up eventfd and the rtnetlink socket
//   (blocking while idle: an idle switch uses no CPU)
//   → for each port, read a batch from its RX ring (rx-ring.ts),
//     let the core decide and copy to TX rings (core/forwarder.ts, tx-ring.ts),
//     send the batch's frames too big for a slot (one sendmmsg per port),
//     give the RX slots back
//   → kick each TX ring that got frames (one send() per port per round)
//
// While frames keep arriving the loop skips poll() (it would only say "ready")
// and polls at most once a millisecond for control messages and link events.
// Control requests arrive on a MessagePort read synchronously with
// receiveMessageOnPort() after the main thread bumps the eventfd, so the loop
// never has to return to Node's event loop.

import type { MessagePort } from 'node:worker_threads';
import { Batch } from '../../core/batch.js';
import { Forwarder } from '../../core/forwarder.js';
import type { AclTable } from '../../core/acl.js';
import type { MirrorTable } from '../../core/mirror.js';
import type { Trace, TraceFrame } from '../../core/trace.js';
import type { PortVlan } from '../../core/vlan.js';
import { readLinkStateSync } from '../../os/sysfs.js';
import { REASON_COUNT } from '../../core/reasons.js';
import { VswError } from '../../errors.js';
import * as libc from '../../native/libc.js';
import { dumpFdb, learnDump } from '../fdb-dump.js';
import type { DatapathOptions, PortStats, Stats } from '../messages.js';
import { Ingress } from '../bpf.js';
import { PortClaim } from './claim.js';
import { openBigSendSocket, openPacketSocket, takeRingDrops } from './packet-socket.js';
import { emit, journalDue, journalFdb, POLLFD_SIZE, postJournalIfDue, runThread, serveRequests, setPollFd, statsReply } from '../thread.js';
import { ringGeometry } from './ring.js';
import { RingSet } from './ringset.js';
import { LinkMonitor, type LinkOwner } from '../link-monitor.js';
import { releaseRx, readRx } from './rx-ring.js';
import { TxRings } from './tx-ring.js';
import { CAPTURE_DROPS, CAPTURE_IN } from '../capture-ring.js';
import { CaptureTap } from './capture-tap.js';

const BATCH_SIZE = 64;
/**
 * Big frames (GSO, jumbo) one batch can hold, each in a 68 KiB buffer: 16 is
 * 1 MiB of data per port per round, and keeps the buffers' memory at 1.1 MiB.
 */
const BIG_RX_SLOTS = 16;
/** While busy, look at control messages and link events this often (ms). */
const BUSY_POLL_INTERVAL_MS = 1;
const FIXED_FDS = 2; // eventfd, rtnetlink

class UserWorker implements LinkOwner {
  private readonly rings: RingSet;
  private readonly tx: TxRings;
  private readonly fwd: Forwarder;
  private readonly batch: Batch;
  private readonly wakeFd: number;
  private readonly links: LinkMonitor;
  /** Attached ports, in pollfd order. */
  private readonly active: Int32Array;
  private activeCount = 0;
  private readonly pollfds: Uint8Array;
  private readonly pollView: DataView;
  private nfds = FIXED_FDS;
  private readonly ifindex: Int32Array;
  private readonly ifname: string[];
  private readonly ringDrops: Float64Array;
  /** The program that keeps a port's frames from the host's stack: loaded with the first port, null where it could not be. */
  private claim: PortClaim | null | undefined;
  /** Per port: the fd of its claim link, -1 while unclaimed. */
  private readonly claimFd: Int32Array;
  /** `vswconfig capture`: per port flags and the ring to the main thread. */
  private readonly tap: CaptureTap;
  stopping = false;

  constructor(
    private readonly options: DatapathOptions,
    private readonly ctl: MessagePort,
    capture: SharedArrayBuffer,
  ) {
    const geometry = ringGeometry(options.rxFrames, options.txFrames);
    this.rings = new RingSet(options.maxPorts, geometry, BIG_RX_SLOTS);
    const drops = new Float64Array(REASON_COUNT);
    this.tx = new TxRings(this.rings, drops);
    this.fwd = new Forwarder(
      {
        maxPorts: options.maxPorts,
        fdbSize: options.fdbSize,
        agingMs: options.agingMs,
        fdbPortLimit: options.fdbPortLimit,
        hashSecret: options.hashSecret,
        drops,
      },
      this.tx,
    );
    journalFdb(this.fwd.fdb);
    this.batch = new Batch(BATCH_SIZE, this.rings.mem);
    this.tap = new CaptureTap(options.maxPorts, capture);
    this.tx.captureTo(this.tap);
    this.active = new Int32Array(options.maxPorts);
    this.ifindex = new Int32Array(options.maxPorts).fill(-1);
    this.ifname = new Array<string>(options.maxPorts).fill('');
    this.ringDrops = new Float64Array(options.maxPorts);
    this.claimFd = new Int32Array(options.maxPorts).fill(-1);
    this.pollfds = new Uint8Array((options.maxPorts + FIXED_FDS) * POLLFD_SIZE);
    this.pollView = new DataView(this.pollfds.buffer);
    this.wakeFd = libc.eventfd(0, libc.EFD_NONBLOCK | libc.EFD_CLOEXEC);
    this.links = new LinkMonitor();
    setPollFd(this.pollView, 0, this.wakeFd);
    setPollFd(this.pollView, 1, this.links.fd);
  }

  get eventFd(): number {
    return this.wakeFd;
  }

  run(): void {
    const rings = this.rings;
    const fwd = this.fwd;
    const batch = this.batch;
    const drops = fwd.drops;
    const agingMs = this.options.agingMs;
    const tap = this.tap;
    const captured = tap.flags;
    const epoch = performance.timeOrigin;
    // After the last frame, keep reading the rings spinMs (default 0.1) before
    // blocking in poll(): an answer to what was just forwarded (a ping reply, a
    // TCP ACK) usually comes back within it and is then forwarded without a
    // thread wake-up, which costs 40-50 µs when it crosses CPUs on a VM.
    const spinMs = this.options.spinMs;
    let now = performance.now();
    let nextGc = now + agingMs;
    let lastPoll = -Infinity;
    let lastFrame = -Infinity;
    while (!this.stopping) {
      const spinning = now - lastFrame < spinMs;
      if (!spinning || now - lastPoll >= BUSY_POLL_INTERVAL_MS) {
        const timeout = spinning ? 0 : Math.max(0, Math.min(0x7fffffff, Math.ceil(Math.min(nextGc, journalDue()) - now)));
        const ready = libc.poll(this.pollfds, this.nfds, timeout);
        now = lastPoll = performance.now();
        if (ready > 0) this.serviceFds();
        if (this.stopping) break;
      }
      if (now >= nextGc) nextGc = Math.min(fwd.expire(now), now + agingMs);
      postJournalIfDue(now);
      let frames = 0;
      const active = this.active;
      tap.time = epoch + now;
      for (let k = 0; k < this.activeCount; k++) {
        const p = active[k];
        if (readRx(rings, p, batch, drops) === 0) continue;
        frames++;
        const c = captured[p];
        if ((c & CAPTURE_IN) !== 0) tap.entering(batch, p);
        fwd.process(batch, p, now);
        if ((c & CAPTURE_DROPS) !== 0) tap.dropped(batch, p, fwd);
        this.tx.flushBig(); // before the next readRx reuses the big buffers
        releaseRx(rings, batch);
      }
      this.tx.kickAll(active, this.activeCount);
      tap.publish();
      now = performance.now();
      if (frames !== 0) lastFrame = now;
    }
    this.shutdown();
  }

  // ---- control path (not per frame) ----

  private serviceFds(): void {
    const v = this.pollView;
    if ((v.getInt16(6, true) & libc.POLLIN) !== 0) {
      libc.drainEventfd(this.wakeFd);
      this.serviceControl();
    }
    if ((v.getInt16(POLLFD_SIZE + 6, true) & libc.POLLIN) !== 0) this.links.service(this);
    for (let k = 0; k < this.activeCount; k++) {
      const revents = v.getInt16((FIXED_FDS + k) * POLLFD_SIZE + 6, true);
      // ENETDOWN (link down) or ENODEV (interface gone) is reported on the socket;
      // rtnetlink tells which, so here the error is only cleared.
      if ((revents & libc.POLLERR) !== 0) libc.takeSocketError(this.rings.fd[this.active[k]]);
    }
  }

  private serviceControl(): void {
    serveRequests(this.ctl, this);
  }

  // ---- RequestTarget: the control plane's requests ----

  fdbDump(): unknown {
    return dumpFdb(this.fwd.fdb, performance.now());
  }

  /** Nothing is handed over in the kernel: a restart stops this datapath and the new vswitchd opens the ports again. */
  handOver(): never {
    throw new VswError('EUSAGE', 'the userspace datapath hands nothing over: it is stopped, and its ports opened again');
  }

  adopted(): void {
    // nothing was adopted
  }

  /** A restart's new vswitchd: the old one's FDB with its ages (its ports are at the same slots). */
  seedFdb(dump: Uint32Array): void {
    learnDump(this.fwd.fdb, dump, performance.now());
  }

  requestStop(): void {
    this.stopping = true;
  }

  addPort(port: number, ifname: string, ifindex: number): void {
    if (port < 0 || port >= this.options.maxPorts || this.rings.fd[port] !== -1) {
      throw new VswError('EINTERNAL', `port slot ${port} is not free`);
    }
    const link = readLinkStateSync(ifname, ifindex);
    const bigFd = openBigSendSocket(ifindex, ifname);
    let fd: number;
    try {
      fd = openPacketSocket(ifindex, ifname, this.rings.geometry, this.rings.slotAddress(port));
    } catch (err) {
      libc.close(bigFd);
      this.rings.reserve(port); // the rings may have been mapped before the failure
      throw err;
    }
    this.rings.attach(port, fd, bigFd);
    this.ifindex[port] = ifindex;
    this.ifname[port] = ifname;
    this.ringDrops[port] = 0;
    this.claimPort(port, ifname, ifindex);
    this.fwd.attach(port, link.up, link.mtu);
    this.active[this.activeCount++] = port;
    this.rebuildPollFds();
  }

  /** Takes the port's frames from the host's stack; where the kernel cannot, says so and goes on. */
  private claimPort(port: number, ifname: string, ifindex: number): void {
    if (this.claim === undefined) this.claim = loadClaim(new Ingress(this.options.attach, this.options.tcWatchdogFd));
    if (this.claim === null) return;
    try {
      this.claimFd[port] = this.claim.attach(ifindex, ifname);
    } catch (err) {
      emit({ event: 'log', message: `${ifname}: frames also reach the host's stack: ${(err as Error).message}` });
    }
  }

  setVlan(port: number, vlan: PortVlan): void {
    if (!this.fwd.isAttached(port)) throw new VswError('ENOTATTACHED', `port ${port} is not attached`);
    this.fwd.setVlan(port, vlan);
  }

  setAcl(table: AclTable): void {
    this.fwd.setAcl(table);
  }

  aclHits(): number[] {
    return this.fwd.aclHitCounts();
  }

  setMirrors(table: MirrorTable): void {
    this.fwd.setMirrors(table);
  }

  setCapture(flags: Array<[number, number]>): void {
    this.tap.set(flags);
  }

  mirrorCopies(): number[] {
    return this.fwd.mirrorCopyCounts();
  }

  /** The forwarder's clock is performance.now(), as in the loop. */
  trace(frame: TraceFrame): Trace {
    return this.fwd.trace(frame, performance.now());
  }

  removePort(port: number): void {
    const k = this.active.subarray(0, this.activeCount).indexOf(port);
    if (k < 0) throw new VswError('ENOTATTACHED', `port slot ${port} is not attached`);
    this.fwd.detach(port);
    if (this.claimFd[port] >= 0) this.claim!.release(this.claimFd[port]);
    this.claimFd[port] = -1;
    this.rings.detach(port);
    this.active.copyWithin(k, k + 1, this.activeCount);
    this.activeCount--;
    this.ifindex[port] = -1;
    this.ifname[port] = '';
    this.rebuildPollFds();
  }

  // ---- LinkOwner: what rtnetlink reports about the ports ----

  attachedPorts(): Array<{ port: number; ifindex: number }> {
    return Array.from(this.active.subarray(0, this.activeCount), (port) => ({ port, ifindex: this.ifindex[port] }));
  }

  mtuOf(port: number): number {
    return this.fwd.mtu(port);
  }

  renamed(port: number, ifname: string): void {
    if (ifname === this.ifname[port]) return;
    this.ifname[port] = ifname;
    emit({ event: 'renamed', port, ifname });
  }

  linkChanged(port: number, up: boolean, mtu: number): void {
    const wasUp = this.fwd.isUp(port);
    const oldMtu = this.fwd.mtu(port);
    if (up === wasUp && mtu === oldMtu) return;
    this.fwd.setLink(port, up, mtu);
    emit({ event: 'link', port, up, mtu, wasUp, oldMtu });
  }

  portGone(port: number): void {
    this.removePort(port);
    emit({ event: 'gone', port });
  }

  portOfIfindex(ifindex: number): number {
    for (let k = 0; k < this.activeCount; k++) if (this.ifindex[this.active[k]] === ifindex) return this.active[k];
    return -1;
  }

  stats(): Stats {
    const ports: PortStats[] = [];
    for (let k = 0; k < this.activeCount; k++) {
      const p = this.active[k];
      try {
        this.ringDrops[p] += takeRingDrops(this.rings.fd[p]);
      } catch {
        // a socket whose interface just vanished: keep the last count
      }
      ports.push({
        port: p,
        up: this.fwd.isUp(p),
        mtu: this.fwd.mtu(p),
        rxFrames: this.fwd.rxFrames[p],
        rxBytes: this.fwd.rxBytes[p],
        txFrames: this.fwd.txFrames[p],
        txBytes: this.fwd.txBytes[p],
        rxRingDrops: this.ringDrops[p],
      });
    }
    return { ...statsReply(ports, this.fwd.drops, this.fwd.fdb), capturePorts: this.tap.portsFlagged() };
  }

  private rebuildPollFds(): void {
    for (let k = 0; k < this.activeCount; k++) setPollFd(this.pollView, FIXED_FDS + k, this.rings.fd[this.active[k]]);
    this.nfds = FIXED_FDS + this.activeCount;
  }

  private shutdown(): void {
    while (this.activeCount > 0) this.removePort(this.active[this.activeCount - 1]);
    this.claim?.close();
    this.links.close();
    libc.close(this.wakeFd);
    this.ctl.close();
  }
}

function loadClaim(ingress: Ingress): PortClaim | null {
  try {
    return PortClaim.load(ingress);
  } catch (err) {
    emit({
      event: 'log',
      message: `cannot load the port claim program (${(err as Error).message}): ports' frames also reach the host's stack`,
    });
    return null;
  }
}


// ---- thread entry ----
runThread((data) => new UserWorker(data.options, data.ctl, data.capture));
