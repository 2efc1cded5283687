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
//
// Files: the storage (pool, index, lists) is FdbTable in fdb-table.ts; the Fdb
// below extends it with the policy: aging, refresh, moves, the per-port limit
// and eviction, and the counters. learnHL() and previewLearn() (the trace's
// learning stage) take the same decision, knownLearn() then roomFor().

import { FDB_EV_AGE, FDB_EV_EVICT, FDB_EV_FLUSH, FDB_EV_LEARN, FDB_EV_MOVE, FLUSH_REMOVED, type FdbJournal } from './fdb-journal.js';
import { FdbTable, NONE } from './fdb-table.js';
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

// What learning a key does (knownLearn, roomFor): learnHL() does it, previewLearn() tells it.
/** Known on this port: refresh. */
const L_REFRESH = 0;
/** Known alive on another port: move. */
const L_MOVE = 1;
/** Known but dead: rebound where it is, a new binding that takes no room. */
const L_REBIND = 2;
/** New key, room free. */
const ROOM_FREE = 0;
/** New key, port at its limit with a live oldest entry: refused. */
const ROOM_REFUSED = 1;
/** New key, port at its limit: its dead oldest entry is freed. */
const ROOM_OWN_DEAD = 2;
/** New key, table full: makeRoom() frees roomVictim(). */
const ROOM_FULL = 3;

export class Fdb extends FdbTable {
  readonly agingMs: number;
  readonly portLimit: number;

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

  /** Where learns, moves and removals are written for `vswconfig monitor` (fdb-journal.ts); null: nowhere. */
  journal: FdbJournal | null = null;

