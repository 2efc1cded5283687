// Differential test: the datapath under test (VSWITCH_TEST_DATAPATH, kernel
// when unset) against the forwarding core (src/core/forwarder.ts), the
// specification. A seeded random sequence of frames goes through the real
// switch, from four quiet hosts, and through the core on in-memory ports with
// the same port numbering and MTUs; both must deliver the same frames to the
// same ports in the same order (byte for byte), count the same drops by
// reason and the same per-port frames and bytes, and end with the same FDB.
//
// The sequence mixes known and unknown unicast, broadcast, multicast,
// link-local destinations (01:80:C2:00:00:0X), invalid sources (multicast,
// broadcast, zero), frames to a MAC that lives on the ingress port, MACs that
// move between hosts, 802.1Q, 802.1ad and QinQ tags, and frames around the
// 1400-byte MTU of host 3's port. Runts are not in it: a packet socket refuses
// to send a frame shorter than the device's 14-byte header, so none can
// reach a veth port.
//
// A second sequence overflows a 16-entry FDB with 40 stations, so that
// learning evicts (the fair eviction of src/core/fdb.ts), one frame at a time
// (see the test).
//
// Between thirds of the sequence a port goes down, and comes back up while
// another port's MTU shrinks from 1400 to 1300.
//
// The model runs on the send times of the frames, so that an FDB entry is
// refreshed (hit after 1 s) in the model when it is in the switch.
//
// A third sequence gives host 0's port VLAN mode access 10, host 1's trunk
// 10,20 and host 2's native-untagged 20 10 (host 3 keeps none), with 802.1Q
// VIDs drawn from 0, 10, 20 and 30: frames are dropped by VLAN, flooded per VLAN, learned per VLAN and leave
// tagged or untagged by port, so each captured frame is compared with the
// bytes the core sent to that port.
//
// The first and third sequences also run under a few ACL rules (src/core/acl.ts:
// a source MAC, a masked source on one ingress port at a higher priority, the
// type after the outer tag, a masked destination of untagged frames, a VLAN):
// acl-drop is among the drops compared, and each rule's hits must agree.
//
// Both run once more with two mirrors (src/core/mirror.ts) whose outputs are
// two more hosts: one selects frames entering two ports in some VLANs, the
// other frames leaving two ports (and, with VLAN modes, entering host 3's
// port) in any VLAN. Its output has the 1400-byte MTU and, with VLAN modes,
// is native-untagged 20 10, so copies leave tagged, untagged or (VLAN 0) as
// they came, or are too big. These runs send 40% of the frames 802.1Q
// tagged (20% otherwise) and 5% 802.1Q in 802.1Q. The captures of the
// outputs are compared like any port's (the copies' bytes), the outputs'
// hosts send a share of the frames (dropped as mirror-output, not learned),
// the first output is down while host 2's port is, and the copies of each
// mirror must agree.
//
// Two more sequences are half fuzzed frames (Sequence.fuzzFrame: random bytes,
// headers cut short, odd tag stacks, sizes around every MTU), without and with
// VLAN modes.
//
// Two more run full-size double-tagged frames (802.1Q over 802.1Q, 1495-1500 bytes past the
// Ethernet header) through an access port whose MTU (1496) is just under them with their inner
// tag, in a flood and as a mirror's copy after another mirror's copy took the switch's tag off.
//
// Two more change the ACL, the mirrors and VLAN modes between two frames; the core applies
// the same change between the same two frames.
//
// The seed is printed; VSWITCH_DIFF_SEED=N runs the sequences again.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseCliArgs } from '../../src/cli/args.js';
import { ACL_DEFAULT_PRIORITY, type AclRule, aclTable, compareRules, parseMacMask } from '../../src/core/acl.js';
import { NO_TAG } from '../../src/core/batch.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { formatMac, parseMac, writeMac } from '../../src/core/mac.js';
import { type MirrorSpec, mirrorTable } from '../../src/core/mirror.js';
import { REASON_NAMES } from '../../src/core/reasons.js';
import type { PortVlan } from '../../src/core/vlan.js';
import {
  type Capture,
  dropCounts,
  fdbEntries,
  type Host,
  labsCleanedAfterAll,
  portStats,
  TEST_DATAPATH,
  waitFor,
  waitUntil,
} from '../helpers/lab.js';
import { makeBatch, MemPorts, prng, vlanTag } from '../helpers/memports.js';
import { type Chunk, readPcap, sendChunks } from '../helpers/wire.js';

const DATAPATH = TEST_DATAPATH || 'kernel';
/** Host 3's veth pair (both ends) is smaller: frames around 1400 bytes test per-port MTU. */
const MTUS = [1500, 1500, 1500, 1400];
/** Between chunks from different ports: the switch finishes one before the next arrives. */
const GAP_MS = 20;

const ETH_P_EXPERIMENTAL = 0x88b5;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
/** 'VSWD', then the frame's sequence number: how a captured frame is recognised. */
const MAGIC = 0x56535744;

const newLab = labsCleanedAfterAll();

interface Sent {
  seq: number;
  /** Ingress host (= model port). */
  host: number;
  /** The bytes on the wire, tags included. */
  frame: Uint8Array;
  what: string;
}

/** Stations: unicast sources, each living behind one host at a time. */
const station = (i: number): number => parseMac('02:d1:ff:00:00:00') + i + 1;
const GROUPS = ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb', '33:33:00:00:00:01', '01:80:c2:00:00:10', '01:80:c2:00:00:21', '03:00:00:00:00:01'].map(parseMac);
const INVALID_SOURCES = ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01'].map(parseMac);

/**
 * A seeded random sequence, made phase by phase: chunks of 1–5 frames from one host each.
 * Stations live behind a host and sometimes move to another.
 */
class Sequence {
  readonly sent: Sent[] = [];
  private readonly pool: number[];
  private readonly home: number[];
  private readonly rand: () => number;
  /** VIDs of 802.1Q tags (random when absent). */
  vids: readonly number[] | null = null;
  /** The share of frames with one 802.1Q tag (then 5% 802.1ad, 5% 802.1ad + 802.1Q). */
  tagged = 0.2;
  /** Then the share of 802.1Q + 802.1Q: untagging moves the inner tag up (the kernel's skb_vlan_pop). */
  doubleQ = 0;
  /** The share of fuzzed frames (fuzzFrame): random bytes, cut headers, odd tag stacks, sizes around every MTU. */
  fuzz = 0;
  /** The share of frames whose size is around the smallest MTU. */
  big = 0.15;

