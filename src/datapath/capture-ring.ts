// The frames `vswconfig capture` asked for, on their way from a datapath
// thread to the main thread: one ring in a SharedArrayBuffer, one producer
// (the datapath thread) and one consumer (the daemon's captures,
// src/daemon/capture.ts). The producer writes records without allocating and
// publishes them once per batch (one store of the head); a record that finds
// no room is counted as lost, never waited for. Each frame is stored as it was
// on the wire: a tag the kernel took into metadata is put back after the MACs.
//
// Layout: words 0-3 of the header are head, tail (byte positions, mod 2^32),
// lost (records dropped for want of room); then the data. A record, 8-aligned:
//
//   0  u32 its length (header and bytes, before alignment); WRAP: go to 0
//   4  u16 port slot   6  u8 kind (CAPTURE_KIND_*)   7  u8 drop reason
//   8  f64 time (ms since the epoch)
//  16  u32 the frame's length on the wire   20 u32 bytes stored
//  24  i32 the ACL rule that dropped it (its id), or -1   28 pad
//  32  the frame's first bytes

/** Per port, what is captured: frames entering it, leaving it, and frames the switch dropped there (on arrival, or refused on their way out of it). */
export const CAPTURE_IN = 1;
export const CAPTURE_OUT = 2;
export const CAPTURE_DROPS = 4;

/** What a record is. */
export const CAPTURE_KIND_IN = 0;
export const CAPTURE_KIND_OUT = 1;
export const CAPTURE_KIND_DROP = 2;

/** Bytes of a frame kept, at most (the rest is only counted in its length). */
export const CAPTURE_SNAPLEN = 1600;
export const CAPTURE_RING_BYTES = 4 << 20;

const HEADER_BYTES = 64;
const REC_HDR = 32;
const WRAP = 0xffffffff;
const H_HEAD = 0;
const H_TAIL = 1;
const H_LOST = 2;

/** A captured frame as the consumer sees it (the bytes are a view into the ring, valid only during the call). */
export interface CapturedFrame {
  port: number;
  kind: number;
  reason: number;
  timeMs: number;
  wireLen: number;
  rule: number;
  bytes: Uint8Array;
}

export function newCaptureBuffer(dataBytes = CAPTURE_RING_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + dataBytes);
}

class RingView {
  protected readonly hdr: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly view: DataView;
  protected readonly size: number;
  constructor(buf: SharedArrayBuffer) {
    this.hdr = new Int32Array(buf, 0, HEADER_BYTES >>> 2);
    this.data = new Uint8Array(buf, HEADER_BYTES);
    this.view = new DataView(buf, HEADER_BYTES);
    this.size = this.data.length;
  }
}

/** The datapath thread's side. */
export class CaptureWriter extends RingView {
  /** Where the next record goes: ahead of the published head until publish(). */
  private head: number;
  private pending = false;

  constructor(buf: SharedArrayBuffer) {
    super(buf);
    this.head = Atomics.load(this.hdr, H_HEAD) >>> 0;
  }

  /**
   * Room for a record of `stored` frame bytes: the offset in `bytes` to
   * write them at, or -1 (counted as lost). Follow with commit().
   */
  reserve(port: number, kind: number, reason: number, rule: number, timeMs: number, wireLen: number, stored: number): number {
    const need = (REC_HDR + stored + 7) & ~7;
    const tail = Atomics.load(this.hdr, H_TAIL) >>> 0;
    let at = this.head % this.size;
    const toEnd = this.size - at;
    const used = (this.head - tail) >>> 0;
    const extra = toEnd < need ? toEnd : 0;
    if (used + extra + need > this.size) {
      Atomics.add(this.hdr, H_LOST, 1);
      return -1;
    }
    if (extra !== 0) {
      this.view.setUint32(at, WRAP, true);
      this.head = (this.head + extra) >>> 0;
      at = 0;
    }
    const v = this.view;
    v.setUint32(at, REC_HDR + stored, true);
    v.setUint16(at + 4, port, true);
    v.setUint8(at + 6, kind);
    v.setUint8(at + 7, reason);
    v.setFloat64(at + 8, timeMs, true);
    v.setUint32(at + 16, wireLen, true);
    v.setUint32(at + 20, stored, true);
    v.setInt32(at + 24, rule, true);
    this.head = (this.head + need) >>> 0;
    this.pending = true;
    return at + REC_HDR;
  }