  private readonly refreshMs: number;

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
    super(size, maxPorts, secret);
    this.portLimit = portLimit;
    this.agingMs = agingMs;
    this.refreshMs = fdbRefreshMs(agingMs);
  }

  private alive(e: number, now: number): boolean {
    return this.seenOf(e) + this.agingMs > now;
  }

  // ------------------------------------------------------------------ hot path

  /**
   * Port the MAC (hi, lo) was learned on, or -1 if unknown or aged out.
   * No allocation; for the per-frame path.
   */
  lookupHL(hi: number, lo: number, now: number): number {
    const e = this.probe(hi, lo, this.hash(hi, lo));
    return e >= 0 && this.alive(e, now) ? this.portOf(e) : NONE;
  }

  /**
   * Learn (or refresh) that MAC (hi, lo) is on `port` at time `now`.
   * `port` must be in 0..maxPorts-1 (not checked here). No allocation.
   */
  learnHL(hi: number, lo: number, port: number, now: number): void {
    const h = this.hash(hi, lo);
    const e = this.probe(hi, lo, h);
    if (e >= 0) {
      const k = this.knownLearn(e, port, now);
      if (k === L_REFRESH) {
        // Cheap refresh: `seen` is rewritten (and the entry moved to its list's tail) once per refreshMs.
        if (now - this.seenOf(e) >= this.refreshMs) this.place(e, port, now);
        return;
      }
      if (k === L_MOVE) {
        this.moved++;
        this.journal?.push(FDB_EV_MOVE, hi, lo, port, this.portOf(e));
      } else {
        this.learned++; // the old entry was dead: this is a new binding
        this.journal?.push(FDB_EV_LEARN, hi, lo, port, 0);
      }
      this.place(e, port, now);
      return;
    }
    this.learnNew(hi, lo, h, ~e, port, now);
  }

  /** learnHL of a key the index does not hold (home slot h, empty slot i): apart, so that the per-frame part stays small. */
  private learnNew(hi: number, lo: number, h: number, i: number, port: number, now: number): void {
    const room = this.roomFor(port, now);
    if (room === ROOM_REFUSED) {
      this.refused++;
      return;
    }
    if (room === ROOM_OWN_DEAD) {
      this.noteRemoval(FDB_EV_AGE, this.head[port]);
      this.removeEntry(this.head[port]);
      this.expired++;
      i = this.firstEmpty(h);
    } else if (room === ROOM_FULL) {
      this.makeRoom(now);
      i = this.firstEmpty(h);
    }
    this.insert(hi, lo, h, i, port, now);
    this.learned++;
    this.journal?.push(FDB_EV_LEARN, hi, lo, port, 0);
  }

  /** Journal entry e's leaving (FDB_EV_AGE or FDB_EV_EVICT), before it goes. */
  private noteRemoval(kind: number, e: number): void {
    this.journal?.push(kind, this.hiOf(e), this.loOf(e), this.portOf(e), 0);
  }

  /** What learning known entry e on `port` does: L_REFRESH, L_MOVE or L_REBIND. */
  private knownLearn(e: number, port: number, now: number): number {
    if (this.portOf(e) === port) return L_REFRESH;
    return this.alive(e, now) ? L_MOVE : L_REBIND;
  }

  /** What learning a new key on `port` needs: ROOM_FREE, ROOM_REFUSED, ROOM_OWN_DEAD or ROOM_FULL. */
  private roomFor(port: number, now: number): number {
    if (this.portLimit !== 0 && this.portCount[port] >= this.portLimit) {
      // The port is full: only a dead entry of its own makes room.
      return this.alive(this.head[port], now) ? ROOM_REFUSED : ROOM_OWN_DEAD;
    }
    return this.count === this.size ? ROOM_FULL : ROOM_FREE;
  }

  /**
   * What learnHL(hi, lo, port, now) would do, without doing it (for a trace):
   * `refresh` (already there), `move` (from the port `from`), `new` (a new
   * entry; `victim` [hi, lo] is the live entry it would evict from a full
   * table), or `refused` (the port holds its limit). Not for the hot path.
   */
  previewLearn(hi: number, lo: number, port: number, now: number): LearnPreview {
    const e = this.probe(hi, lo, this.hash(hi, lo));
    if (e >= 0) {
      const k = this.knownLearn(e, port, now);
      return k === L_REFRESH ? { kind: 'refresh' } : k === L_MOVE ? { kind: 'move', from: this.portOf(e) } : { kind: 'new' };
    }
    const room = this.roomFor(port, now);
    if (room === ROOM_REFUSED) return { kind: 'refused' };
    if (room !== ROOM_FULL) return { kind: 'new' };
    const v = this.roomVictim(now);
    if (!this.alive(v, now)) return { kind: 'new' };
    return { kind: 'new', victim: [this.hiOf(v), this.loOf(v)], victimPort: this.portOf(v) };
  }

  /** Free one entry: the oldest if it is dead, else the oldest of the fullest port. */
  private makeRoom(now: number): void {
    const e = this.roomVictim(now);
    const dead = !this.alive(e, now);
    this.noteRemoval(dead ? FDB_EV_AGE : FDB_EV_EVICT, e);
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
    return [this.hiOf(e), this.loOf(e)];
  }

  /** Does `port` hold its limit of entries (a new station from it is refused, or costs its own dead oldest)? */
  atPortLimit(port: number): boolean {
    return this.portLimit !== 0 && this.portCount[port] >= this.portLimit;
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
        this.noteRemoval(FDB_EV_AGE, e);
        this.removeEntry(e);
        this.expired++;
        e = head[p];
      }
      if (e >= 0 && this.seenOf(e) + aging < nextDue) nextDue = this.seenOf(e) + aging;
    }
    if (nextDue === Infinity) return Infinity;
    return Math.max(nextDue, now + FDB_GRANULARITY_MS);
  }

  /** Forget every entry of `port` (detach; `reason`: FLUSH_*, fdb-journal.ts, for the journal). Returns how many were removed. */
  flushPort(port: number, reason = FLUSH_REMOVED): number {
    this.checkPort(port);
    const n = this.removePort(port);
    this.flushed += n;
    // One record per flush, with its count: a port going down with 60,000 stations is one line of `monitor`.
    if (n > 0) this.journal?.push(FDB_EV_FLUSH, reason, 0, port, n);
    return n;
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
    const e = this.probe(hi, lo, this.hash(hi, lo));
    if (e < 0) return false;
    this.removeEntry(e);
    return true;
  }

  /**
   * Visit each live entry, port by port, oldest first. Control path only;
   * do not modify the table from the callback.
   */
  forEach(fn: (mac: number, port: number, ageMs: number, vlan: number) => void, now: number): void {
    for (let p = 0; p < this.maxPorts; p++) {
      for (let e = this.head[p]; e >= 0; e = this.nextOf(e)) {
        const age = now - this.seenOf(e);
        if (age >= this.agingMs) continue;
        const hi = this.hiOf(e);
        fn(macFrom(hi & 0xffff, this.loOf(e)), p, Math.max(0, age), hi >>> 16);
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
}
