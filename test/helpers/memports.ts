// In-memory ports for tests of the forwarding core: an Egress that records
// what each port transmitted, and builders for frames and batches. Allocation
// is fine here; none of this is on a real data path.

import { Batch, NO_TAG } from '../../src/core/batch.js';
import type { Egress } from '../../src/core/egress.js';
import { parseMac, writeMac } from '../../src/core/mac.js';

export const ETH_P_IPV4 = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_LLDP = 0x88cc;

export type MacLike = string | number;

function toMac(m: MacLike): number {
  return typeof m === 'number' ? m : parseMac(m);
}

/**
 * An Ethernet frame without FCS: dst, src, ethertype, then `payloadLen` bytes
 * of payload (byte k of the payload is k & 0xff, so copies can be checked).
 */
export function ethernet(dst: MacLike, src: MacLike, ethertype: number, payloadLen = 46): Uint8Array {
  const f = new Uint8Array(14 + payloadLen);
  writeMac(f, 0, toMac(dst));
  writeMac(f, 6, toMac(src));
  f[12] = ethertype >>> 8;
  f[13] = ethertype & 0xff;
  for (let k = 0; k < payloadLen; k++) f[14 + k] = k & 0xff;
  return f;
}

/** (TPID << 16) | TCI as batch.vlan holds it. */
export function vlanTag(tpid: number, pcp: number, dei: number, vid: number): number {
  return ((tpid << 16) | ((pcp & 7) << 13) | ((dei & 1) << 12) | (vid & 0xfff)) | 0;
}

/** Insert a 4-byte 802.1Q/802.1ad tag after the two MACs. */
export function insertTag(frame: Uint8Array, tag: number): Uint8Array {
  const out = new Uint8Array(frame.length + 4);
  out.set(frame.subarray(0, 12), 0);
  const tpid = tag >>> 16;
  const tci = tag & 0xffff;
  out[12] = tpid >>> 8;
  out[13] = tpid & 0xff;
  out[14] = tci >>> 8;
  out[15] = tci & 0xff;
  out.set(frame.subarray(12), 16);
  return out;
}

export interface FrameSpec {
  /** The frame as received (tag already stripped, if `vlan` is given). */
  frame: Uint8Array;
  /** Stripped tag, (TPID << 16) | TCI; default NO_TAG. */
  vlan?: number;
  /** Default: frame.length - 14 (or 0 for a runt). */
  l3len?: number;
}

/**
 * A Batch over one fresh block of memory holding the given frames, at
 * offsets that are not all zero (a little gap before each frame) so that
 * offset handling is exercised.
 */
export function makeBatch(frames: ReadonlyArray<Uint8Array | FrameSpec>, capacity = Math.max(1, frames.length)): Batch {
  const specs: FrameSpec[] = frames.map((f) => (f instanceof Uint8Array ? { frame: f } : f));
  const GAP = 2;
  const total = specs.reduce((s, f) => s + f.frame.length + GAP, 0);
  const mem = new Uint8Array(total);
  const b = new Batch(capacity, mem);
  let o = 0;
  specs.forEach((f, i) => {
    o += GAP;
    mem.set(f.frame, o);
    b.off[i] = o;
    b.len[i] = f.frame.length;
    b.vlan[i] = f.vlan ?? NO_TAG;
    b.l3len[i] = f.l3len ?? Math.max(0, f.frame.length - 14);
    b.verdict[i] = 0;
    o += f.frame.length;
  });
  b.count = specs.length;
  return b;
}

/**
 * An Egress over arrays: `sent[port]` holds copies of the frames transmitted
 * on the port, with the stripped tag put back as it would be on the wire.
 * Ports listed in `full` refuse every frame (a full TX ring).
 */
export class MemPorts implements Egress {
  readonly sent: Uint8Array[][];
  readonly full = new Set<number>();
  /** Every accepted transmit as [port, frame index in its batch], in order. */
  readonly log: Array<[number, number]> = [];
  /** Every copy the core refused after deciding, as [port, frame index, Reason], in order. */
  readonly refusals: Array<[number, number, number]> = [];
  /** The tag (batch.vlan's form) each refused copy had when told, in the order of `refusals`. */
  readonly refusedTags: number[] = [];

  constructor(readonly maxPorts: number) {
    this.sent = Array.from({ length: maxPorts }, () => []);
  }

  transmit(port: number, batch: Batch, i: number): boolean {
    if (this.full.has(port)) return false;
    const o = batch.off[i];
    const frame = batch.mem.slice(o, o + batch.len[i]);
    const tag = batch.vlan[i];
    this.sent[port].push(tag === NO_TAG ? frame : insertTag(frame, tag));
    this.log.push([port, i]);
    return true;
  }

  refused(port: number, batch: Batch, i: number, reason: number): void {
    this.refusals.push([port, i, reason]);
    this.refusedTags.push(batch.vlan[i]);
  }

  /** Frames sent per port, as counts. */
  counts(): number[] {
    return this.sent.map((s) => s.length);
  }

  /** Ports that got at least one frame. */
  portsWithTraffic(): number[] {
    return this.sent.flatMap((s, p) => (s.length > 0 ? [p] : []));
  }

  clear(): void {
    for (const s of this.sent) s.length = 0;
    this.log.length = 0;
    this.refusals.length = 0;
    this.refusedTags.length = 0;
  }
}

/** Deterministic PRNG (mulberry32) for randomized tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random unicast, locally administered, non-zero MAC from `rand`. */
export function randomUnicastMac(rand: () => number): number {
  const hi = ((Math.floor(rand() * 0x10000) & 0xfcff) | 0x0200) & 0xffff; // I/G = 0, U/L = 1
  const lo = Math.floor(rand() * 4294967296);
  return hi * 4294967296 + lo;
}
