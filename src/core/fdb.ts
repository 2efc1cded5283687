// The forwarding database: which port each source MAC was last seen on.
//
// Design (after Open vSwitch lib/mac-learning.h and Linux net/bridge/br_fdb.c):
//
//  * Bounded. A fixed pool of `size` entries (default 65536) is allocated once,
//    as typed arrays, with a free list. Nothing is allocated after construction,
//    and nothing is written at construction either: entries are handed out in
//    order before the free list is used, and an empty index slot is zero, so
//    the memory of a table that never fills is never touched (an idle switch
//    does not pay 3 MiB of resident memory for 65536 entries it does not use).
//
//  * Indexed by an open-addressing hash table of entry indices: linear probing,
//    capacity a power of two >= 2 * size (load factor <= 1/2), and
//    backward-shift deletion, so there are no tombstones and probe sequences
//    never degrade. A slot holds an entry index plus the low 32 bits of the
//    key (to reject most mismatches without touching the entry), side by
//    side; the entries themselves never move, so an entry index is a stable
//    handle. Each entry is one 32-byte record (key, port, home slot, time,
//    list links) in a single buffer, so a lookup touches two cache lines.
//
//  * The secret. The source MACs come from the wire, so whoever sends frames
//    chooses the keys. With a hash anyone can compute, one port can send a few
//    thousand MACs that all land in one slot (they take milliseconds to find)
//    and turn the index into one long probe chain that every frame walks.
//    So the hash is keyed with `hashSecret`, a random number the daemon draws
//    once per process, as the Linux bridge keys jhash with a random fdb_salt
//    and Open vSwitch keys hash_mac() with its mac_learning secret. The
//    secret goes in first (XOR into the last four octets), then two rounds of
//    MurmurHash3's finalizer (xor-shift, multiply) with the first two octets
//    folded in between; the home slot is the top bits, which depend on every
//    bit of the key and of the secret. Two multiplies: about as cheap as the
//    unkeyed hash it replaces (full MurmurHash3 cost ~3 ns more per hash).
//    It is not a cryptographic MAC: it makes collisions unpredictable to a
//    sender who does not know the secret, which is what jhash does for the
//    bridge. The core draws no randomness itself (no I/O); the default
//    secret 0 keeps tests deterministic.
//
//  * Aging. Each entry records when it was last refreshed (`seen`, ms). An
//    entry whose seen + agingMs <= now is dead: lookup() treats it as absent
//    at once, and expire() (the garbage collector) frees it later.
//
//  * One timer. Every port keeps its entries on a doubly linked list in
//    approximate LRU order (oldest at the head). expire() therefore only looks
//    at the head of each port's list - O(ports + entries freed), no scan - and
//    returns the absolute time it next needs to run: the earliest expiry of any
//    remaining entry, but never sooner than now + 1 s (like the Linux bridge,
//    whose single GC work item is aimed at the next expiry). An entry thus
//    lives at most agingMs + 1 s.
//
//  * Cheap refresh. A hit on the same port only rewrites `seen` and moves the
//    entry to the tail of its list when `seen` is at least 1 s old (or agingMs,
//    if shorter). Most frames therefore only read the entry. Because `seen` is
//    only ever written together with a move to the tail, every list stays
//    sorted by `seen`, which is what lets expire() stop at the first live head.
//    The cost is that `seen` may lag the last frame by up to 1 s, so an entry
//    may age out up to 1 s early; callers must pass a clock that does not go
//    backwards.
//
//  * Fair eviction. When the pool is full and a new MAC must be learned, the
//    oldest entry is freed if it is dead anyway; otherwise the least recently
//    refreshed entry of the port that has the MOST entries is evicted. A port
//    flooding random source MACs therefore ends up evicting its own entries
//    and cannot push out those of the other ports (mac-learning.h does the
//    same with its per-port LRU lists).
//
//  * Per-port learning limit (`portLimit`, 0 = none; the Linux bridge's
//    fdb_max_learned, which counts per bridge, applied per port). A port that
//    holds portLimit entries learns no new MAC: its oldest entry is freed if it
//    is dead, else the new MAC is refused (`refused` counts such frames; the
//    frame itself is still forwarded, as the bridge forwards it). Entries the
//    port already holds keep refreshing. A MAC that MOVES onto a full port
//    moves, as br_fdb_update() moves an existing entry without consulting
//    fdb_max_learned: a move creates no entry, and refusing it would leave
//    the station's traffic going to the port it left until it aged out. So a
//    port can hold more than portLimit entries, but only ones moved in, which
//    does not grow the table.
//
//  * MAC moves. Learning a known MAC on another port moves it there (a host
//    moved, or a loop): the `moved` counter counts those.
//
//  * Per VLAN. The key is (VLAN, MAC): the same MAC in two VLANs is two
//    entries (independent VLAN learning, as Open vSwitch and an 802.1Q bridge
//    learn). See forwarder.ts.
//
// The hot path uses learnHL()/lookupHL(), which take the key split into
// hi (the VID << 16 | the MAC's first two octets) and lo (the MAC's last
// four, as a signed int32), see mac.ts; the kernel datapath's map key is the
// same 64 bits (VID in bits 48-59). The number-taking methods take the VLAN
// apart (default 0).
// The number-taking learn()/lookup()/delete() are conveniences for tests and
// the control path.

