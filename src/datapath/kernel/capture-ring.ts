// The kernel datapath's `captured` ring (BPF_MAP_TYPE_RINGBUF, bpf-ring.ts):
// the frames vsw_forward copied for `vswconfig capture` (struct vsw_capture),
// moved by the thread into the capture ring the main thread reads
// (../capture-ring.ts), with the outer tag the kernel kept in metadata put
// back and the time made wall-clock. A bounded share per turn of the loop.

import { CaptureWriter } from '../capture-ring.js';
import { BpfRing, mapRing } from './bpf-ring.js';
import { LAYOUT } from './layout.js';

const C = LAYOUT.vsw_capture.fields;
/** Bytes of data of the map (its max_entries, a power of two). */
export const CAPTURED_RING_BYTES = 1 << 22;

/** Names an ACL rule by its index in the table in force (the spec Forwarder). */
interface AclIds {
  aclRuleId(k: number): number;
}

export class CapturedRing extends BpfRing {
  private bytes: Uint8Array | null = null;

  static map(fd: number): CapturedRing {
    const { mem, release } = mapRing(fd, CAPTURED_RING_BYTES);
    return new CapturedRing(fd, CAPTURED_RING_BYTES, mem, release);
  }

  /**
   * Moves at most `max` records to `out` (published); `monoToEpochMs` is
   * what to add to a CLOCK_MONOTONIC time in ms to make it wall-clock.
   */
  drain(out: CaptureWriter, acl: AclIds, monoToEpochMs: number, max: number): number {
    const n = this.read((d, rec) => {
      const bytes = (this.bytes ??= new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      const timeMs = (d.getUint32(rec + C.time_ns + 4, true) * 4294967296 + d.getUint32(rec + C.time_ns, true)) / 1e6 + monoToEpochMs;
      const port = d.getUint32(rec + C.port, true);
      const reason = d.getUint16(rec + C.reason, true);
      const slot = d.getInt32(rec + C.rule, true);
      // vlan_proto is in network order: read big-endian
      const tag = d.getUint32(rec + C.vlan_present, true) !== 0 ? (d.getUint16(rec + C.vlan_proto, false) << 16) | d.getUint16(rec + C.vlan_tci, true) : -1;
      const len = d.getUint32(rec + C.len, true);
      out.frame(port, d.getUint16(rec + C.kind, true), reason, slot < 0 ? -1 : acl.aclRuleId(slot), timeMs, bytes, rec + C.data, len, tag);
    }, max);
    out.publish();
    return n;
  }
}
