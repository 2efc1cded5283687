// The FDB's storage: where entries live and how a key finds its entry. The
// design is told at the top of fdb.ts (bounded pool, keyed open-addressing
// index with backward-shift deletion, per-port lists); the policy — aging,
// refresh, moves, the per-port limit, which entry to evict — is the Fdb
// there, which extends this class. Nothing here knows about time beyond
// storing an entry's `seen`, and nothing here counts learning events.

import { macHi, macLo } from './mac.js';

/** No entry (an empty index slot, the end of a list). */
export const NONE = -1;

// Entry record layout: 8 int32 (32 bytes) per entry in one buffer, viewed both
// as Int32Array and Float64Array, so that everything a frame touches (key,
// port, time) shares one cache line.
const STRIDE = 8;
const R_HI = 0; // key: VID << 16 | MAC's first two octets
const R_PORT = 1;
const R_LO = 2; // key, last four octets (int32)
const R_HOME = 3; // home slot of the key
const R_SEEN_F64 = 2; // Float64 index within the record (int32 4 and 5): last refresh, ms
const R_PREV = 6; // port list
const R_NEXT = 7; // port list, or free list

export class FdbTable {
  readonly size: number;
  readonly maxPorts: number;

  /** Entries held (including dead ones not yet expired). */
  count = 0;
  /**
   * Told of every entry that leaves the table (aged out, evicted, flushed,
   * deleted), as its key (hi, lo): the kernel datapath deletes it from its own map.
   */
  onRemove: ((hi: number, lo: number) => void) | null = null;

  // --- entry pool: record e at rec[e * STRIDE], seen at f64[e * STRIDE / 2 + R_SEEN_F64] ---
  private readonly rec: Int32Array;
  private readonly f64: Float64Array;
  private freeHead = NONE;
  /** Entries never used yet: fresh..size-1, handed out before the free list. */
  private fresh = 0;

  // --- hash index: slot i is tab[2i] = ~entry (so 0, ~NONE, is empty), tab[2i + 1] = key lo (int32) ---
  private readonly tab: Int32Array;
  private readonly mask: number;
  private readonly shift: number;

  // --- per-port lists in the order entries were last placed (oldest at the head), indexed by port ---
  protected readonly head: Int32Array;
  private readonly tail: Int32Array;
  protected readonly portCount: Int32Array;

  private readonly secret: number;

