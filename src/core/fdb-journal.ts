// What the FDB did, for `vswconfig monitor`: a bounded journal of its changes
// (learned, moved, aged, evicted, flushed) that the datapath thread hands to
// the control plane once per turn, not once per frame.
//
// The Fdb writes a record here only when a station is learned, moves or
// leaves (never on a refresh, the per-frame case), into typed arrays
// allocated once: no allocation, no closure, no call out. When the journal is
// full, a record is not written but counted per kind (`overflow`): under a MAC
// storm the thread keeps forwarding at the same cost and the control plane
// gets "N more learns", which it reports as suppressed. take() empties it (the
// control path: it allocates the copy it hands over).

export const FDB_EV_LEARN = 0;
export const FDB_EV_MOVE = 1;
export const FDB_EV_AGE = 2;
export const FDB_EV_EVICT = 3;
export const FDB_EV_FLUSH = 4;
export const FDB_EV_KINDS = 5;
/** The event names of `vswconfig monitor`, by kind. */
export const FDB_EV_NAMES = ['fdb-learn', 'fdb-move', 'fdb-age', 'fdb-evict', 'fdb-flush'] as const;

/** Why a port's entries were flushed (Fdb.flushPort's reason). */
export const FLUSH_REMOVED = 0;
export const FLUSH_DOWN = 1;
export const FLUSH_VLAN = 2;
export const FLUSH_MIRROR = 3;
export const FLUSH_REASONS = ['port-removed', 'link-down', 'vlan-mode', 'mirror-output'] as const;

/** Words per record: kind, key hi (VID << 16 | first two octets), key lo, port, extra (a move's old port, a flush's count). */
export const FDB_EV_WORDS = 5;
/** Records held between two takes. */
export const FDB_JOURNAL_DEFAULT = 1024;

/** What take() hands over: the records (FDB_EV_WORDS each) and the records not kept, by kind. */
export interface FdbJournalTake {
  records: Int32Array;
  overflow: number[];
}

export class FdbJournal {
  private readonly rec: Int32Array;
  private readonly overflowed: Float64Array;
  private n = 0;
  private lost = 0;

  constructor(readonly capacity = FDB_JOURNAL_DEFAULT) {
    this.rec = new Int32Array(capacity * FDB_EV_WORDS);
    this.overflowed = new Float64Array(FDB_EV_KINDS);
  }

  /** Record one change; counted, not written, when full. No allocation. */
  push(kind: number, hi: number, lo: number, port: number, extra: number): void {
    if (this.n === this.capacity) {
      this.overflowed[kind]++;
      this.lost++;
      return;
    }
    const at = this.n * FDB_EV_WORDS;
    const r = this.rec;
    r[at] = kind;
    r[at + 1] = hi;
    r[at + 2] = lo;
    r[at + 3] = port;
    r[at + 4] = extra;
    this.n++;
  }

  /** Whether anything waits to be taken (records or counts). */
  get pending(): boolean {
    return this.n !== 0 || this.lost !== 0;
  }

  /** The records and counts so far, handed over; the journal is empty again. */
  take(): FdbJournalTake {
    const records = this.rec.slice(0, this.n * FDB_EV_WORDS);
    const overflow = Array.from(this.overflowed);
    this.n = 0;
    this.lost = 0;
    this.overflowed.fill(0);
    return { records, overflow };
  }
}