  constructor(seed: number, stations: number) {
    this.pool = Array.from({ length: stations }, (_, i) => station(i));
    this.home = this.pool.map((_, i) => i % MTUS.length);
    this.rand = prng(seed);
  }

  /**
   * `frames` more frames from the hosts `senders`. `mtus`: per host, the largest frame (past the
   * Ethernet header) its interface and its port both take; sizes cluster around the smallest.
   */
  phase(frames: number, senders: readonly number[], mtus: readonly number[], maxChunk = 5): Chunk[] {
    const { rand, pool, home, sent } = this;
    const int = (n: number): number => Math.floor(rand() * n);
    const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
    const low = Math.min(...mtus);
    const end = sent.length + frames;
    const chunks: Chunk[] = [];
    while (sent.length < end) {
      const h = pick(senders);
      const chunk: Chunk = { host: h, frames: [] };
      for (let k = 1 + int(maxChunk); k > 0 && sent.length < end; k--) {
        let src: number;
        if (rand() < 0.06) {
          src = pick(INVALID_SOURCES);
        } else {
          let here = pool.filter((_, i) => home[i] === h);
          if (here.length === 0 || rand() < 0.06) {
            home[int(pool.length)] = h; // a station moves to this host
            here = pool.filter((_, i) => home[i] === h);
          }
          src = pick(here.length > 0 ? here : pool);
        }
        const r = rand();
        let dst: number;
        if (r < 0.4) dst = pick(pool);
        else if (r < 0.5) dst = pick(pool.filter((_, i) => home[i] === h).concat([src]));
        else if (r < 0.68) dst = pick(GROUPS);
        else if (r < 0.76) dst = parseMac('01:80:c2:00:00:00') + int(16);
        else dst = parseMac('02:d1:ee:00:00:00') + int(0x1000000); // never a source: unknown
        if (this.fuzz > 0 && rand() < this.fuzz) {
          chunk.frames.push(this.fuzzFrame(h, src, dst, mtus));
          continue;
        }

        const t = rand();
        const tags: number[] = []; // (TPID << 16) | TCI, outer first
        const vids = this.vids;
        const q = this.tagged;
        const outerQ = (): number => ((ETH_P_8021Q << 16) | (vids === null ? int(0x10000) : (int(16) << 12) | pick(vids))) >>> 0;
        if (t < q) tags.push(outerQ());
        else if (t < q + 0.05) tags.push(((ETH_P_8021AD << 16) | int(0x10000)) >>> 0);
        else if (t < q + 0.1) tags.push(((ETH_P_8021AD << 16) | int(0x10000)) >>> 0, ((ETH_P_8021Q << 16) | int(0x10000)) >>> 0);
        else if (t < q + 0.1 + this.doubleQ) tags.push(outerQ(), ((ETH_P_8021Q << 16) | int(0x10000)) >>> 0);

        // l3len = bytes past the Ethernet header once the kernel took the outer tag: an inner tag counts.
        // The sender's packet socket takes MTU + 14 bytes, 4 more only when the outer TPID is 0x8100.
        const inner = tags.length > 1 ? 4 : 0;
        const outerRoom = tags.length > 0 && tags[0]! >>> 16 === ETH_P_8021Q ? 0 : tags.length > 0 ? 4 : 0;
        const maxPayload = mtus[h]! - outerRoom - inner;
        let payload =
          rand() < this.big ? Math.min(maxPayload, pick([low - 1, low, low + 1, low + 2, 1280 + int(221)]) - inner) : 8 + int(200);
        // The userspace datapath sends every tag inline, and no device takes a frame past MTU + 18
        // bytes: a frame over the MTU by no more than its inner tags fits the core (tags do not
        // count) but cannot leave an AF_PACKET socket (README, "QinQ"). Not made on that datapath.
        if (DATAPATH === 'user' && inner > 0 && payload + inner > low && payload <= low) payload = low - inner;

        chunk.frames.push(this.frame(h, src, dst, tags, payload, inner));
      }
      chunks.push(chunk);
    }
    return chunks;
  }

