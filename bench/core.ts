// Micro-benchmark of the forwarding core alone: no sockets, no rings, no
// copies. The egress only counts, so what is measured is the per-frame work
// of Forwarder.process(): validation, learning, lookup, verdict, delivery
// loop and counters.
//
//   node dist/bench/core.js [--ms 1500]
//
// Cases (batches of 64 frames of 60 bytes):
//   knownUnicast  two ports, one host each, traffic both ways
//   flood23       24 ports attached, broadcast from one port to the 23 others
//   fdb50k        50,000 MACs learned (25,000 per port), random host pairs
//   acl100        knownUnicast under 100 ACL rules that match none of its
//                 frames, so each frame is checked against all of them
//
// Figures are frames decided per second (each frame of a flood is one
// decision, delivered 23 times).

import { pathToFileURL } from 'node:url';
import { Batch, NO_TAG } from '../src/core/batch.js';
import type { Egress } from '../src/core/egress.js';
import { ACL_DEFAULT_PRIORITY, type AclRule, aclTable, compareRules } from '../src/core/acl.js';
import { Forwarder } from '../src/core/forwarder.js';
import { writeMac } from '../src/core/mac.js';

export interface CoreBenchOptions {
  /** Measured time per case, ms (default 1500). */
  durationMs?: number;
  /** Print a table to stdout (default false when imported). */
  print?: boolean;
}

export interface CoreBenchResult {
  knownUnicast: number;
  flood23: number;
  fdb50k: number;
  acl100: number;
}

const BATCH = 64;
const FRAME_LEN = 60;
const SLOT = 64;

class CountingEgress implements Egress {
  sent = 0;
  transmit(_port: number, _batch: Batch, _i: number): boolean {
    this.sent++;
    return true;
  }
  refused(): void {
    // no drop in these runs
  }
}

/** A batch of 64 minimal frames dst <- src, ethertype IPv4. */
function buildBatch(pairs: ReadonlyArray<readonly [number, number]>): Batch {
  const mem = new Uint8Array(BATCH * SLOT);
  const b = new Batch(BATCH, mem);
  for (let i = 0; i < BATCH; i++) {
    const [dst, src] = pairs[i % pairs.length];
    const o = i * SLOT;
    writeMac(mem, o, dst);
    writeMac(mem, o + 6, src);
    mem[o + 12] = 0x08;
    mem[o + 13] = 0x00;
    b.off[i] = o;
    b.len[i] = FRAME_LEN;
    b.vlan[i] = NO_TAG;
    b.l3len[i] = FRAME_LEN - 14;
  }
  b.count = BATCH;
  return b;
}

interface Case {
  fwd: Forwarder;
  egress: CountingEgress;
  batches: Batch[];
  ingress: number[];
}

function host(k: number): number {
  // 02:00:xx:xx:xx:xx, locally administered unicast
  return 0x020000000000 + k;
}

function knownUnicastCase(): Case {
  const egress = new CountingEgress();
  const fwd = new Forwarder({ maxPorts: 24, fdbSize: 65536, agingMs: 300_000 }, egress);
  fwd.attach(0, true, 1500);
  fwd.attach(1, true, 1500);
  const a = host(1);
  const b = host(2);
  fwd.fdb.learn(a, 0, Date.now());
  fwd.fdb.learn(b, 1, Date.now());
  return { fwd, egress, batches: [buildBatch([[b, a]]), buildBatch([[a, b]])], ingress: [0, 1] };
}

/**
 * knownUnicast with 100 rules, half allow, half drop, none matching: another
 * source; host 1's source to another destination; 1 → 2 on its port but
 * IPv6; 1 (masked) → 2 as IPv4 in VLAN 100+; another ingress port (as the
 * benchmark's measure (9) installs in the switch).
 */
function acl100Case(): Case {
  const c = knownUnicastCase();
  const a = host(1);
  const b = host(2);
  const full = 0xffffffffffff;
  const rules: AclRule[] = [];
  for (let k = 0; k < 100; k++) {
    const r: AclRule = { id: k + 1, priority: ACL_DEFAULT_PRIORITY - k, port: null, src: null, dst: null, type: null, vlan: null, action: k % 2 === 0 ? 'drop' : 'allow' };
    const other = 0x02ac00000001 + k * 0x10000;
    if (k % 5 === 0) r.src = { mac: other, mask: full };
    else if (k % 5 === 1) Object.assign(r, { src: { mac: a, mask: full }, dst: { mac: other, mask: full } });
    else if (k % 5 === 2) Object.assign(r, { port: 0, src: { mac: a, mask: full }, dst: { mac: b, mask: full }, type: 0x86dd });
    else if (k % 5 === 3) Object.assign(r, { src: { mac: a, mask: 0xffffffffff00 }, dst: { mac: b, mask: full }, type: 0x0800, vlan: 100 + k });
    else r.port = 2 + (k % 20);
    rules.push(r);
  }
  c.fwd.setAcl(aclTable(rules.sort(compareRules)));
  return c;
}

