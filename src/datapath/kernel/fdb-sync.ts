// The FDB between the kernel's `fdb` map and the table of record. The
// TypeScript Fdb (src/core/fdb.ts) decides: every learn, move or refresh the
// program makes comes here on the `events` ring (onLearn) and is applied to
// it; whatever it removes (aging on its one timer, fair eviction when full, a
// port going down or away, the per-port limit) is deleted from the kernel's
// map (Fdb.onRemove). The program itself treats an entry older than the aging
// time as absent, so a late deletion never forwards to a stale port. While the
// table is full, config names the victim the next new station costs
// (syncVictim). Learn events lost for want of room on the ring are counted by
// the program, and a write the kernel's map had no room for fails; either
// asks for a walk of the kernel's map that deletes whatever the table of
// record does not hold (resync), made at the timer and at most once per
// RESYNC_INTERVAL_MS however often it is asked for: under a MAC storm a walk
// per failed write (one system call per key) kept the thread from its
// requests for seconds.

import type { Fdb } from '../../core/fdb.js';
import type { ConfigWords } from './layout.js';
import { LEARNED, type LearnSink } from './learn-ring.js';
import type { DatapathMaps } from './maps.js';

/** CLOCK_MONOTONIC in ms: the clock of bpf_ktime_get_ns(), so kernel and Fdb times compare. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** At most one walk of the kernel's map per this many ms; also how soon after learn events the lost count is read. */
export const RESYNC_INTERVAL_MS = 1000;

/** What of the maps the FDB's mirroring uses (a test hands a fake). */
export type FdbMaps = Pick<DatapathMaps, 'setFdb' | 'deleteFdb' | 'staleFdbKeys' | 'dropCounts' | 'setConfig'>;

/** Whether a learn on `port` in VLAN `vid` is still the switch's: the port attached, up and carrying the VLAN. */
export interface LearnGate {
  takes(port: number, vid: number): boolean;
}

export class FdbSync implements LearnSink {
  /** The Fdb wants a clock that does not go backwards; CPUs' events may interleave by nanoseconds. */
  private lastLearn = 0;
  private eventsLostSeen = 0;
  /** A walk is owed (events lost, or a write failed); made at the timer, at most once per RESYNC_INTERVAL_MS. */
  private resyncWanted = false;
  private lastResync = -Infinity;
  /** Events came since the timer last read the lost count: some may have been lost. */
  private eventsSinceCheck = false;
  private lastCheck = -Infinity;

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
    this.eventsSinceCheck = true;
    const evicted = evictedHi !== 0 || evictedLo !== 0;
    // The program took the victim named in config: name the next one.
    if (evicted) this.cfg.victim = -1n;
    if (!this.gate.takes(port, hi >>> 16)) {
      // Learned just before the port went away or down, or changed its VLAN mode: not the switch's any more.
      if (kind === LEARNED) this.maps.deleteFdb(hi, lo);
      return;
    }
    const now = (this.lastLearn = Math.max(this.lastLearn, seenMs));
    this.fdb.learnHL(hi, lo, port, now);
    if (this.fdb.lookupHL(hi, lo, now) !== port) {
      // Refused (per-port limit): the kernel must not keep it either.
      if (kind === LEARNED) this.maps.deleteFdb(hi, lo);
    } else if (kind !== LEARNED && !this.maps.setFdb(hi, lo, port, now)) {
      // The kernel's map is fuller than the table of record: mostly with what
      // its events still in the ring will have the Fdb evict for, else with
      // what lost events left there. The station is flooded meanwhile, and
      // its next event (within its port's budget) writes it again.
      this.resyncWanted = true;
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

  /**
   * The FDB's timer: a resync if learn events were lost or a write failed
   * (at most once per RESYNC_INTERVAL_MS), then aging. Returns when it is
   * next due.
   */
  timer(now: number): number {
    this.eventsSinceCheck = false;
    this.lastCheck = now;
    const lost = this.maps.dropCounts().eventsLost;
    if (lost !== this.eventsLostSeen) {
      this.eventsLostSeen = lost;
      this.resyncWanted = true;
    }
    if (this.resyncWanted && now - this.lastResync >= RESYNC_INTERVAL_MS) this.resync();
    const next = this.fdb.expire(now);
    return this.resyncWanted ? Math.min(next, this.lastResync + RESYNC_INTERVAL_MS) : next;
  }

  /** When the timer should next read the lost count: soon after learn events came, else never. */
  checkDue(): number {
    return this.eventsSinceCheck ? this.lastCheck + RESYNC_INTERVAL_MS : Infinity;
  }

  /**
   * Deletes whatever the kernel's map holds that the table of record does
   * not, unless the program wrote it within the last RESYNC_INTERVAL_MS: its
   * event may still be in the ring (under a storm the map's headroom is full
   * of those), and if it was lost the next walk finds it.
   */
  resync(): void {
    this.cfg.victim = -1n; // the program may have taken the victim in an event that was lost
    const now = this.clock();
    this.resyncWanted = false;
    this.lastResync = now;
    const stale = this.maps.staleFdbKeys(now - RESYNC_INTERVAL_MS, (hi, lo) => this.fdb.lookupHL(hi, lo, now) >= 0);
    for (const [hi, lo] of stale) this.maps.deleteFdb(hi, lo);
  }
}