  /**
   * One frame of `len` bytes (without its tag) from `src` at `off`, which
   * holds at least its first CAPTURE_SNAPLEN, with `tag` ((TPID << 16) |
   * TCI, or -1) put back after the MACs, as it was on the wire.
   */
  frame(port: number, kind: number, reason: number, rule: number, timeMs: number, src: Uint8Array, off: number, len: number, tag: number): void {
    const wire = tag === -1 || len < 12 ? len : len + 4;
    const stored = wire < CAPTURE_SNAPLEN ? wire : CAPTURE_SNAPLEN;
    const at = this.reserve(port, kind, reason, rule, timeMs, wire, stored);
    if (at < 0) return;
    const d = this.data;
    if (wire === len) {
      for (let k = 0; k < stored; k++) d[at + k] = src[off + k];
      return;
    }
    for (let k = 0; k < 12; k++) d[at + k] = src[off + k];
    d[at + 12] = tag >>> 24;
    d[at + 13] = (tag >>> 16) & 0xff;
    d[at + 14] = (tag >>> 8) & 0xff;
    d[at + 15] = tag & 0xff;
    for (let k = 16; k < stored; k++) d[at + k] = src[off + k - 4];
  }

  /** Counts `n` records lost before they reached this ring (the kernel's own ring was full). */
  addLost(n: number): void {
    if (n > 0) Atomics.add(this.hdr, H_LOST, n);
  }

  /** The bytes records are written into (at reserve()'s offsets). */
  get bytes(): Uint8Array {
    return this.data;
  }

  /** Makes the records written since the last call visible to the consumer (once per batch). */
  publish(): void {
    if (!this.pending) return;
    this.pending = false;
    Atomics.store(this.hdr, H_HEAD, this.head | 0);
  }

  /** Forgets what was written and not read: when the last capture ends. */
  reset(): void {
    this.head = Atomics.load(this.hdr, H_TAIL) >>> 0;
    this.pending = false;
    Atomics.store(this.hdr, H_HEAD, this.head | 0);
  }
}

/** The main thread's side. */
export class CaptureReader extends RingView {
  /** Records lost so far (the writer had no room). */
  get lost(): number {
    return Atomics.load(this.hdr, H_LOST) >>> 0;
  }

  /** Hands each published record to `sink`, in order; returns how many. */
  drain(sink: (f: CapturedFrame) => void): number {
    const head = Atomics.load(this.hdr, H_HEAD) >>> 0;
    let tail = Atomics.load(this.hdr, H_TAIL) >>> 0;
    const v = this.view;
    const f: CapturedFrame = { port: 0, kind: 0, reason: 0, timeMs: 0, wireLen: 0, rule: -1, bytes: this.data };
    let n = 0;
    while (tail !== head) {
      const at = tail % this.size;
      const len = v.getUint32(at, true);
      if (len === WRAP) {
        tail = (tail + this.size - at) >>> 0;
        continue;
      }
      f.port = v.getUint16(at + 4, true);
      f.kind = v.getUint8(at + 6);
      f.reason = v.getUint8(at + 7);
      f.timeMs = v.getFloat64(at + 8, true);
      f.wireLen = v.getUint32(at + 16, true);
      const stored = v.getUint32(at + 20, true);
      f.rule = v.getInt32(at + 24, true);
      f.bytes = this.data.subarray(at + REC_HDR, at + REC_HDR + stored);
      sink(f);
      n++;
      tail = (tail + ((len + 7) & ~7)) >>> 0;
    }
    Atomics.store(this.hdr, H_TAIL, tail | 0);
    return n;
  }
}