import { formatMac, macFrom, macHi, macLo } from './mac.js';

export interface FdbOptions {
  /** Most entries held at once (default 65536). */
  size?: number;
  /** Entries not refreshed for this long are forgotten (default 300 000 ms). */
  agingMs?: number;
  /** Port indices are 0..maxPorts-1 (default 24). */
  maxPorts?: number;
  /** Most entries a port learns (0, the default: no limit). */
  portLimit?: number;
  /**
   * Seed of the index hash, a uint32. Pass a random one per process: with
   * the default 0 anyone can compute which MACs collide.
   */
  hashSecret?: number;
}

export interface FdbEntry {
  mac: number;
  vlan: number;
  port: number;
  ageMs: number;
}

/** Fdb.previewLearn's answer. */
export interface LearnPreview {
  kind: 'refresh' | 'move' | 'new' | 'refused';
  from?: number;
  victim?: [number, number];
  victimPort?: number;
}

export const FDB_DEFAULT_SIZE = 65536;
export const FDB_DEFAULT_AGING_MS = 300_000;
export const FDB_DEFAULT_MAX_PORTS = 24;
/** Refresh granularity of `seen`, and the shortest interval expire() asks for. */
export const FDB_GRANULARITY_MS = 1000;

/** How old an entry must be before a hit on its own port rewrites `seen` (the kernel datapath's refresh_ns too). */
export function fdbRefreshMs(agingMs: number): number {
  return Math.min(FDB_GRANULARITY_MS, agingMs);
}

const NONE = -1;

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

export class Fdb {
  readonly size: number;
  readonly agingMs: number;
  readonly maxPorts: number;
  readonly portLimit: number;

  /** Entries held (including dead ones not yet expired). */
  count = 0;
  /** New entries created. */
  learned = 0;
  /** Live entries that moved to another port. */
  moved = 0;
  /** Entries freed because they aged out. */
  expired = 0;
  /** Live entries freed to make room. */
  evicted = 0;
  /** Entries freed by flushPort(). */
  flushed = 0;
  /** Frames whose new source MAC was not learned because its port held portLimit entries. */
  refused = 0;
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

  // --- per-port lists, indexed by port ---
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly portCount: Int32Array;

  private readonly refreshMs: number;
  private readonly secret: number;

