// What both datapaths' threads share: answering the control plane's requests
// (read synchronously from the MessagePort after a wake-up on the eventfd),
// events to it, pollfd entries, and the thread's start-up handshake. The
// datapath itself (rings, or the eBPF program's maps) is each thread's own.

import { getHeapStatistics } from 'node:v8';
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { Fdb } from '../core/fdb.js';
import { FdbJournal } from '../core/fdb-journal.js';
import type { AclTable } from '../core/acl.js';
import type { MirrorTable } from '../core/mirror.js';
import type { Trace, TraceFrame } from '../core/trace.js';
import type { PortVlan } from '../core/vlan.js';
import { REASON_COUNT, REASON_NAMES } from '../core/reasons.js';
import { SyscallError, VswError } from '../errors.js';
import * as libc from '../native/libc.js';
import type { DatapathEvent, DatapathOptions, PortStats, Reply, Request, Stats, ThreadMemory } from './messages.js';

export const POLLFD_SIZE = 8;

export interface ThreadData {
  options: DatapathOptions;
  ctl: MessagePort;
  /** The capture ring (capture-ring.ts): this thread writes, the main thread reads. */
  capture: SharedArrayBuffer;
}

export interface DatapathThread {
  /** The eventfd the control plane writes to wake the thread. */
  readonly eventFd: number;
  run(): void;
}