  /**
   * A fuzzed frame from host h, one of four kinds:
   * - random bytes, 14 to 133 of them (any destination, source and type);
   * - cut short: 0–2 whole tags, a type and 0–7 bytes (no room for the marker), or a whole
   *   802.1Q tag followed by a second tag's TPID and 0–3 bytes of it;
   * - an odd tag stack: 2–4 tags whose TPIDs are 0x8100, 0x88a8 or 0x9100 (which is no VLAN
   *   TPID to either: a type), in any order;
   * - 0–3 tags and a size of an MTU (any port's) −2 to +2, past the outer tag.
   * A frame whose outer TPID is a VLAN's is at least 20 bytes (the tag and 2 bytes after it):
   * the kernel frees a shorter one before a tc program or a packet socket sees it
   * (skb_vlan_untag pulls VLAN_HLEN + 2), so no switch can.
   */
  private fuzzFrame(h: number, src: number, dst: number, mtus: readonly number[]): Uint8Array {
    const { rand } = this;
    const int = (n: number): number => Math.floor(rand() * n);
    const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
    const isVlan = (tpid: number): boolean => tpid === ETH_P_8021Q || tpid === ETH_P_8021AD;
    const tag = (tpid: number): number => ((tpid << 16) | int(0x10000)) >>> 0;
    const kind = int(4);
    if (kind === 0 || kind === 1) {
      let bytes: Uint8Array;
      if (kind === 0) {
        bytes = Uint8Array.from({ length: 14 + int(120) }, () => int(256));
      } else {
        const cutTag = rand() < 0.4;
        const tags = cutTag ? [tag(ETH_P_8021Q)] : Array.from({ length: int(3) }, () => tag(pick([ETH_P_8021Q, ETH_P_8021AD])));
        const tail = cutTag ? [ETH_P_8021Q >>> 8, ETH_P_8021Q & 0xff, ...Array.from({ length: int(4) }, () => int(256))] : [ETH_P_EXPERIMENTAL >>> 8, ETH_P_EXPERIMENTAL & 0xff, ...Array.from({ length: int(8) }, () => int(256))];
        bytes = new Uint8Array(12 + 4 * tags.length + tail.length);
        writeMac(bytes, 0, dst);
        writeMac(bytes, 6, src);
        tags.forEach((t, k) => new DataView(bytes.buffer).setUint32(12 + 4 * k, t));
        bytes.set(tail, 12 + 4 * tags.length);
      }
      if (bytes.length < 20 && isVlan((bytes[12]! << 8) | bytes[13]!)) bytes[12] = 0x08; // see above
      return this.record(h, bytes, kind === 0 ? 'random bytes' : 'cut short');
    }
    const tags =
      kind === 2
        ? Array.from({ length: 2 + int(3) }, () => tag(pick([ETH_P_8021Q, ETH_P_8021AD, 0x9100])))
        : Array.from({ length: int(4) }, () => tag(pick([ETH_P_8021Q, ETH_P_8021AD])));
    // Only the tags the kernel and the core see as tags count: up to the first other TPID.
    let seen = 0;
    while (seen < tags.length && isVlan(tags[seen]! >>> 16)) seen++;
    const inner = Math.max(0, seen - 1) * 4;
    const other = (tags.length - seen) * 4; // tags past a non-VLAN TPID are payload
    const outerRoom = seen > 0 && tags[0]! >>> 16 === ETH_P_8021Q ? 0 : 4 * Math.min(seen, 1);
    const maxPayload = mtus[h]! - outerRoom - inner - other;
    const sizes = [...new Set(mtus)];
    let payload = kind === 2 ? 8 + int(200) : Math.min(maxPayload, pick(sizes) - 2 + int(5) - inner - other);
    payload = Math.max(8, Math.min(maxPayload, payload));
    // As in phase(): on the userspace datapath no frame over an MTU by no more than its inner tags.
    if (DATAPATH === 'user') {
      for (const m of sizes.sort((a, b) => b - a)) if (payload + other + inner > m && payload + other <= m) payload = Math.min(maxPayload, m - inner - other);
    }
    const frame = this.frame(h, src, dst, tags, payload, inner + other);
    this.sent[this.sent.length - 1]!.what += kind === 2 ? ', odd tag stack' : ', around an MTU';
    return frame;
  }

  /** Frame number sent.length, as given (no marker): recorded in `sent`. */
  private record(h: number, frame: Uint8Array, kind: string): Uint8Array {
    const seq = this.sent.length;
    const hex = Array.from(frame.subarray(0, 20), (b) => b.toString(16).padStart(2, '0')).join('');
    this.sent.push({ seq, host: h, frame, what: `#${seq} from host ${h}: ${kind}, ${frame.length} bytes ${hex}…` });
    return frame;
  }

  /** Frame number sent.length: headers, the marker, random bytes; recorded in `sent`. */
  private frame(h: number, src: number, dst: number, tags: readonly number[], payload: number, inner: number): Uint8Array {
    const { rand, sent } = this;
    const int = (n: number): number => Math.floor(rand() * n);
    const seq = sent.length;
    const frame = new Uint8Array(12 + 4 * tags.length + 2 + payload);
    writeMac(frame, 0, dst);
    writeMac(frame, 6, src);
    let o = 12;
    for (const tag of tags) {
      frame[o] = tag >>> 24;
      frame[o + 1] = (tag >>> 16) & 0xff;
      frame[o + 2] = (tag >>> 8) & 0xff;
      frame[o + 3] = tag & 0xff;
      o += 4;
    }
    frame[o] = ETH_P_EXPERIMENTAL >>> 8;
    frame[o + 1] = ETH_P_EXPERIMENTAL & 0xff;
    o += 2;
    new DataView(frame.buffer).setUint32(o, MAGIC);
    new DataView(frame.buffer).setUint32(o + 4, seq);
    for (let k = o + 8; k < frame.length; k++) frame[k] = int(256);
    const tagText = tags.map((x) => `${(x >>> 16).toString(16)}/${(x & 0xffff).toString(16)}`).join('+') || 'untagged';
    const what = `#${seq} from host ${h}: ${formatMac(src)} → ${formatMac(dst)}, ${tagText}, l3len ${payload + inner}, ${frame.length} bytes`;
    sent.push({ seq, host: h, frame, what });
    return frame;
  }
}

/** The sequence number of a captured frame, or -1 if it is not one of ours. */
function seqOf(f: Uint8Array): number {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  let o = 12;
  // 0x9100 is no VLAN TPID to a switch, but fuzzFrame's odd stacks put the marker behind one.
  while (o + 2 <= f.length && (v.getUint16(o) === ETH_P_8021Q || v.getUint16(o) === ETH_P_8021AD || v.getUint16(o) === 0x9100)) o += 4;
  if (o + 10 > f.length || v.getUint16(o) !== ETH_P_EXPERIMENTAL || v.getUint32(o + 2) !== MAGIC) return -1;
  return v.getUint32(o + 6);
}

interface Outcome {
  /** Sequence numbers delivered to each port, in order. */
  delivered: number[][];
  /** The bytes the core sent, per port, in the same order as `delivered`. */
  bytes: Uint8Array[][];
  drops: Record<string, number>;
  ports: { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number }[];
  /** `MAC port` lines, sorted. */
  fdb: string[];
  /** Hits of each ACL rule, in match order. */
  aclHits: number[];
  /** Frames each mirror copied, by name. */
  mirrorCopies: Record<string, number>;
}

/** A port's link or MTU changed before frame `beforeSeq` was sent. */
interface LinkEvent {
  beforeSeq: number;
  port: number;
  up: boolean;
  mtu: number;
}

/** The configuration changed before frame `beforeSeq` was sent: the ACL, the mirrors (whole), VLAN modes. */
interface ConfigEvent {
  beforeSeq: number;
  acl: readonly AclRule[];
  mirrors: readonly MirrorSpec[];
  vlans: ReadonlyArray<[number, PortVlan]>;
}

