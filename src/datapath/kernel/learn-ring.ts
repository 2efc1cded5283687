// The consumer side of the kernel datapath's `events` ring (a
// BPF_MAP_TYPE_RINGBUF): what vsw_forward learned, moved, refreshed, or could
// not learn because the FDB map was full. The ring is mapped into this
// process and read with plain loads, as libbpf's ring_buffer__poll() reads it
// (no system call per record): the consumer position page read-write, the
// producer position page and the data (mapped twice, so a record never wraps)
// read-only. Its fd is pollable: POLLIN while records wait.

import * as libc from '../../native/libc.js';

const HDR_SIZE = 8;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;

/** The high word of an FDB key: VID (bits 16-27) and the MAC's first two octets. */
export const KEY_HI_MASK = 0x0fffffff;

/** What the program did with a learn (VSW_EV_*, bpf/datapath.h). */
export const LEARNED = 0;
export const NOT_LEARNED_FULL = 1;
export const NOT_LEARNED_LIMITED = 2;

/** A learn event's fields (struct vsw_learn_event, bpf/datapath.h). */
export interface LearnSink {
  /**
   * The key (VLAN, MAC) as hi (VID << 16 | first two octets) and lo (last
   * four, int32), as Fdb.learnHL takes it; seenMs on CLOCK_MONOTONIC;
   * evictedHi/evictedLo: the key the program deleted to make room, or 0, 0.
   */
  onLearn(hi: number, lo: number, port: number, kind: number, seenMs: number, evictedHi: number, evictedLo: number): void;
}

export class LearnRing {
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly data: DataView;
  private readonly words: Int32Array;
  private readonly mask: number;
  private readonly consAddr: bigint;
  private readonly prodAddr: bigint;
  private readonly page: number;

  constructor(
    readonly fd: number,
    private readonly size: number,
  ) {
    this.page = libc.pageSize();
    this.consAddr = libc.mmap(0n, this.page, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd, 0);
    try {
      this.prodAddr = libc.mmap(0n, this.page + 2 * size, libc.PROT_READ, libc.MAP_SHARED, fd, this.page);
    } catch (err) {
      libc.munmap(this.consAddr, this.page);
      throw err;
    }
    this.consumer = new BigUint64Array(libc.view(this.consAddr, 8));
    const prod = libc.view(this.prodAddr, this.page + 2 * size);
    this.producer = new BigUint64Array(prod, 0, 1);
    this.data = new DataView(prod, this.page);
    this.words = new Int32Array(prod, this.page);
    this.mask = size - 1;
  }

  /** Hands every waiting record to `sink`; returns how many. */
  drain(sink: LearnSink): number {
    let cons = Number(Atomics.load(this.consumer, 0));
    let n = 0;
    for (;;) {
      const prod = Number(Atomics.load(this.producer, 0));
      if (cons >= prod) break;
      while (cons < prod) {
        const at = cons & this.mask;
        const len = Atomics.load(this.words, at >>> 2) >>> 0;
        if ((len & BUSY) !== 0) {
          Atomics.store(this.consumer, 0, BigInt(cons));
          return n;
        }
        if ((len & DISCARD) === 0) {
          const d = this.data;
          const rec = at + HDR_SIZE;
          // struct vsw_learn_event: u64 mac, u32 port, u32 kind, u64 seen_ns, u64 evicted
          const lo = d.getInt32(rec, true);
          const hi = d.getUint32(rec + 4, true) & KEY_HI_MASK;
          const port = d.getUint32(rec + 8, true);
          const kind = d.getUint32(rec + 12, true);
          const seenMs = (d.getUint32(rec + 20, true) * 4294967296 + d.getUint32(rec + 16, true)) / 1e6;
          sink.onLearn(hi, lo, port, kind, seenMs, d.getUint32(rec + 28, true) & KEY_HI_MASK, d.getInt32(rec + 24, true));
          n++;
        }
        cons += ((len & ~(BUSY | DISCARD)) + HDR_SIZE + 7) & ~7;
      }
      Atomics.store(this.consumer, 0, BigInt(cons));
    }
    return n;
  }

  close(): void {
    libc.munmap(this.prodAddr, this.page + 2 * this.size);
    libc.munmap(this.consAddr, this.page);
  }
}