function flood23Case(): Case {
  const egress = new CountingEgress();
  const fwd = new Forwarder({ maxPorts: 24, fdbSize: 65536, agingMs: 300_000 }, egress);
  for (let p = 0; p < 24; p++) fwd.attach(p, true, 1500);
  return { fwd, egress, batches: [buildBatch([[0xffffffffffff, host(1)]])], ingress: [0] };
}

function fdb50kCase(): Case {
  const egress = new CountingEgress();
  const fwd = new Forwarder({ maxPorts: 24, fdbSize: 65536, agingMs: 300_000 }, egress);
  fwd.attach(0, true, 1500);
  fwd.attach(1, true, 1500);
  const PER_PORT = 25_000;
  // Hosts 0..24999 on port 0, 25000..49999 on port 1, spread over the MAC
  // space so that they do not share their high octets.
  const mac = (k: number) => 0x020000000000 + (Math.imul(k + 1, 0x9e3779b1) >>> 0) + (k % 251) * 0x100000000;
  const hosts: number[] = [];
  for (let k = 0; k < 2 * PER_PORT; k++) {
    const m = mac(k);
    hosts.push(m);
    fwd.fdb.learn(m, k < PER_PORT ? 0 : 1, Date.now());
  }
  if (fwd.fdb.count !== 2 * PER_PORT) throw new Error(`fdb50k: ${fwd.fdb.count} MACs learned, expected ${2 * PER_PORT}`);
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const batches: Batch[] = [];
  const ingress: number[] = [];
  for (let k = 0; k < 512; k++) {
    const fromPort = k & 1;
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < BATCH; i++) {
      const src = hosts[fromPort * PER_PORT + rnd(PER_PORT)];
      const dst = hosts[(1 - fromPort) * PER_PORT + rnd(PER_PORT)];
      pairs.push([dst, src]);
    }
    batches.push(buildBatch(pairs));
    ingress.push(fromPort);
  }
  return { fwd, egress, batches, ingress };
}

/** Frames decided per second over about `ms` of running the case. */
function run(c: Case, ms: number, expectSentPerFrame: number): number {
  const { fwd, batches, ingress } = c;
  const nb = batches.length;
  const clock = () => performance.now();
  // warm-up (JIT)
  let k = 0;
  const warmEnd = clock() + Math.min(300, ms / 4);
  while (clock() < warmEnd) {
    for (let r = 0; r < 256; r++, k++) fwd.process(batches[k % nb], ingress[k % nb], Date.now());
  }
  c.egress.sent = 0;
  fwd.resetCounters();
  let frames = 0;
  const t0 = clock();
  const end = t0 + ms;
  let t = t0;
  while (t < end) {
    for (let r = 0; r < 256; r++, k++) fwd.process(batches[k % nb], ingress[k % nb], Date.now());
    frames += 256 * BATCH;
    t = clock();
  }
  const rate = frames / ((t - t0) / 1000);
  if (c.egress.sent !== frames * expectSentPerFrame) {
    throw new Error(`bench sanity: ${c.egress.sent} transmits for ${frames} frames, expected ${expectSentPerFrame} each; drops ${Array.from(fwd.drops)}; fdb moved ${fwd.fdb.moved} count ${fwd.fdb.count} tx ${Array.from(fwd.txFrames.subarray(0, 2))}`);
  }
  return rate;
}

export async function runCoreBench(opts: CoreBenchOptions = {}): Promise<CoreBenchResult> {
  const ms = opts.durationMs ?? 1500;
  const knownUnicast = run(knownUnicastCase(), ms, 1);
  const flood23 = run(flood23Case(), ms, 23);
  const fdb50k = run(fdb50kCase(), ms, 1);
  const acl100 = run(acl100Case(), ms, 1);
  const result = { knownUnicast, flood23, fdb50k, acl100 };
  if (opts.print) {
    const fmt = (x: number) => (x / 1e6).toFixed(2).padStart(8);
    console.log('core micro-benchmark (batches of 64 x 60-byte frames, counting egress)');
    console.log('case            Mframes/s   Mtransmits/s');
    console.log(`knownUnicast    ${fmt(knownUnicast)}    ${fmt(knownUnicast)}`);
    console.log(`flood23         ${fmt(flood23)}    ${fmt(flood23 * 23)}`);
    console.log(`fdb50k          ${fmt(fdb50k)}    ${fmt(fdb50k)}`);
    console.log(`acl100          ${fmt(acl100)}    ${fmt(acl100)}`);
  }
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--ms');
  const durationMs = i > 0 ? Number(process.argv[i + 1]) : undefined;
  await runCoreBench({ durationMs, print: true });
}