/**
 * The specification's outcome: the core on in-memory ports, fed the same frames in the
 * same order at the times they were sent (ms), with the switch's FDB size and port MTUs,
 * and told of configuration and link changes where the switch saw them.
 */
function modelOutcome(
  hosts: readonly Host[],
  sent: readonly Sent[],
  sentAt: readonly number[],
  links: readonly LinkEvent[],
  fdbSize: number,
  mtus: readonly number[],
  vlans: readonly (PortVlan | null)[],
  acl: readonly AclRule[],
  mirrors: readonly MirrorSpec[],
  changes: readonly ConfigEvent[],
): Outcome {
  const egress = new MemPorts(mtus.length);
  const fwd = new Forwarder({ maxPorts: mtus.length, fdbSize, agingMs: 300_000 }, egress);
  mtus.forEach((mtu, p) => fwd.attach(p, true, mtu));
  vlans.forEach((v, p) => v !== null && fwd.setVlan(p, v));
  fwd.setAcl(aclTable([...acl].sort(compareRules)));
  let table = mirrorTable(mirrors, mtus.length);
  fwd.setMirrors(table);
  const delivered: number[][] = mtus.map(() => []);
  for (const s of sent) {
    for (const c of changes) {
      if (c.beforeSeq !== s.seq) continue;
      fwd.setAcl(aclTable([...c.acl].sort(compareRules)));
      table = mirrorTable(c.mirrors, mtus.length);
      fwd.setMirrors(table);
      for (const [p, v] of c.vlans) fwd.setVlan(p, v);
    }
    for (const e of links) if (e.beforeSeq === s.seq) fwd.setLink(e.port, e.up, e.mtu);
    // The kernel takes an outer 802.1Q/802.1ad tag into metadata before anyone sees the frame.
    const f = s.frame;
    const tpid = (f[12]! << 8) | f[13]!;
    let frame = f;
    let vlan = NO_TAG;
    if (tpid === ETH_P_8021Q || tpid === ETH_P_8021AD) {
      vlan = vlanTag(tpid, f[14]! >> 5, (f[14]! >> 4) & 1, ((f[14]! & 0xf) << 8) | f[15]!);
      frame = new Uint8Array(f.length - 4);
      frame.set(f.subarray(0, 12), 0);
      frame.set(f.subarray(16), 12);
    }
    egress.log.length = 0;
    fwd.process(makeBatch([{ frame, vlan }]), s.host, sentAt[s.seq]!);
    for (const [p] of egress.log) delivered[p]!.push(s.seq);
  }
  const bytes = egress.sent.map((list) => list.slice());
  const drops: Record<string, number> = {};
  REASON_NAMES.forEach((r, i) => (drops[r] = fwd.drops[i]!));
  return {
    delivered,
    bytes,
    drops,
    ports: mtus.map((_, p) => ({
      rxFrames: fwd.rxFrames[p]!,
      rxBytes: fwd.rxBytes[p]!,
      txFrames: fwd.txFrames[p]!,
      txBytes: fwd.txBytes[p]!,
    })),
    fdb: fwd.fdb
      .dumpFormatted(sentAt[sentAt.length - 1]!)
      .map((e) => `${e.mac} ${hosts[e.port]!.port} vlan ${e.vlan}`)
      .sort(),
    aclHits: fwd.aclHitCounts(),
    mirrorCopies: Object.fromEntries(fwd.mirrorCopyCounts().map((n, k) => [table.names[k]!, n])),
  };
}

/**
 * `vswconfig acl add ARGS` for the switch, and the same rule for the model (the k-th rule
 * has id k + 1, as the switch numbers them; `in HOSTn` names host n's port).
 */
function aclRules(hosts: readonly Host[], rules: readonly string[][]): { args: string[][]; model: AclRule[] } {
  const args = rules.map((r) => r.map((w) => (/^HOST\d$/.test(w) ? hosts[Number(w.slice(4))]!.port : w)));
  const model = args.map((a, k): AclRule => {
    const cmd = parseCliArgs(['acl', 'add', ...a], {});
    assert.ok(cmd.kind === 'run' && cmd.cmd === 'acl-add');
    const r = cmd.rule;
    return {
      id: k + 1,
      priority: r.priority ?? ACL_DEFAULT_PRIORITY,
      port: r.in === undefined ? null : hosts.findIndex((h) => h.port === r.in),
      src: r.src === undefined ? null : parseMacMask(r.src),
      dst: r.dst === undefined ? null : parseMacMask(r.dst),
      type: r.type ?? null,
      vlan: r.vlan ?? null,
      action: r.action,
    };
  });
  return { args, model };
}

/**
 * `vswconfig mirror add NAME ARGS` for the switch, and the same mirror for the model
 * (`HOSTn` names host n's port, in a list too).
 */
function mirrorRules(hosts: readonly Host[], mirrors: readonly string[][]): { args: string[][]; model: MirrorSpec[] } {
  const port = (w: string): string => w.replace(/HOST(\d)/g, (_, n: string) => hosts[Number(n)]!.port);
  const slot = (name: string): number => hosts.findIndex((h) => h.port === name);
  const args = mirrors.map((m) => m.map(port));
  const model = args.map((a): MirrorSpec => {
    const cmd = parseCliArgs(['mirror', 'add', ...a], {});
    assert.ok(cmd.kind === 'run' && cmd.cmd === 'mirror-add');
    const m = cmd.mirror;
    return {
      name: m.name,
      output: slot(m.output),
      selectAll: m.selectIngress === undefined && m.selectEgress === undefined,
      selectIngress: (m.selectIngress ?? []).map(slot),
      selectEgress: (m.selectEgress ?? []).map(slot),
      selectVlans: m.selectVlans ?? null,
    };
  });
  return { args, model };
}

/** Rules every kind of frame of the sequences meets: see the header. */
const ACL_RULES: readonly string[][] = [
  ['src', formatMac(station(2)), 'drop'],
  ['priority', '40000', 'in', 'HOST1', 'src', '02:d1:ff:00:00:00/ff:ff:ff:ff:ff:f0', 'allow'],
  ['priority', '100', 'type', '0x8100', 'drop'],
  ['dst', '01:00:5e:00:00:00/ff:ff:ff:00:00:00', 'vlan', 'untagged', 'drop'],
  ['priority', '50000', 'vlan', '20', 'src', formatMac(station(5)), 'drop'],
];