  /** `size`, `maxPorts` and `secret` (uint32) already checked by the caller. */
  constructor(size: number, maxPorts: number, secret: number) {
    this.size = size;
    this.maxPorts = maxPorts;
    this.secret = secret | 0;

    const buf = new ArrayBuffer(size * STRIDE * 4);
    this.rec = new Int32Array(buf);
    this.f64 = new Float64Array(buf);

    let bits = 1;
    while (1 << bits < 2 * size) bits++;
    this.tab = new Int32Array(2 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;

    this.head = new Int32Array(maxPorts).fill(NONE);
    this.tail = new Int32Array(maxPorts).fill(NONE);
    this.portCount = new Int32Array(maxPorts);
  }

  /** Slots in the hash index (a power of two >= 2 * size). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Home slot of a key: keyed with the secret, see "The secret" in fdb.ts. */
  protected hash(hi: number, lo: number): number {
    let h = lo ^ this.secret;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ hi;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return h >>> this.shift;
  }

  /**
   * The entry of key (hi, lo), whose home slot is h, or ~slot (negative) of
   * the empty slot that ends its probe sequence: where insert() puts it.
   */
  protected probe(hi: number, lo: number, h: number): number {
    const tab = this.tab;
    const rec = this.rec;
    const mask = this.mask;
    for (let i = h; ; i = (i + 1) & mask) {
      const e = ~tab[2 * i];
      if (e < 0) return ~i;
      if (tab[2 * i + 1] === lo && rec[e * STRIDE + R_HI] === hi) return e;
    }
  }

  protected seenOf(e: number): number {
    return this.f64[e * (STRIDE / 2) + R_SEEN_F64];
  }

  protected portOf(e: number): number {
    return this.rec[e * STRIDE + R_PORT];
  }

  protected hiOf(e: number): number {
    return this.rec[e * STRIDE + R_HI];
  }

  protected loOf(e: number): number {
    return this.rec[e * STRIDE + R_LO];
  }

  /** The entry after e on its port's list, or NONE. */
  protected nextOf(e: number): number {
    return this.rec[e * STRIDE + R_NEXT];
  }

  /**
   * Put a new entry for key (hi, lo), home slot h, in the empty slot i: on
   * `port`, seen `now`, at the tail of the port's list. There must be a free
   * entry (count < size).
   */
  protected insert(hi: number, lo: number, h: number, i: number, port: number, now: number): void {
    const tab = this.tab;
    const rec = this.rec;
    let e = this.freeHead;
    if (e !== NONE) this.freeHead = rec[e * STRIDE + R_NEXT];
    else e = this.fresh++;
    const r = e * STRIDE;
    tab[2 * i] = ~e;
    tab[2 * i + 1] = lo;
    rec[r + R_HI] = hi;
    rec[r + R_LO] = lo;
    rec[r + R_HOME] = h;
    rec[r + R_PORT] = port;
    this.f64[e * (STRIDE / 2) + R_SEEN_F64] = now;
    this.append(port, e);
    this.count++;
  }

  /**
   * Entry e is now on `port` (its own or another), seen `now`: it goes to the
   * tail of that port's list, which keeps every list sorted by `seen`.
   */
  protected place(e: number, port: number, now: number): void {
    this.unlink(this.rec[e * STRIDE + R_PORT], e);
    this.rec[e * STRIDE + R_PORT] = port;
    this.f64[e * (STRIDE / 2) + R_SEEN_F64] = now;
    this.append(port, e);
  }

  /** First empty slot from h: a deletion may have shifted keys back since the probe. */
  protected firstEmpty(h: number): number {
    const tab = this.tab;
    const mask = this.mask;
    let i = h;
    while (tab[2 * i] !== 0) i = (i + 1) & mask;
    return i;
  }

  private append(port: number, e: number): void {
    const rec = this.rec;
    const t = this.tail[port];
    rec[e * STRIDE + R_PREV] = t;
    rec[e * STRIDE + R_NEXT] = NONE;
    if (t >= 0) rec[t * STRIDE + R_NEXT] = e;
    else this.head[port] = e;
    this.tail[port] = e;
    this.portCount[port]++;
  }

  private unlink(port: number, e: number): void {
    const rec = this.rec;
    const p = rec[e * STRIDE + R_PREV];
    const n = rec[e * STRIDE + R_NEXT];
    if (p >= 0) rec[p * STRIDE + R_NEXT] = n;
    else this.head[port] = n;
    if (n >= 0) rec[n * STRIDE + R_PREV] = p;
    else this.tail[port] = p;
    this.portCount[port]--;
  }

  /** Remove entry e from the index, its port list and the pool (onRemove is told). */
  protected removeEntry(e: number): void {
    const tab = this.tab;
    const rec = this.rec;
    const mask = this.mask;
    // Find e's slot: it is on the probe path from its home slot.
    let i = rec[e * STRIDE + R_HOME];
    while (~tab[2 * i] !== e) i = (i + 1) & mask;
    // Backward-shift deletion: pull later members of the cluster into the
    // hole when the hole lies between their home slot and where they sit.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const f = ~tab[2 * j];
      if (f < 0) break;
      if (((j - rec[f * STRIDE + R_HOME]) & mask) >= ((j - i) & mask)) {
        tab[2 * i] = ~f;
        tab[2 * i + 1] = tab[2 * j + 1];
        i = j;
      }
    }
    tab[2 * i] = ~NONE;
    if (this.onRemove !== null) this.onRemove(rec[e * STRIDE + R_HI], rec[e * STRIDE + R_LO]);
    this.unlink(rec[e * STRIDE + R_PORT], e);
    rec[e * STRIDE + R_PREV] = NONE;
    rec[e * STRIDE + R_NEXT] = this.freeHead;
    this.freeHead = e;
    this.count--;
  }

