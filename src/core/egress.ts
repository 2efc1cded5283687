// How the forwarding core hands a frame to a port. The AF_PACKET datapath
// implements it over TX rings (and hands them to the kernel once per batch);
// tests implement it over arrays. It is also told each copy the core
// refuses after the forwarding decision, for `vswconfig capture drops`.

import type { Batch } from './batch.js';

export interface Egress {
  /**
   * Queue frame `i` of `batch` (stripped tag put back) for transmission on
   * `port`. Returns false if the frame could not be queued (ring full, …);
   * the caller counts that.
   */
  transmit(port: number, batch: Batch, i: number): boolean;

  /**
   * Frame `i` was refused on its way out of `port` for `reason` (a Reason:
   * the port down, the MTU, the VLAN, transmit() refusing it), after the
   * core counted it: a datapath shows it to a capture of that port's drops.
   * Called per refused copy only, never for a frame that leaves.
   */
  refused(port: number, batch: Batch, i: number, reason: number): void;
}