const SEED = Number(process.env.VSWITCH_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 31));

/**
 * Four quiet hosts on a switch running the datapath under test with `fdbSize`; then the
 * sequence in three phases, and the comparison. Between phases, host 2's port goes down
 * (its stations are forgotten, floods skip it), then up again while host 3's port shrinks
 * to an MTU of 1300; each change is waited for until the switch shows it.
 *
 * With `mirrors`, one more host per output MTU (hosts 4, 5, ...) and the mirrors (`HOSTn`
 * for host n's port); the output hosts send a chunk in 10 of the sequence each, and the
 * first of them is down with host 2.
 */
async function differential(
  t: TestContext,
  opts: {
    fdbSize: number;
    stations: number;
    frames: number;
    maxChunk?: number;
    vlans?: { ports: readonly (PortVlan | null)[]; args: readonly (string[] | null)[]; vids: readonly number[] };
    acl?: readonly string[][];
    mirrors?: { outputMtus: readonly number[]; rules: readonly string[][] };
    /** The share of fuzzed frames (Sequence.fuzzFrame). */
    fuzz?: number;
    /** The four hosts' MTUs (MTUS when absent). */
    mtus?: readonly number[];
    /** The frames' tags and sizes (Sequence's shares) when not the defaults. */
    mix?: { tagged: number; doubleQ: number; big: number };
    /**
     * A configuration change after the first third of the frames (all of them received),
     * before host 2 goes down: ACL rules added (`acl add` ARGS) then deleted (ids, the first
     * rule being 1), mirrors deleted (names) then added (`mirror add` ARGS), VLAN modes set.
     */
    change?: {
      aclAdd?: readonly string[][];
      aclDel?: readonly number[];
      mirrorDel?: readonly string[];
      mirrorAdd?: readonly string[][];
      vlans?: ReadonlyArray<{ host: number; args: string[]; vlan: PortVlan }>;
    };
  },
): Promise<void> {
  const seed = SEED;
  t.diagnostic(`seed ${seed} (rerun with VSWITCH_DIFF_SEED=${seed}), datapath ${DATAPATH}`);
  const lab = newLab();
  const outputMtus = opts.mirrors?.outputMtus ?? [];
  const allMtus = [...(opts.mtus ?? MTUS), ...outputMtus];
  const hosts = allMtus.map((mtu, n) => lab.addHost(n, { mtu, quiet: true }));
  await lab.startSwitch(['--datapath', DATAPATH, '--fdb-size', String(opts.fdbSize)]);
  for (const h of hosts) {
    const r = lab.vswconfig('add', h.port);
    assert.equal(r.code, 0, `vswconfig add ${h.port}: ${r.stderr}`);
  }
  const vlans = opts.vlans?.ports ?? hosts.map(() => null);
  opts.vlans?.args.forEach((args, p) => {
    if (args === null) return;
    const r = lab.vswconfig('vlan', hosts[p]!.port, ...args);
    assert.equal(r.code, 0, `vswconfig vlan ${hosts[p]!.port} ${args.join(' ')}: ${r.stderr}`);
  });
  const acl = aclRules(hosts, opts.acl ?? []);
  for (const a of acl.args) {
    const r = lab.vswconfig('acl', 'add', ...a);
    assert.equal(r.code, 0, `vswconfig acl add ${a.join(' ')}: ${r.stderr}`);
  }
  const mirrors = mirrorRules(hosts, opts.mirrors?.rules ?? []);
  for (const a of mirrors.args) {
    const r = lab.vswconfig('mirror', 'add', ...a);
    assert.equal(r.code, 0, `vswconfig mirror add ${a.join(' ')}: ${r.stderr}`);
  }
  // Outputs send too, but less: a port twice in the list sends twice as often.
  const outputs = outputMtus.map((_, k) => MTUS.length + k);
  const senders = (ports: readonly number[], outs: readonly number[]): number[] =>
    outs.length === 0 ? [...ports] : [...ports.flatMap((p) => [p, p]), ...outs];
  const seq = new Sequence(seed, opts.stations);
  seq.vids = opts.vlans?.vids ?? null;
  // More tagged frames with mirrors: a mirror selecting VLANs copies only those.
  if (opts.mirrors) [seq.tagged, seq.doubleQ] = [0.4, 0.05];
  seq.fuzz = opts.fuzz ?? 0;
  if (opts.mix) [seq.tagged, seq.doubleQ, seq.big] = [opts.mix.tagged, opts.mix.doubleQ, opts.mix.big];
  const sent = seq.sent;
  const third = Math.ceil(opts.frames / 3);
  const p3 = hosts[3]!.port;
  // The first output (if any) goes down and up with host 2.
  const down = [2, ...outputs.slice(0, 1)];
  const downPorts = down.map((p) => hosts[p]!.port);

  // The model gets the MTUs the switch itself reports.
  const before = portStats(lab);
  const mtus = hosts.map((h) => before.get(h.port)!.mtu);
  assert.deepEqual(mtus, allMtus, 'port MTUs seen by the switch');
  const drops0 = dropCounts(lab);

  const pcaps = hosts.map((h) => join(lab.dir, `${h.ifname}.pcap`));
  // -Q in: what the switch delivered, not what the host sent; -Z root: write into the lab's root-only directory;
  // --immediate-mode: otherwise the frames of the last second are still in a ring block when tcpdump stops.
  const caps: Capture[] = await Promise.all(hosts.map((h, i) => lab.capture(h.ns, h.ifname, `--immediate-mode -Q in -Z root -w ${pcaps[i]}`)));
  const sentAt: number[] = [];
  const links: LinkEvent[] = [];
  const changes: ConfigEvent[] = [];
  /** Until the switch has received every frame sent so far (true), or 10 s. */
  const received = (): Promise<boolean> =>
    waitUntil(() => {
      const s = portStats(lab);
      return hosts.reduce((n, h) => n + s.get(h.port)!.rxFrames - before.get(h.port)!.rxFrames, 0) >= sent.length;
    }, 10_000, 100);
  try {
    sentAt.push(...sendChunks(lab, hosts, seq.phase(third, senders([0, 1, 2, 3], outputs), allMtus, opts.maxChunk), GAP_MS));

    const c = opts.change;
    if (c) {
      // Between two frames: every one before is in, none after is sent until each command returned.
      assert.ok(await received(), 'the switch received the first third before the change');
      const run = (...args: string[]): void => {
        const r = lab.vswconfig(...args);
        assert.equal(r.code, 0, `vswconfig ${args.join(' ')}: ${r.stderr}`);
      };
      const added = aclRules(hosts, [...(opts.acl ?? []), ...(c.aclAdd ?? [])]);
      for (const a of added.args.slice(acl.args.length)) run('acl', 'add', ...a);
      for (const id of c.aclDel ?? []) run('acl', 'del', String(id));
      for (const name of c.mirrorDel ?? []) run('mirror', 'del', name);
      const kept = (opts.mirrors?.rules ?? []).filter((m) => !(c.mirrorDel ?? []).includes(m[0]!));
      const now = mirrorRules(hosts, [...kept, ...(c.mirrorAdd ?? [])]);
      for (const a of now.args.slice(kept.length)) run('mirror', 'add', ...a);
      for (const v of c.vlans ?? []) run('vlan', hosts[v.host]!.port, ...v.args);
      changes.push({
        beforeSeq: sent.length,
        acl: added.model.filter((r) => !(c.aclDel ?? []).includes(r.id)),
        mirrors: now.model,
        vlans: (c.vlans ?? []).map((v) => [v.host, v.vlan]),
      });
    }

    for (const p of downPorts) lab.sh(`ip link set ${p} down`);
    await waitFor(`the switch to see ${downPorts.join(', ')} down`, () => {
      const s = portStats(lab);
      return downPorts.every((p) => s.get(p)?.link === 'down');
    });
    for (const p of down) links.push({ beforeSeq: sent.length, port: p, up: false, mtu: allMtus[p]! });
    // A port that is down does not send either.
    const phase2 = seq.phase(third, senders([0, 1, 3], outputs.slice(1)), allMtus, opts.maxChunk);
    sentAt.push(...sendChunks(lab, hosts, phase2, GAP_MS));

    lab.sh(`${downPorts.map((p) => `ip link set ${p} up`).join(' && ')} && ip link set ${p3} mtu 1300`);
    await waitFor(`the switch to see ${downPorts.join(', ')} up and ${p3} at 1300`, () => {
      const s = portStats(lab);
      return downPorts.every((p) => s.get(p)?.link === 'up') && s.get(p3)?.mtu === 1300;
    });
    for (const p of down) links.push({ beforeSeq: sent.length, port: p, up: true, mtu: allMtus[p]! });
    links.push({ beforeSeq: sent.length, port: 3, up: true, mtu: 1300 });
    // Host 3's own interface stays at 1400: its port now refuses more, so it sends at most 1300.
    const mtus3 = allMtus.map((m, p) => (p === 3 ? 1300 : m));
    sentAt.push(...sendChunks(lab, hosts, seq.phase(opts.frames - 2 * third, senders([0, 1, 2, 3], outputs), mtus3, opts.maxChunk), GAP_MS));
    // Everything sent has been received by the switch (then 200 ms more in Capture.stop for the last copies).
    await received();
  } finally {
    await Promise.all(caps.map((c) => c.stop()));
  }

  const want = modelOutcome(hosts, sent, sentAt, links, opts.fdbSize, mtus, vlans, acl.model, mirrors.model, changes);

  // Deliveries are compared for the frames that carry the marker (a fuzzed frame may be too
  // short for it, or random bytes): the others still count in drops, counters and FDB below.
  const marked = sent.map((x) => seqOf(x.frame) >= 0);
  for (let p = 0; p < hosts.length; p++) {
    const keep = want.delivered[p]!.map((seq) => marked[seq]!);
    want.delivered[p] = want.delivered[p]!.filter((_, k) => keep[k]);
    want.bytes[p] = want.bytes[p]!.filter((_, k) => keep[k]);
  }
  // Deliveries, per frame first: the first few frames that went elsewhere than the core sends them.
  const got: number[][] = hosts.map(() => []);
  pcaps.forEach((path, p) => {
    for (const f of readPcap(path)) {
      const seq = seqOf(f);
      if (seq < 0) continue;
      assert.ok(seq < sent.length, `host ${p} captured an unknown sequence number ${seq} (seed ${seed})`);
      // As the core sent it to this port: the tag is the port's (the frame itself when no port has a mode).
      const k = got[p]!.length;
      const as = want.delivered[p]![k] === seq ? want.bytes[p]![k]! : sent[seq]!.frame;
      assert.deepEqual(f, as, `${sent[seq]!.what} arrived at host ${p} changed (seed ${seed})`);
      got[p]!.push(seq);
    }
  });
  const portsOf = (d: number[][], seq: number): string =>
    d.flatMap((list, p) => list.filter((s) => s === seq).map(() => p)).join(',') || 'none';
  const wrong = sent
    .filter((s) => marked[s.seq] && portsOf(want.delivered, s.seq) !== portsOf(got, s.seq))
    .slice(0, 5)
    .map((s) => `${s.what}: core → ports ${portsOf(want.delivered, s.seq)}, ${DATAPATH} → ports ${portsOf(got, s.seq)}`);
  assert.deepEqual(wrong, [], `seed ${seed}: frames delivered differently`);
  // Then the order on each port.
  hosts.forEach((_, p) => assert.deepEqual(got[p], want.delivered[p], `seed ${seed}: order of frames at host ${p}`));

  const drops1 = dropCounts(lab);
  const dropDelta: Record<string, number> = {};
  for (const r of REASON_NAMES) dropDelta[r] = (drops1[r] ?? 0) - (drops0[r] ?? 0);
  assert.deepEqual(dropDelta, want.drops, `seed ${seed}: drops by reason`);

  const after = portStats(lab);
  const counters = hosts.map((h) => {
    const a = after.get(h.port)!;
    const b = before.get(h.port)!;
    return { rxFrames: a.rxFrames - b.rxFrames, rxBytes: a.rxBytes - b.rxBytes, txFrames: a.txFrames - b.txFrames, txBytes: a.txBytes - b.txBytes };
  });
  assert.deepEqual(counters, want.ports, `seed ${seed}: per-port frames and bytes`);

  const fdb = fdbEntries(lab)
    .map((e) => `${e.mac} ${e.port} vlan ${e.vlan}`)
    .sort();
  assert.deepEqual(fdb, want.fdb, `seed ${seed}: FDB`);

  if (acl.args.length > 0) t.diagnostic(`ACL hits per rule, in match order: ${want.aclHits.join(', ')}; acl-drop ${want.drops['acl-drop']}`);
  const shown = JSON.parse(lab.vswconfig('-j', 'acl', 'show').stdout) as Array<{ hits: number }>;
  assert.deepEqual(shown.map((r) => r.hits), want.aclHits, `seed ${seed}: ACL hits per rule, in match order`);

  if (mirrors.args.length > 0) {
    const drop = want.drops['mirror-output'];
    t.diagnostic(`mirror copies: ${JSON.stringify(want.mirrorCopies)}; mirror-output drops ${drop}`);
    for (const p of outputs) {
      // The tags of each copy (TPIDs, outer first): what the copies exercised.
      const kinds: Record<string, number> = {};
      for (const f of want.bytes[p]!) {
        const tpids: string[] = [];
        for (let o = 12; (f[o]! << 8) + f[o + 1]! === ETH_P_8021Q || (f[o]! << 8) + f[o + 1]! === ETH_P_8021AD; o += 4) {
          tpids.push(((f[o]! << 8) + f[o + 1]!).toString(16));
        }
        const k = tpids.join('+') || 'untagged';
        kinds[k] = (kinds[k] ?? 0) + 1;
      }
      t.diagnostic(`host ${p} got ${JSON.stringify(kinds)}`);
    }
  }
  const copies = JSON.parse(lab.vswconfig('-j', 'mirror', 'show').stdout) as Array<{ name: string; copies: number }>;
  assert.deepEqual(Object.fromEntries(copies.map((m) => [m.name, m.copies])), want.mirrorCopies, `seed ${seed}: copies per mirror`);
}

