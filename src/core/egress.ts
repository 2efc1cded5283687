// How the forwarding core hands a frame to a port. The AF_PACKET datapath
// implements it over TX rings (and hands them to the kernel once per batch);
// tests implement it over arrays.

import type { Batch } from './batch.js';

export interface Egress {
  /**
   * Queue frame `i` of `batch` (stripped tag put back) for transmission on
   * `port`. Returns false if the frame could not be queued (ring full, …);
   * the caller counts that.
   */
  transmit(port: number, batch: Batch, i: number): boolean;
}
