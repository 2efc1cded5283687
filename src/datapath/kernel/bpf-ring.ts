// The consumer side of a BPF_MAP_TYPE_RINGBUF (the learn events, the captured
// frames). The ring is mapped into this process and read with plain loads,
// as libbpf's ring_buffer__poll() reads it (no system call per record): the
// consumer position page read-write, the producer position page and the data
// (mapped twice, so a record never wraps) read-only. Its fd is pollable:
// POLLIN while records wait. The reader sees the ring only through
// RingMemory, so a test can hand it a plain buffer laid out the same way.

import * as libc from '../../native/libc.js';

/** Each record's header: its length with the two flag bits, then the page offset (unused here). */
const HDR_SIZE = 8;
/** BPF_RINGBUF_BUSY_BIT: reserved and not yet committed; nothing after it may be read. */
export const BUSY = 0x80000000;
/** BPF_RINGBUF_DISCARD_BIT: committed as discarded; skipped. */
export const DISCARD = 0x40000000;

/** The ring as the reader sees it: mapped memory (mapRing), or a plain buffer in a test. */
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

/** Maps the ring of BPF_MAP_TYPE_RINGBUF `fd` (`size` bytes of data) into this process; `release` unmaps it. */
export function mapRing(fd: number, size: number): { mem: RingMemory; release: () => void } {
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
  return {
    mem,
    release: () => {
      libc.munmap(prodAddr, page + 2 * size);
      libc.munmap(consAddr, page);
    },
  };
}

export class BpfRing {
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

  /**
   * Hands each record committed before this call to `visit` (the ring's data
   * and the record's offset in it), at most `max`; returns how many. It stops
   * at the producer position read on entry, so a producer that never stops
   * cannot keep the thread here.
   */
  protected read(visit: (d: DataView, rec: number) => void, max: number): number {
    let cons = Number(Atomics.load(this.consumer, 0));
    const prod = Number(Atomics.load(this.producer, 0));
    let n = 0;
    while (cons < prod && n < max) {
      const at = cons & this.mask;
      const len = Atomics.load(this.words, at >>> 2) >>> 0;
      if ((len & BUSY) !== 0) break;
      if ((len & DISCARD) === 0) {
        visit(this.data, at + HDR_SIZE);
        n++;
      }
      cons += ((len & ~(BUSY | DISCARD)) + HDR_SIZE + 7) & ~7;
    }
    Atomics.store(this.consumer, 0, BigInt(cons));
    return n;
  }

  /** Whether records were committed that have not been read (the next turn's work). */
  pending(): boolean {
    return Number(Atomics.load(this.consumer, 0)) < Number(Atomics.load(this.producer, 0));
  }

  close(): void {
    this.release();
  }
}
