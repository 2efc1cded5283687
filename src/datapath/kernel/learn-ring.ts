// The consumer side of the kernel datapath's `events` ring (a
// BPF_MAP_TYPE_RINGBUF): what vsw_forward learned, moved, refreshed, or could
// not learn because the FDB map was full. The ring is mapped into this
// process and read with plain loads, as libbpf's ring_buffer__poll() reads it
// (no system call per record): the consumer position page read-write, the
// producer position page and the data (mapped twice, so a record never wraps)
// read-only. Its fd is pollable: POLLIN while records wait. The reader sees
// the ring only through RingMemory, so a test can hand it a plain buffer laid
// out the same way.

import * as libc from '../../native/libc.js';
import { FDB_KEY_HI_MASK, LAYOUT } from './layout.js';

/** Each record's header: its length with the two flag bits, then the page offset (unused here). */
const HDR_SIZE = 8;
/** BPF_RINGBUF_BUSY_BIT: reserved and not yet committed; nothing after it may be read. */
export const BUSY = 0x80000000;
/** BPF_RINGBUF_DISCARD_BIT: committed as discarded; skipped. */
export const DISCARD = 0x40000000;

const EV = LAYOUT.vsw_learn_event.fields;
const EV_MAC = EV.mac;
const EV_PORT = EV.port;
const EV_KIND = EV.kind;
const EV_SEEN = EV.seen_ns;
const EV_EVICTED = EV.evicted;

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

/** The ring as the reader sees it: mapped memory (LearnRing.map), or a plain buffer in a test. */
export interface RingMemory {
  /** The consumer position (u64), which the reader advances. */
  consumer: BigUint64Array;
  /** The producer position (u64), which the program advances. */
  producer: BigUint64Array;
  /** The data pages, 2 * size bytes: the ring, then the same pages again, so a record never wraps. */
  data: ArrayBuffer;
  /** Where the data begins in `data`. */
  dataOffset: number;
}

export class LearnRing {
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly data: DataView;
  private readonly words: Int32Array;
  private readonly mask: number;

  /** `size` is a power of two; `release` undoes what made `mem` (munmap). */
  constructor(
    readonly fd: number,
    size: number,
    mem: RingMemory,
    private readonly release: () => void = () => {},
  ) {
    this.consumer = mem.consumer;
    this.producer = mem.producer;
    this.data = new DataView(mem.data, mem.dataOffset, 2 * size);
    this.words = new Int32Array(mem.data, mem.dataOffset, (2 * size) >>> 2);
    this.mask = size - 1;
  }

  /** Maps the ring of BPF_MAP_TYPE_RINGBUF `fd` (`size` bytes of data) into this process. */
  static map(fd: number, size: number): LearnRing {
    const page = libc.pageSize();
    const consAddr = libc.mmap(0n, page, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED, fd, 0);
    let prodAddr: bigint;
    try {
      prodAddr = libc.mmap(0n, page + 2 * size, libc.PROT_READ, libc.MAP_SHARED, fd, page);
    } catch (err) {
      libc.munmap(consAddr, page);
      throw err;
    }
    const prod = libc.view(prodAddr, page + 2 * size);
    const mem = { consumer: new BigUint64Array(libc.view(consAddr, 8)), producer: new BigUint64Array(prod, 0, 1), data: prod, dataOffset: page };
    return new LearnRing(fd, size, mem, () => {
      libc.munmap(prodAddr, page + 2 * size);
      libc.munmap(consAddr, page);
    });
  }

  /**
   * Hands the records committed before this call to `sink`, at most `max`;
   * returns how many. Bounded: it stops at the producer position read on
   * entry, so a producer that never stops (a MAC storm) cannot keep the
   * thread here; what came since waits for the next turn, after requests and
   * link events.
   */
  drain(sink: LearnSink, max = Infinity): number {
    let cons = Number(Atomics.load(this.consumer, 0));
    const prod = Number(Atomics.load(this.producer, 0));
    let n = 0;
    while (cons < prod && n < max) {
      const at = cons & this.mask;
      const len = Atomics.load(this.words, at >>> 2) >>> 0;
      if ((len & BUSY) !== 0) break;
      if ((len & DISCARD) === 0) {
        const d = this.data;
        const rec = at + HDR_SIZE;
        // struct vsw_learn_event; a key's low word is lo, its high word hi (layout.ts)
        const lo = d.getInt32(rec + EV_MAC, true);
        const hi = d.getUint32(rec + EV_MAC + 4, true) & FDB_KEY_HI_MASK;
        const port = d.getUint32(rec + EV_PORT, true);
        const kind = d.getUint32(rec + EV_KIND, true);
        const seenMs = (d.getUint32(rec + EV_SEEN + 4, true) * 4294967296 + d.getUint32(rec + EV_SEEN, true)) / 1e6;
        sink.onLearn(hi, lo, port, kind, seenMs, d.getUint32(rec + EV_EVICTED + 4, true) & FDB_KEY_HI_MASK, d.getInt32(rec + EV_EVICTED, true));
        n++;
      }
      cons += ((len & ~(BUSY | DISCARD)) + HDR_SIZE + 7) & ~7;
    }
    Atomics.store(this.consumer, 0, BigInt(cons));
    return n;
  }

  /** Whether records were committed that drain() has not read (the next turn's work). */
  pending(): boolean {
    return Number(Atomics.load(this.consumer, 0)) < Number(Atomics.load(this.producer, 0));
  }

  close(): void {
    this.release();
  }
}