test(`the ${DATAPATH} datapath and the forwarding core agree on a random sequence under ACL rules: deliveries, drops, counters, FDB, rule hits`, (t) =>
  differential(t, { fdbSize: 1024, stations: 12, frames: 400, acl: ACL_RULES }));

// One frame per chunk, 20 ms apart: the kernel datapath evicts the victim
// vswitchd named in the same frame, as the core does, but a second new station
// within microseconds is evicted for by vswitchd afterwards. Apart in time, the
// two must agree exactly.
test(`the ${DATAPATH} datapath and the forwarding core agree on frames 20 ms apart that overflow a 16-entry FDB`, (t) =>
  differential(t, { fdbSize: 16, stations: 40, frames: 200, maxChunk: 1 }));

// Ports with VLAN modes: host 0 access 10, host 1 trunk 10,20, host 2 native-untagged 20 10, host 3 none.
const VLAN_PORTS: Array<PortVlan | null> = [
  { mode: 'access', tag: 10, trunks: null },
  { mode: 'trunk', tag: 0, trunks: [[10, 10], [20, 20]] },
  { mode: 'native-untagged', tag: 20, trunks: [[10, 10]] },
  null,
];
const VLAN_ARGS: Array<string[] | null> = [['access', '10'], ['trunk', '10,20'], ['native-untagged', '20', '10'], null];
test(`the ${DATAPATH} datapath and the forwarding core agree with access, trunk and native ports and ACL rules: VLAN drops, per-VLAN floods and FDB, tagging, rule hits`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 400,
    vlans: { ports: VLAN_PORTS, args: VLAN_ARGS, vids: [0, 10, 20, 30] },
    acl: ACL_RULES,
  }));

