// `vswconfig capture` in the userspace datapath: copies of the frames of the
// captured ports into the capture ring (../capture-ring.ts), which the main
// thread reads. `flags[port]` (CAPTURE_IN | CAPTURE_OUT | CAPTURE_DROPS) is
// the one thing the loop reads while no capture runs: a byte per batch for
// in and drops, a byte per transmitted frame for out, a byte per frame
// refused at egress (tx-ring.ts: a drop there is recorded on the egress
// port, with its reason). The copy is byte by
// byte into the shared ring: nothing is allocated per frame.

import { type Batch, DROP } from '../../core/batch.js';
import { Reason } from '../../core/reasons.js';
import { CAPTURE_KIND_DROP, CAPTURE_KIND_IN, CAPTURE_KIND_OUT, CaptureWriter } from '../capture-ring.js';

/** Names the rules of the ACL in force by their index (the Forwarder). */
interface AclIds {
  aclRuleId(k: number): number;
}

export class CaptureTap {
  /** Per port: what is captured (CAPTURE_*); all zero while no capture runs. */
  readonly flags: Uint8Array;
  private readonly ring: CaptureWriter;
  /** Wall time (ms since the epoch) of this round, set by the loop. */
  time = 0;

  constructor(maxPorts: number, buf: SharedArrayBuffer) {
    this.flags = new Uint8Array(maxPorts);
    this.ring = new CaptureWriter(buf);
  }

  /** Every frame of a batch received on `port`, as it came. */
  entering(batch: Batch, port: number): void {
    for (let i = 0; i < batch.count; i++) {
      this.ring.frame(port, CAPTURE_KIND_IN, 0, -1, this.time, batch.mem, batch.off[i], batch.len[i], batch.vlan[i]);
    }
  }

  /** Frame i of `batch` as it leaves `port` (its tag as the egress set it). */
  leaving(batch: Batch, i: number, port: number): void {
    this.ring.frame(port, CAPTURE_KIND_OUT, 0, -1, this.time, batch.mem, batch.off[i], batch.len[i], batch.vlan[i]);
  }

  /** The frames of a batch from `port` the core dropped, with their reasons (an ACL rule by its id). */
  dropped(batch: Batch, port: number, acl: AclIds): void {
    for (let i = 0; i < batch.count; i++) {
      if (batch.verdict[i] !== DROP) continue;
      const why = batch.why[i];
      const reason = why & 0xff;
      const rule = reason === Reason.ACL_DROP ? acl.aclRuleId(why >>> 8) : -1;
      this.ring.frame(port, CAPTURE_KIND_DROP, reason, rule, this.time, batch.mem, batch.off[i], batch.len[i], batch.vlan[i]);
    }
  }

  /**
   * Frame i of `batch`, refused on its way out of `port` for `reason` after
   * the forwarding decision (the core's refused(): MTU, port down, VLAN, TX
   * ring full), as it was then.
   */
  refused(batch: Batch, i: number, port: number, reason: number): void {
    this.ring.frame(port, CAPTURE_KIND_DROP, reason, -1, this.time, batch.mem, batch.off[i], batch.len[i], batch.vlan[i]);
  }

  /**
   * A frame already built for `port` (tag inline) at `off` in `mem`, `len`
   * bytes, dropped by the TX side for `reason` (tx-error, port-down).
   */
  refusedBuilt(mem: Uint8Array, off: number, len: number, port: number, reason: number): void {
    this.ring.frame(port, CAPTURE_KIND_DROP, reason, -1, this.time, mem, off, len, -1);
  }

  /** Ports with a flag: 0 while no capture runs (`stats -j`'s captures.ports). */
  portsFlagged(): number {
    let n = 0;
    for (let p = 0; p < this.flags.length; p++) if (this.flags[p] !== 0) n++;
    return n;
  }

  /** Makes this round's records visible to the main thread. */
  publish(): void {
    this.ring.publish();
  }

  /** The ports' flags from now on; none: the ring is emptied. */
  set(flags: ReadonlyArray<readonly [number, number]>): void {
    this.flags.fill(0);
    for (const [port, f] of flags) if (port >= 0 && port < this.flags.length) this.flags[port] = f;
    if (flags.length === 0) this.ring.reset();
  }
}