  constructor(opts: FdbOptions = {}) {
    const size = opts.size ?? FDB_DEFAULT_SIZE;
    const agingMs = opts.agingMs ?? FDB_DEFAULT_AGING_MS;
    const maxPorts = opts.maxPorts ?? FDB_DEFAULT_MAX_PORTS;
    if (!Number.isInteger(size) || size < 1 || size > 1 << 24) throw new RangeError(`fdb size must be an integer in 1..${1 << 24}`);
    if (!(agingMs > 0) || !Number.isFinite(agingMs)) throw new RangeError('fdb agingMs must be a positive number');
    if (!Number.isInteger(maxPorts) || maxPorts < 1 || maxPorts > 4096) throw new RangeError('fdb maxPorts must be an integer in 1..4096');
    const portLimit = opts.portLimit ?? 0;
    if (!Number.isInteger(portLimit) || portLimit < 0) throw new RangeError('fdb portLimit must be a non-negative integer');
    const secret = opts.hashSecret ?? 0;
    if (!Number.isInteger(secret) || secret < 0 || secret > 0xffffffff) throw new RangeError('fdb hashSecret must be a uint32');
    this.size = size;
    this.portLimit = portLimit;
    this.secret = secret | 0;
    this.agingMs = agingMs;
    this.maxPorts = maxPorts;
    this.refreshMs = fdbRefreshMs(agingMs);

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

  /** Home slot of a key: keyed with the secret, see "The secret" above. */
  private hash(hi: number, lo: number): number {
    let h = lo ^ this.secret;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ hi;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return h >>> this.shift;
  }

  private seenOf(e: number): number {
    return this.f64[e * (STRIDE / 2) + R_SEEN_F64];
  }

  // ------------------------------------------------------------------ hot path

  /**
   * Port the MAC (hi, lo) was learned on, or -1 if unknown or aged out.
   * No allocation; for the per-frame path.
   */
  lookupHL(hi: number, lo: number, now: number): number {
    const tab = this.tab;
    const rec = this.rec;
    const mask = this.mask;
    let i = this.hash(hi, lo);
    for (;;) {
      const e = ~tab[2 * i];
      if (e < 0) return NONE;
      if (tab[2 * i + 1] === lo && rec[e * STRIDE + R_HI] === hi) {
        return this.f64[e * (STRIDE / 2) + R_SEEN_F64] + this.agingMs > now ? rec[e * STRIDE + R_PORT] : NONE;
      }
      i = (i + 1) & mask;
    }
  }

  /**
   * Learn (or refresh) that MAC (hi, lo) is on `port` at time `now`.
   * `port` must be in 0..maxPorts-1 (not checked here). No allocation.
   */
  learnHL(hi: number, lo: number, port: number, now: number): void {
    const tab = this.tab;
    const rec = this.rec;
    const mask = this.mask;
    const h = this.hash(hi, lo);
    let i = h;
    for (;;) {
      const e = ~tab[2 * i];
      if (e < 0) break;
      if (tab[2 * i + 1] === lo && rec[e * STRIDE + R_HI] === hi) {
        const r = e * STRIDE;
        const s = e * (STRIDE / 2) + R_SEEN_F64;
        const old = rec[r + R_PORT];
        if (old === port) {
          if (now - this.f64[s] >= this.refreshMs) {
            this.f64[s] = now;
            this.unlink(old, e);
            this.append(port, e);
          }
          return;
        }
        if (this.f64[s] + this.agingMs > now) this.moved++;
        else this.learned++; // the old entry was dead: this is a new binding
        this.unlink(old, e);
        rec[r + R_PORT] = port;
        this.f64[s] = now;
        this.append(port, e);
        return;
      }
      i = (i + 1) & mask;
    }
    this.insert(hi, lo, h, i, port, now);
  }

  /**
   * What learnHL(hi, lo, port, now) would do, without doing it (for a trace):
   * `refresh` (already there), `move` (from the port `from`), `new` (a new
   * entry; `victim` [hi, lo] is the live entry it would evict from a full
   * table), or `refused` (the port holds its limit). Not for the hot path.
   */
  previewLearn(hi: number, lo: number, port: number, now: number): LearnPreview {
    const tab = this.tab;
    const rec = this.rec;
    for (let i = this.hash(hi, lo); ; i = (i + 1) & this.mask) {
      const e = ~tab[2 * i];
      if (e < 0) break;
      if (tab[2 * i + 1] === lo && rec[e * STRIDE + R_HI] === hi) {
        const old = rec[e * STRIDE + R_PORT];
        if (old === port) return { kind: 'refresh' };
        // A dead entry is rebound: a new binding, which takes no room.
        return this.seenOf(e) + this.agingMs > now ? { kind: 'move', from: old } : { kind: 'new' };
      }
    }
    if (this.portLimit !== 0 && this.portCount[port] >= this.portLimit) {
      return this.seenOf(this.head[port]) + this.agingMs > now ? { kind: 'refused' } : { kind: 'new' };
    }
    if (this.count < this.size) return { kind: 'new' };
    const v = this.roomVictim(now);
    if (this.seenOf(v) + this.agingMs <= now) return { kind: 'new' };
    return { kind: 'new', victim: [rec[v * STRIDE + R_HI], rec[v * STRIDE + R_LO]], victimPort: rec[v * STRIDE + R_PORT] };
  }

  private insert(hi: number, lo: number, h: number, i: number, port: number, now: number): void {
    const tab = this.tab;
    const limit = this.portLimit;
    if (limit !== 0 && this.portCount[port] >= limit) {
      // The port is full: only a dead entry of its own makes room.
      const oldest = this.head[port];
      if (this.seenOf(oldest) + this.agingMs > now) {
        this.refused++;
        return;
      }
      this.removeEntry(oldest);
      this.expired++;
      i = this.firstEmpty(h);
    } else if (this.count === this.size) {
      this.makeRoom(now);
      i = this.firstEmpty(h);
    }
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
    this.learned++;
  }

  /** First empty slot from h: a deletion may have shifted keys back since the probe. */
  private firstEmpty(h: number): number {
    const tab = this.tab;
    const mask = this.mask;
    let i = h;
    while (tab[2 * i] !== 0) i = (i + 1) & mask;
    return i;
  }

  /** Free one entry: the oldest if it is dead, else the oldest of the fullest port. */
  private makeRoom(now: number): void {
    const e = this.roomVictim(now);
    const dead = this.seenOf(e) + this.agingMs <= now;
    this.removeEntry(e);
    if (dead) this.expired++;
    else this.evicted++;
  }

  /** The entry makeRoom() frees: the oldest if it is dead, else the oldest of the fullest port. */
  private roomVictim(now: number): number {
    const head = this.head;
    const portCount = this.portCount;
    let oldest = NONE;
    let oldestSeen = Infinity;
    let fullest = NONE;
    let fullestCount = 0;
    for (let p = 0; p < this.maxPorts; p++) {
      const e = head[p];
      if (e < 0) continue;
      const seen = this.seenOf(e);
      if (seen < oldestSeen) {
        oldestSeen = seen;
        oldest = e;
      }
      if (portCount[p] > fullestCount) {
        fullestCount = portCount[p];
        fullest = p;
      }
    }
    if (oldest >= 0 && oldestSeen + this.agingMs <= now) return oldest;
    return head[fullest];
  }

  /**
   * The MAC (as macFrom(hi, lo)) a new station learned now would cost, when
   * the table is full, or -1: the kernel datapath evicts it in the same frame,
   * as learnHL() does here. A port at its limit is told apart by atPortLimit().
   */
  nextVictim(now: number): number {
    const k = this.nextVictimKey(now);
    return k === null ? -1 : macFrom(k[0] & 0xffff, k[1]);
  }

  /** nextVictim() as its key [hi, lo] (with the VLAN), or null. */
  nextVictimKey(now: number): [number, number] | null {
    if (this.count < this.size || this.count === 0) return null;
    const e = this.roomVictim(now);
    return [this.rec[e * STRIDE + R_HI], this.rec[e * STRIDE + R_LO]];
  }

  /** Does `port` hold its limit of entries (a new station from it is refused, or costs its own dead oldest)? */
  atPortLimit(port: number): boolean {
    return this.portLimit !== 0 && this.portCount[port] >= this.portLimit;
  }

  // ------------------------------------------------------------- list helpers

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

  /** Remove entry e from the index, its port list and the pool. */
  private removeEntry(e: number): void {
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

  // ------------------------------------------------------------ timer, control

  /**
   * Free every entry that has aged out. Returns the absolute time (ms) at
   * which to call again: the next expiry, but not sooner than now + 1000;
   * Infinity when the table is empty.
   */
  expire(now: number): number {
    const head = this.head;
    const aging = this.agingMs;
    let nextDue = Infinity;
    for (let p = 0; p < this.maxPorts; p++) {
      let e = head[p];
      while (e >= 0 && this.seenOf(e) + aging <= now) {
        this.removeEntry(e);
        this.expired++;
        e = head[p];
      }
      if (e >= 0 && this.seenOf(e) + aging < nextDue) nextDue = this.seenOf(e) + aging;
    }
    if (nextDue === Infinity) return Infinity;
    return Math.max(nextDue, now + FDB_GRANULARITY_MS);
  }

  /** Forget every entry of `port` (detach). Returns how many were removed. */
  flushPort(port: number): number {
    this.checkPort(port);
    let n = 0;
    for (let e = this.head[port]; e >= 0; e = this.head[port]) {
      this.removeEntry(e);
      n++;
    }
    this.flushed += n;
    return n;
  }

  /** Forget everything (not counted as flushed). */
  clear(): void {
    for (let p = 0; p < this.maxPorts; p++) {
      for (let e = this.head[p]; e >= 0; e = this.head[p]) this.removeEntry(e);
    }
  }

  /** Entries currently held for `port` (live or dead-not-yet-expired). */
  countOf(port: number): number {
    this.checkPort(port);
    return this.portCount[port];
  }

  /** learnHL for a MAC number in `vlan`; checks the port. */
  learn(mac: number, port: number, now: number, vlan = 0): void {
    this.checkPort(port);
    this.learnHL(macHi(mac) | (vlan << 16), macLo(mac), port, now);
  }

  /** lookupHL for a MAC number in `vlan`: port, or -1 if unknown or aged out. */
  lookup(mac: number, now: number, vlan = 0): number {
    return this.lookupHL(macHi(mac) | (vlan << 16), macLo(mac), now);
  }

  /** Remove one MAC of `vlan` (not counted). Returns whether it was present. */
  delete(mac: number, vlan = 0): boolean {
    const hi = macHi(mac) | (vlan << 16);
    const lo = macLo(mac);
    let i = this.hash(hi, lo);
    for (;;) {
      const e = ~this.tab[2 * i];
      if (e < 0) return false;
      if (this.tab[2 * i + 1] === lo && this.rec[e * STRIDE + R_HI] === hi) {
        this.removeEntry(e);
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  /**
   * Visit each live entry, port by port, oldest first. Control path only;
   * do not modify the table from the callback.
   */
  forEach(fn: (mac: number, port: number, ageMs: number, vlan: number) => void, now: number): void {
    const rec = this.rec;
    for (let p = 0; p < this.maxPorts; p++) {
      for (let e = this.head[p]; e >= 0; e = rec[e * STRIDE + R_NEXT]) {
        const age = now - this.seenOf(e);
        if (age >= this.agingMs) continue;
        const hi = rec[e * STRIDE + R_HI];
        fn(macFrom(hi & 0xffff, rec[e * STRIDE + R_LO]), p, Math.max(0, age), hi >>> 16);
      }
    }
  }

  /** All live entries as rows, sorted by port, then VLAN, then MAC. Control path only. */
  dump(now: number): FdbEntry[] {
    const rows: FdbEntry[] = [];
    this.forEach((mac, port, ageMs, vlan) => rows.push({ mac, vlan, port, ageMs }), now);
    rows.sort((a, b) => a.port - b.port || a.vlan - b.vlan || a.mac - b.mac);
    return rows;
  }

  /** dump() with MACs formatted, for printing. */
  dumpFormatted(now: number): { mac: string; vlan: number; port: number; ageMs: number }[] {
    return this.dump(now).map((r) => ({ mac: formatMac(r.mac), vlan: r.vlan, port: r.port, ageMs: r.ageMs }));
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

  private checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.maxPorts) {
      throw new RangeError(`port ${port} out of range 0..${this.maxPorts - 1}`);
    }
  }
}
