// The FDB between the kernel's `fdb` map and the table of record. The
// TypeScript Fdb (src/core/fdb.ts) decides: every learn, move or refresh the
// program makes comes here on the `events` ring (onLearn) and is applied to
// it; whatever it removes (aging on its one timer, fair eviction when full, a
// port going down or away, the per-port limit) is deleted from the kernel's
// map (Fdb.onRemove). The program itself treats an entry older than the aging
// time as absent, so a late deletion never forwards to a stale port. While the
// table is full, config names the victim the next new station costs
// (syncVictim). Learn events lost for want of room on the ring are counted by
// the program; at the next timer the kernel's map is walked and whatever the
// table of record does not hold is deleted (resync).

import type { Fdb } from '../../core/fdb.js';
import type { ConfigWords } from './layout.js';
import { LEARNED, type LearnSink } from './learn-ring.js';
import type { DatapathMaps } from './maps.js';

/** CLOCK_MONOTONIC in ms: the clock of bpf_ktime_get_ns(), so kernel and Fdb times compare. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** What of the maps the FDB's mirroring uses (a test hands a fake). */
export type FdbMaps = Pick<DatapathMaps, 'setFdb' | 'deleteFdb' | 'fdbKeys' | 'dropCounts' | 'setConfig'>;

/**
 * Whether a learn on `port` in VLAN `vid`, seen at `seenMs`, is still the switch's: the port
 * attached, up and carrying the VLAN, and the frame not older than the port's configuration.
 */
export interface LearnGate {
  takes(port: number, vid: number, seenMs: number): boolean;
}

export class FdbSync implements LearnSink {
  /** The Fdb wants a clock that does not go backwards; CPUs' events may interleave by nanoseconds. */
  private lastLearn = 0;
  private eventsLostSeen = 0;

  /** `cfg` is config[0] as last written (shared with the other writers of config); victim -1 means unknown. */
  constructor(
    private readonly fdb: Fdb,
    private readonly maps: FdbMaps,
    private readonly cfg: ConfigWords,
    private readonly gate: LearnGate,
    private readonly clock: () => number = monotonicMs,
  ) {
    fdb.onRemove = (hi, lo) => maps.deleteFdb(hi, lo);
  }

  onLearn(hi: number, lo: number, port: number, kind: number, seenMs: number, evictedHi: number, evictedLo: number): void {
    const evicted = evictedHi !== 0 || evictedLo !== 0;
    // The program took the victim named in config: name the next one.
    if (evicted) this.cfg.victim = -1n;
    if (!this.gate.takes(port, hi >>> 16, seenMs)) {
      // Learned just before the port went away or down, changed its VLAN mode or became a mirror's output: not the switch's any more.
      if (kind === LEARNED) {
        this.maps.deleteFdb(hi, lo);
        // Nor where it was before: it had moved here, and the change forgot it (the core's flush of the port).
        this.fdb.delete((hi & 0xffff) * 2 ** 32 + (lo >>> 0), hi >>> 16);
      }
      return;
    }
    const now = (this.lastLearn = Math.max(this.lastLearn, seenMs));
    this.fdb.learnHL(hi, lo, port, now);
    if (this.fdb.lookupHL(hi, lo, now) !== port) {
      // Refused (per-port limit): the kernel must not keep it either.
      if (kind === LEARNED) this.maps.deleteFdb(hi, lo);
    } else if (kind !== LEARNED && !this.maps.setFdb(hi, lo, port, now)) {
      this.resync(); // the kernel's map is fuller than the table of record
    }
    // The table of record made room with another entry than the program: give that one back.
    if (evicted) {
      const at = this.fdb.lookupHL(evictedHi, evictedLo, now);
      if (at >= 0) this.maps.setFdb(evictedHi, evictedLo, at, now);
    }
  }

  /** Names in config the entry a new station costs while the table is full (0: none); written only when changed. */
  syncVictim(): void {
    const v = this.fdb.nextVictimKey(this.clock());
    const victim = v === null ? 0n : (BigInt(v[0]) << 32n) | BigInt(v[1] >>> 0);
    if (victim === this.cfg.victim) return;
    this.cfg.victim = victim;
    this.maps.setConfig(this.cfg);
  }

  /** The FDB's timer: a resync if learn events were lost since the last, then aging. Returns when it is next due. */
  timer(now: number): number {
    const lost = this.maps.dropCounts().eventsLost;
    if (lost !== this.eventsLostSeen) {
      this.eventsLostSeen = lost;
      this.resync();
    }
    return this.fdb.expire(now);
  }

  /** Deletes whatever the kernel's map holds that the table of record does not. */
  resync(): void {
    this.cfg.victim = -1n; // the program may have taken the victim in an event that was lost
    const now = this.clock();
    for (const [hi, lo] of this.maps.fdbKeys()) if (this.fdb.lookupHL(hi, lo, now) < 0) this.maps.deleteFdb(hi, lo);
  }
}
