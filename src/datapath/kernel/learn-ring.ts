// The consumer side of the kernel datapath's `events` ring (a
// BPF_MAP_TYPE_RINGBUF, read as bpf-ring.ts says): what vsw_forward learned,
// moved, refreshed, or could not learn because the FDB map was full.

import { BpfRing, mapRing } from './bpf-ring.js';
import { FDB_KEY_HI_MASK, LAYOUT } from './layout.js';

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

export class LearnRing extends BpfRing {
  /** Maps the ring of BPF_MAP_TYPE_RINGBUF `fd` (`size` bytes of data) into this process. */
  static map(fd: number, size: number): LearnRing {
    const { mem, release } = mapRing(fd, size);
    return new LearnRing(fd, size, mem, release);
  }

  /**
   * Hands the records committed before this call to `sink`, at most `max`;
   * returns how many. Bounded: it stops at the producer position read on
   * entry, so a producer that never stops (a MAC storm) cannot keep the
   * thread here; what came since waits for the next turn, after requests and
   * link events.
   */
  drain(sink: LearnSink, max = Infinity): number {
    return this.read((d, rec) => {
      // struct vsw_learn_event; a key's low word is lo, its high word hi (layout.ts)
      const lo = d.getInt32(rec + EV_MAC, true);
      const hi = d.getUint32(rec + EV_MAC + 4, true) & FDB_KEY_HI_MASK;
      const port = d.getUint32(rec + EV_PORT, true);
      const kind = d.getUint32(rec + EV_KIND, true);
      const seenMs = (d.getUint32(rec + EV_SEEN + 4, true) * 4294967296 + d.getUint32(rec + EV_SEEN, true)) / 1e6;
      sink.onLearn(hi, lo, port, kind, seenMs, d.getUint32(rec + EV_EVICTED + 4, true) & FDB_KEY_HI_MASK, d.getInt32(rec + EV_EVICTED, true));
    }, max);
  }
}
