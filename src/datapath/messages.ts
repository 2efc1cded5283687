// Messages between the control plane (main thread) and the datapath worker.
// Requests carry an id; the worker answers each with a Reply of the same id.
// Events are sent by the worker unasked (link changes, interfaces gone, logs).

import type { AclTable } from '../core/acl.js';
import type { MirrorTable } from '../core/mirror.js';
import type { TraceFrame } from '../core/trace.js';
import type { PortVlan } from '../core/vlan.js';
import type { ErrorCode } from '../errors.js';
import type { AttachMode } from './bpf.js';

export interface DatapathOptions {
  maxPorts: number;
  fdbSize: number;
  agingMs: number;
  /** Most FDB entries a port learns (0: no limit). */
  fdbPortLimit: number;
  /** Seed of the FDB's index hash: random per process (uint32), see core/fdb.ts. */
  hashSecret: number;
  /** Frames per RX ring and per TX ring of each port. */
  rxFrames: number;
  txFrames: number;
  /** After the last frame, keep reading the rings this long (ms) before sleeping in poll(). */
  spinMs: number;
  /** How programs are attached at tc ingress (both datapaths); default tcx. */
  attach?: AttachMode;
  /** Kernel datapath: which known unicast for a veth peer's own MAC enters the peer directly (bpf_redirect_peer); default all. */
  redirectPeer?: RedirectPeer;
  /** tc mode: the write end of the watchdog's pipe (tc.ts), -1 or absent: none. */
  tcWatchdogFd?: number;
  /** A restart's new vswitchd (kernel datapath): take over what the old one handed over, instead of starting afresh. */
  adopt?: AdoptOptions;
}

/**
 * vswitchd --redirect-peer: which frames of known unicast for a veth peer in
 * another netns skip the veth's TX and backlog (bpf_redirect_peer): all, small
 * (all but GSO frames), auto (all but frames for a station that took a GSO
 * frame in the last second) or none (every frame through the veth's TX, as the
 * bridge sends). README "Where a frame leaves" says what each costs.
 */
export type RedirectPeer = 'all' | 'small' | 'auto' | 'none';
export const REDIRECT_PEER: readonly RedirectPeer[] = ['all', 'small', 'auto', 'none'];

/** What a restart's old vswitchd handed over (kernel datapath, src/daemon/restart.ts). */
export interface AdoptOptions {
  /** The bpffs directory of its pins (kernel/handover.ts). */
  pinDir: string;
  /** tc mode: the interfaces whose clsact qdisc the old vswitchd made. */
  qdiscsMade: number[];
}

/** A port as a restart's old vswitchd hands it over. */
export interface HandedOverPort {
  port: number;
  ifindex: number;
  /** tc mode: vswitchd made the port's clsact qdisc. */
  qdiscMade: boolean;
}

export type Request =
  | { id: number; op: 'add'; port: number; ifname: string; ifindex: number }
  | { id: number; op: 'delete'; port: number }
  /** The port's 802.1Q mode (checked by the control plane): applies to the next frame. */
  | { id: number; op: 'vlan'; port: number; vlan: PortVlan }
  /** The whole ACL, in match order (core/acl.ts): applies to the next frame; rules kept by id keep their hits. */
  | { id: number; op: 'acl'; table: AclTable }
  /** Answered with the hits of each rule of the last table, in its order. */
  | { id: number; op: 'aclHits' }
  /** The whole set of mirrors (core/mirror.ts): applies to the next frame; mirrors kept by name keep their counts. */
  | { id: number; op: 'mirrors'; table: MirrorTable }
  /** Answered with the frames each mirror of the last table copied, in its order. */
  | { id: number; op: 'mirrorCopies' }
  /** What `vswconfig capture` takes from each port ([port, CAPTURE_* flags], capture-ring.ts); none: nothing, the ring emptied. */
  | { id: number; op: 'capture'; flags: Array<[number, number]> }
  /** Answered with the Trace (core/trace.ts) of a made-up frame; nothing is sent or changed. */
  | { id: number; op: 'trace'; frame: TraceFrame }
  /** Answered with an FdbDump (fdb-dump.ts). */
  | { id: number; op: 'fdb' }
  | { id: number; op: 'stats' }
  /** Answered with the thread's ThreadMemory. */
  | { id: number; op: 'memory' }
  | { id: number; op: 'shutdown' }
  /** Restart, old vswitchd (kernel datapath): pin the maps and links in `dir` and leave them be; answered with HandedOverPort[]. */
  | { id: number; op: 'handover'; dir: string }
  /** Restart, new vswitchd (kernel datapath): the configuration replayed, publish it and unpin what was taken. */
  | { id: number; op: 'adopted' }
  /** Restart, new vswitchd: the old one's FDB (an FdbDump), learned with its ages. */
  | { id: number; op: 'seedFdb'; dump: Uint32Array };

/** The datapath thread's own V8 heap (its isolate's: process-wide figures such as RSS are the main thread's to read), bytes. */
export interface ThreadMemory {
  heapUsed: number;
  heapTotal: number;
  external: number;
}

export interface PortStats {
  port: number;
  up: boolean;
  mtu: number;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames the kernel dropped because the RX ring was full (PACKET_STATISTICS). */
  rxRingDrops: number;
}

export interface Stats {
  ports: PortStats[];
  /** Drop counts by reason name (see core/reasons.ts). */
  drops: Record<string, number>;
  /**
   * refused: learns refused by the per-port limit; suppressed (kernel datapath): learn events for
   * stations not learned (port at its limit, map full) the program did not send, over the port's budget.
   */
  fdb: { entries: number; learned: number; moved: number; expired: number; evicted: number; flushed: number; refused: number; suppressed: number };
  /** Ports the datapath copies frames of for `vswconfig capture` (a flag set): 0 while none runs. */
  capturePorts?: number;
}

export type Reply =
  | { id: number; ok: true; result?: unknown }
  | { id: number; ok: false; code: ErrorCode; message: string };

export type DatapathEvent =
  /** Link state or MTU of a port changed (rtnetlink): as it is now, and as the datapath had it. */
  | { event: 'link'; port: number; up: boolean; mtu: number; wasUp: boolean; oldMtu: number }
  /** The interface of a port was deleted (or left this network namespace); the port is gone. */
  | { event: 'gone'; port: number }
  /** The interface of a port was renamed; the port stays. */
  | { event: 'renamed'; port: number; ifname: string }
  | { event: 'log'; message: string }
  /** What the FDB did since the last one (core/fdb-journal.ts): records of FDB_EV_WORDS words, and by kind those not kept. */
  | { event: 'fdb'; records: Int32Array; overflow: number[] };
