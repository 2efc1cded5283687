// What the control plane needs from a datapath. The real one (handle.ts) runs
// the AF_PACKET worker thread; unit tests of the control plane may use another.

import type { EventEmitter } from 'node:events';
import type { AclTable } from '../core/acl.js';
import type { MirrorTable } from '../core/mirror.js';
import type { Trace, TraceFrame } from '../core/trace.js';
import type { PortVlan } from '../core/vlan.js';
import type { FdbDump } from './fdb-dump.js';
import type { HandedOverPort, Stats, ThreadMemory } from './messages.js';

/**
 * Events: 'link' ({ port, up, mtu, wasUp, oldMtu }: what changed, from what), 'gone' ({ port }): the interface was deleted
 * and the datapath has already closed the port; 'renamed' ({ port, ifname }): the
 * interface has a new name; 'log' (message: string). A request that is not answered
 * in time rejects with DatapathTimeoutError, whose `late` tells the outcome if the
 * answer comes after all.
 */
export interface Datapath extends EventEmitter {
  /** Open the port's socket and rings and start forwarding. Rejects with VswError; on failure nothing is left behind. */
  addPort(port: number, ifname: string, ifindex: number): Promise<void>;
  /** Stop forwarding on the port, flush its FDB entries, close its socket (promiscuity is restored by the kernel). */
  removePort(port: number): Promise<void>;
  /** Give the port its 802.1Q mode (valid: checked by the caller); applies to the next frame. */
  setVlan(port: number, vlan: PortVlan): Promise<void>;
  /** Take the whole ACL (sorted, at most ACL_MAX_RULES); applies to the next frame. */
  setAcl(table: AclTable): Promise<void>;
  /** Hits of each rule of the last table, in its order. */
  aclHits(): Promise<number[]>;
  /** The whole set of mirrors, in force for the next frame; a mirror kept by name keeps its count. */
  setMirrors(table: MirrorTable): Promise<void>;
  /** Frames each mirror of the last table copied, in its order. */
  mirrorCopies(): Promise<number[]>;
  /** What is captured on each port from now on ([port, CAPTURE_* flags]); none: nothing is left of it in the datapath. */
  setCapture(flags: Array<[number, number]>): Promise<void>;
  /** The ring the datapath writes captured frames to (capture-ring.ts), read with a CaptureReader. */
  readonly captureBuffer: SharedArrayBuffer;
  /** A made-up frame through the pipeline (core/trace.ts): nothing is sent or changed. */
  trace(frame: TraceFrame): Promise<Trace>;
  /** Every live entry, compactly (see fdb-dump.ts). */
  fdb(): Promise<FdbDump>;
  stats(): Promise<Stats>;
  /** The datapath thread's heap (for the metrics; the process's RSS includes it). */
  memory(): Promise<ThreadMemory>;
  /**
   * Restart, old vswitchd (kernel datapath): pin the maps and the ports' tcx
   * links in `dir` (a bpffs) and stop touching them (no learn events read, no
   * aging) until stop(). The ports as handed over.
   */
  handOver(dir: string): Promise<HandedOverPort[]>;
  /** Restart, new vswitchd: the configuration replayed (kernel: published at once, pins removed). */
  adopted(): Promise<void>;
  /** Restart, new vswitchd: learn the old one's FDB, each entry with its age. */
  seedFdb(dump: FdbDump): Promise<void>;
  /** Close every port and end the worker. */
  stop(): Promise<void>;
}