/** The reply to a request that failed: the error's code and message, as the control plane expects them. */
export function errorReply(id: number, err: unknown): Reply {
  if (err instanceof SyscallError) {
    const code = err.errnoName === 'ENODEV' || err.errnoName === 'ENXIO' ? 'ENODEV' : err.errnoName === 'EPERM' || err.errnoName === 'EACCES' ? 'EACCES' : 'ESYSCALL';
    return { id, ok: false, code, message: err.message };
  }
  if (err instanceof VswError) return { id, ok: false, code: err.code, message: err.message };
  return { id, ok: false, code: 'EINTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** What a datapath's thread does for each request of messages.ts. */
export interface RequestTarget {
  addPort(port: number, ifname: string, ifindex: number): void;
  removePort(port: number): void;
  setVlan(port: number, vlan: PortVlan): void;
  setAcl(table: AclTable): void;
  aclHits(): number[];
  setMirrors(table: MirrorTable): void;
  mirrorCopies(): number[];
  /** What is captured on each port from now on ([port, CAPTURE_* flags]; none: nothing). */
  setCapture(flags: Array<[number, number]>): void;
  trace(frame: TraceFrame): Trace;
  fdbDump(): unknown;
  stats(): Stats;
  /** Restart, old vswitchd: pin and stand still (the kernel datapath only). */
  handOver(dir: string): unknown;
  /** Restart, new vswitchd: publish the replayed configuration, unpin (the kernel datapath; nothing to do elsewhere). */
  adopted(): void;
  /** Restart, new vswitchd: learn the old one's FDB with its ages. */
  seedFdb(dump: Uint32Array): void;
  /** Stop after this round of requests (stopping is true from then on). */
  requestStop(): void;
  readonly stopping: boolean;
}

function handle(t: RequestTarget, req: Request): unknown {
  switch (req.op) {
    case 'add':
      return t.addPort(req.port, req.ifname, req.ifindex);
    case 'delete':
      return t.removePort(req.port);
    case 'vlan':
      return t.setVlan(req.port, req.vlan);
    case 'acl':
      return t.setAcl(req.table);
    case 'aclHits':
      return t.aclHits();
    case 'mirrors':
      return t.setMirrors(req.table);
    case 'mirrorCopies':
      return t.mirrorCopies();
    case 'capture':
      return t.setCapture(req.flags);
    case 'trace':
      return t.trace(req.frame);
    case 'fdb':
      return t.fdbDump();
    case 'stats':
      return t.stats();
    case 'memory':
      return threadMemory();
    case 'shutdown':
      return t.requestStop();
    case 'handover':
      return t.handOver(req.dir);
    case 'adopted':
      return t.adopted();
    case 'seedFdb':
      return t.seedFdb(req.dump);
  }
}

/** This thread's heap (its own isolate's), whichever datapath runs in it. */
export function threadMemory(): ThreadMemory {
  const h = getHeapStatistics();
  return { heapUsed: h.used_heap_size, heapTotal: h.total_heap_size, external: h.external_memory };
}

/** Answers every waiting request; stops early after a shutdown. */
export function serveRequests(ctl: MessagePort, t: RequestTarget): void {
  for (;;) {
    const m = receiveMessageOnPort(ctl);
    if (m === undefined) return;
    const req = m.message as Request;
    let reply: Reply;
    try {
      reply = { id: req.id, ok: true, result: handle(t, req) };
    } catch (err) {
      reply = errorReply(req.id, err);
    }
    postJournal(); // what the request did to the FDB (a flush) comes before its answer
    parentPort!.postMessage(reply);
    if (t.stopping) return;
  }
}

/** Learn events the kernel's program did not send (over a port's budget), by why the station was not learned. */
export interface SuppressedEvents {
  limited: number;
  full: number;
}

/**
 * A `stats` reply: the ports' counters, drops by reason name, the FDB's
 * counters. A suppressed event of a port at its limit is a refusal the Fdb
 * never heard of: it counts in `refused` too, as the userspace datapath
 * counts each such frame.
 */
export function statsReply(ports: PortStats[], counted: ArrayLike<number>, f: Fdb, suppressed: SuppressedEvents = { limited: 0, full: 0 }): Stats {
  const drops: Record<string, number> = {};
  for (let r = 0; r < REASON_COUNT; r++) drops[REASON_NAMES[r]] = counted[r];
  return {
    ports,
    drops,
    fdb: {
      entries: f.count,
      learned: f.learned,
      moved: f.moved,
      expired: f.expired,
      evicted: f.evicted,
      flushed: f.flushed,
      refused: f.refused + suppressed.limited,
      suppressed: suppressed.limited + suppressed.full,
    },
  };
}

export function emit(ev: DatapathEvent): void {
  postJournal();
  parentPort!.postMessage(ev);
}

/** The FDB's journal is posted at most this often (and before each reply and event). */
export const JOURNAL_POST_MS = 100;

let journal: FdbJournal | null = null;
let lastJournalPost = -Infinity;

/** Journal the thread's FDB (core/fdb-journal.ts) for `vswconfig monitor`. */
export function journalFdb(fdb: Fdb): void {
  journal = fdb.journal = new FdbJournal();
}

/** When the journal should next be posted (the loop's poll() wakes by then): Infinity while it is empty. */
export function journalDue(): number {
  return journal?.pending ? lastJournalPost + JOURNAL_POST_MS : Infinity;
}

/** Post the journal if it is due at `now`: one message per JOURNAL_POST_MS at most, however many frames learned. */
export function postJournalIfDue(now: number): void {
  if (now >= journalDue()) postJournal(now);
}

/** Hand the journal's records to the control plane (an 'fdb' event), if it holds any. */
function postJournal(now = performance.now()): void {
  if (journal === null || !journal.pending) return;
  lastJournalPost = now;
  const { records, overflow } = journal.take();
  parentPort!.postMessage({ event: 'fdb', records, overflow } satisfies DatapathEvent, [records.buffer as ArrayBuffer]);
}

/** Writes pollfd `index` of `view`: `fd`, waiting for POLLIN. */
export function setPollFd(view: DataView, index: number, fd: number): void {
  const at = index * POLLFD_SIZE;
  view.setInt32(at, fd, true);
  view.setInt16(at + 4, libc.POLLIN, true);
  view.setInt16(at + 6, 0, true);
}

/** The thread's entry: make the datapath, tell the control plane (ready or failed), run it. */
export function runThread(make: (data: ThreadData) => DatapathThread): void {
  const data = workerData as ThreadData;
  let t: DatapathThread;
  try {
    t = make(data);
  } catch (err) {
    parentPort!.postMessage({ event: 'failed', message: err instanceof Error ? err.message : String(err) });
    throw err;
  }
  parentPort!.postMessage({ event: 'ready', eventFd: t.eventFd });
  t.run();
}