  /** Remove every entry of `port`; returns how many. */
  protected removePort(port: number): number {
    let n = 0;
    for (let e = this.head[port]; e >= 0; e = this.head[port]) {
      this.removeEntry(e);
      n++;
    }
    return n;
  }

  /** Forget everything (not counted as flushed). */
  clear(): void {
    for (let p = 0; p < this.maxPorts; p++) this.removePort(p);
  }

  /** Entries currently held for `port` (live or dead-not-yet-expired). */
  countOf(port: number): number {
    this.checkPort(port);
    return this.portCount[port];
  }

  /** Home slot of a MAC of `vlan` in the index (for tests: it depends on the secret). */
  homeSlot(mac: number, vlan = 0): number {
    return this.hash(macHi(mac) | (vlan << 16), macLo(mac));
  }

  /** Longest probe sequence in the index (for tests and diagnostics). */
  maxProbe(): number {
    let worst = 0;
    for (let i = 0; i <= this.mask; i++) {
      const e = ~this.tab[2 * i];
      if (e >= 0) worst = Math.max(worst, ((i - this.rec[e * STRIDE + R_HOME]) & this.mask) + 1);
    }
    return worst;
  }

  /**
   * Check the internal invariants (index <-> pool <-> lists); throws an Error
   * describing the first violation. O(capacity); for tests.
   */
  validate(): void {
    const rec = this.rec;
    const tab = this.tab;
    let inIndex = 0;
    for (let i = 0; i <= this.mask; i++) {
      const e = ~tab[2 * i];
      if (e < 0) continue;
      inIndex++;
      const r = e * STRIDE;
      if (tab[2 * i + 1] !== rec[r + R_LO]) throw new Error(`slot ${i}: cached lo differs from entry ${e}`);
      if (rec[r + R_HOME] !== this.hash(rec[r + R_HI], rec[r + R_LO])) throw new Error(`entry ${e}: wrong home`);
      // Every slot from home to i must be occupied (no holes on the probe path).
      for (let k = rec[r + R_HOME]; k !== i; k = (k + 1) & this.mask) {
        if (tab[2 * k] === 0) throw new Error(`entry ${e} at slot ${i} unreachable: hole at ${k}`);
      }
    }
    if (inIndex !== this.count) throw new Error(`index holds ${inIndex}, count is ${this.count}`);
    let inLists = 0;
    for (let p = 0; p < this.maxPorts; p++) {
      let n = 0;
      let prev = NONE;
      for (let e = this.head[p]; e >= 0; e = rec[e * STRIDE + R_NEXT]) {
        if (rec[e * STRIDE + R_PORT] !== p) throw new Error(`entry ${e} on list of port ${p} has port ${rec[e * STRIDE + R_PORT]}`);
        if (rec[e * STRIDE + R_PREV] !== prev) throw new Error(`entry ${e}: bad prev link`);
        if (prev >= 0 && this.seenOf(prev) > this.seenOf(e)) throw new Error(`port ${p}: list not sorted by seen`);
        prev = e;
        if (++n > this.size) throw new Error(`port ${p}: list loops`);
      }
      if (this.tail[p] !== prev) throw new Error(`port ${p}: bad tail`);
      if (n !== this.portCount[p]) throw new Error(`port ${p}: list has ${n}, portCount ${this.portCount[p]}`);
      inLists += n;
    }
    if (inLists !== this.count) throw new Error(`lists hold ${inLists}, count is ${this.count}`);
    let free = 0;
    for (let e = this.freeHead; e >= 0; e = rec[e * STRIDE + R_NEXT]) if (++free > this.size) throw new Error('free list loops');
    if (free + this.count !== this.fresh) throw new Error(`free ${free} + count ${this.count} != entries handed out ${this.fresh}`);
  }

  protected checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.maxPorts) {
      throw new RangeError(`port ${port} out of range 0..${this.maxPorts - 1}`);
    }
  }
}