// Two mirrors, outputs hosts 4 and 5 (MTU 1400): 'in' copies frames entering host 1's or
// host 3's port in VLANs 1-3000 (802.1Q tagged only: VLAN 0 cannot be selected), 'eg'
// those leaving host 0's or host 2's port, any VLAN (as they came: no port has a mode).
test(`the ${DATAPATH} datapath and the forwarding core agree on a random sequence under ACL rules and two mirrors: copies on the outputs, mirror-output drops, copies per mirror`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 400,
    acl: ACL_RULES,
    mirrors: {
      outputMtus: [1500, 1400],
      rules: [
        ['in', 'output', 'HOST4', 'select-ingress', 'HOST1,HOST3', 'select-vlan', '1-3000'],
        ['eg', 'output', 'HOST5', 'select-egress', 'HOST0,HOST2'],
      ],
    },
  }));

/** The VLAN modes above (and host 5 as host 2), the ACL and two mirrors: the two tests below share them. */
const WITH_VLANS_ACL_MIRRORS = {
  vlans: { ports: [...VLAN_PORTS, null, VLAN_PORTS[2]!], args: [...VLAN_ARGS, null, VLAN_ARGS[2]!], vids: [0, 10, 20, 30] },
  acl: ACL_RULES,
  mirrors: {
    outputMtus: [1500, 1400],
    rules: [
      ['in', 'output', 'HOST4', 'select-ingress', 'HOST1,HOST3', 'select-vlan', '10,30'],
      ['eg', 'output', 'HOST5', 'select-ingress', 'HOST3', 'select-egress', 'HOST0,HOST2'],
    ],
  },
};

// The VLAN modes above, and two mirrors: 'in' copies VLANs 10 and 30 entering host 1's (trunk)
// or host 3's port to host 4 (no mode: every copy tagged); 'eg' copies what leaves host 0's
// or host 2's port, and what enters host 3's, to host 5, native-untagged 20 10 (MTU 1400):
// VLAN 20 leaves it untagged, the others tagged, VLAN 0 (host 3: untagged, priority-tagged,
// 802.1ad, QinQ) as it came.
test(`the ${DATAPATH} datapath and the forwarding core agree with VLAN modes, ACL rules and two mirrors: copies tagged, untagged and as they came, mirror-output drops, copies per mirror`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 400,
    ...WITH_VLANS_ACL_MIRRORS,
  }));

// Fuzzed frames (Sequence.fuzzFrame), half of the sequence: random bytes, headers cut short,
// odd tag stacks and sizes around every port's MTU, under the ACL rules (whose type rule reads
// past the outer tag) — first on ports without a VLAN mode, then with the modes above. A frame
// too short for the marker is not told apart in the captures; it still counts in the drops,
// the per-port counters and the FDB, which must agree.
test(`the ${DATAPATH} datapath and the forwarding core agree on fuzzed frames (random bytes, cut headers, odd tag stacks, sizes around every MTU) under ACL rules`, (t) =>
  differential(t, { fdbSize: 1024, stations: 12, frames: 400, acl: ACL_RULES, fuzz: 0.5 }));

test(`the ${DATAPATH} datapath and the forwarding core agree on fuzzed frames with VLAN modes and ACL rules`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 400,
    vlans: { ports: VLAN_PORTS, args: VLAN_ARGS, vids: [0, 10, 20, 30] },
    acl: ACL_RULES,
    fuzz: 0.5,
  }));

// Full-size double-tagged frames: 802.1Q VLAN 10 or 20 over a second 802.1Q tag, 1495-1500
// bytes past the Ethernet header with the inner tag. Flooding one first takes the switch's
// tag off for the ports that leave the VLAN untagged, and the kernel then moves the inner
// tag into the skb's metadata (skb_vlan_pop): the frame's size without its tags must still
// count that tag. Host 0 (access 10) has an MTU of 1496, just under the frames of 1497-1500
// bytes with their inner tag and not without it: the core delivers them there, and to the
// trunk and native ports after.
test(`the ${DATAPATH} datapath and the forwarding core agree on full-size double-tagged floods to an access port whose MTU is just under them`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 240,
    mtus: [1496, 1500, 1500, 1500],
    vlans: { ports: VLAN_PORTS, args: VLAN_ARGS, vids: [10, 20] },
    mix: { tagged: 0.3, doubleQ: 0.5, big: 0.6 },
  }));

// The same frames copied by two mirrors of what enters hosts 1-3: 'a' to host 4 (access 10,
// MTU 1500: its copies of VLAN 10 leave untagged, the inner tag moved up), then 'b' to host 5
// (no mode, MTU 1496): each copy to 'b' comes after the pop of 'a''s, and the frame's size
// without its tags must still count the tag the pop moved up.
test(`the ${DATAPATH} datapath and the forwarding core agree on full-size double-tagged frames copied by a mirror after another mirror's copy took their tag off`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 240,
    mtus: [1500, 1500, 1500, 1500],
    vlans: {
      ports: [...VLAN_PORTS, { mode: 'access', tag: 10, trunks: null }, null],
      args: [...VLAN_ARGS, ['access', '10'], null],
      vids: [10, 20],
    },
    mix: { tagged: 0.3, doubleQ: 0.5, big: 0.6 },
    mirrors: {
      outputMtus: [1500, 1496],
      rules: [
        ['a', 'output', 'HOST4', 'select-ingress', 'HOST1,HOST2,HOST3'],
        ['b', 'output', 'HOST5', 'select-ingress', 'HOST1,HOST2,HOST3'],
      ],
    },
  }));

// The configuration changes between two frames (after the first third, every frame of it
// received, none of the rest sent): the core applies the same change between the same two
// frames. With the VLAN modes, ACL rules and mirrors above: a new rule of higher priority
// allows station 2 in VLAN 10 (rule 1 drops it), rule 3 goes; mirror 'in' goes (so 'eg'
// takes its slot) and a new one copies what enters host 4 (no longer an output) to host 1
// (its stations are forgotten, what it sends is dropped from then on), which becomes access
// 20; host 0 becomes native-tagged 10 20 (its untagged frames stay in VLAN 10, its stations
// are forgotten).
test(`the ${DATAPATH} datapath and the forwarding core agree when ACL rules, mirrors and VLAN modes change between two frames`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 300,
    ...WITH_VLANS_ACL_MIRRORS,
    change: {
      aclAdd: [['priority', '50001', 'src', formatMac(station(2)), 'vlan', '10', 'allow']],
      aclDel: [3],
      mirrorDel: ['in'],
      mirrorAdd: [['span1', 'output', 'HOST1', 'select-ingress', 'HOST4']],
      vlans: [
        { host: 0, args: ['native-tagged', '10', '20'], vlan: { mode: 'native-tagged', tag: 10, trunks: [[20, 20]] } },
        { host: 1, args: ['access', '20'], vlan: { mode: 'access', tag: 20, trunks: null } },
      ],
    },
  }));

// The same without VLAN modes at first: rule 4 goes and a new one allows station 2 above
// rule 1; mirror 'in' goes, a new one copies what leaves host 1 to host 3; host 1 becomes a
// trunk of VLANs 1-2047 (untagged frames and higher VLANs are dropped there from then on).
test(`the ${DATAPATH} datapath and the forwarding core agree when ACL rules and mirrors change and a port gets a VLAN mode between two frames`, (t) =>
  differential(t, {
    fdbSize: 1024,
    stations: 12,
    frames: 300,
    acl: ACL_RULES,
    mirrors: {
      outputMtus: [1500, 1400],
      rules: [
        ['in', 'output', 'HOST4', 'select-ingress', 'HOST1,HOST3', 'select-vlan', '1-3000'],
        ['eg', 'output', 'HOST5', 'select-egress', 'HOST0,HOST2'],
      ],
    },
    change: {
      aclAdd: [['priority', '50001', 'src', formatMac(station(2)), 'allow']],
      aclDel: [4],
      mirrorDel: ['in'],
      mirrorAdd: [['span3', 'output', 'HOST3', 'select-egress', 'HOST1']],
      vlans: [{ host: 1, args: ['trunk', '1-2047'], vlan: { mode: 'trunk', tag: 0, trunks: [[1, 2047]] } }],
    },
  }));
