// Property tests of the forwarding core with fast-check: any bytes as frames,
// under any configuration (VLAN modes, ACL rules, mirrors, ports down, small
// MTUs), never make process() throw, and the counters add up — every frame
// of an attached port is counted received, every copy the egress took is
// counted sent on its port, every frame sent carries the MACs of a frame that
// came in, the FDB stays within its size and holds only attached ports.
// fast-check prints the seed and the shrunk case on failure;
// VSWITCH_FUZZ_SEED=N replays one.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ACL_ALLOW, ACL_DROP, type AclRule, aclTable, compareRules } from '../../src/core/acl.js';
import { NO_TAG } from '../../src/core/batch.js';
import { Forwarder } from '../../src/core/forwarder.js';
import { mirrorTable, type MirrorSpec } from '../../src/core/mirror.js';
import { REASON_NAMES } from '../../src/core/reasons.js';
import type { PortVlan } from '../../src/core/vlan.js';
import { makeBatch, MemPorts } from '../helpers/memports.js';

const PORTS = 6;
const FDB_SIZE = 16;
const seed = process.env.VSWITCH_FUZZ_SEED === undefined ? undefined : Number(process.env.VSWITCH_FUZZ_SEED);
const RUNS = { numRuns: 150, ...(seed === undefined ? {} : { seed }) };

/** MACs from a small set (so that learning, moves and same-port happen), or any 48 bits. */
const macBytes = fc.oneof(
  fc.constantFrom(
    [0x02, 0, 0, 0, 0, 1],
    [0x02, 0, 0, 0, 0, 2],
    [0x02, 0, 0, 0, 0, 3],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0x01, 0x80, 0xc2, 0, 0, 0x0e],
    [0x01, 0x00, 0x5e, 0, 0, 1],
    [0, 0, 0, 0, 0, 0],
  ),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }),
);
const tpid = fc.constantFrom(0x8100, 0x88a8, 0x0800, 0x0806, 0x86dd, 0x0000, 0xffff);

/** A frame: random bytes, or MACs + an odd stack of tags + type + payload, at sizes around the MTUs. */
const frameBytes = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 80 }),
  fc
    .record({
      dst: macBytes,
      src: macBytes,
      tags: fc.array(fc.tuple(tpid, fc.integer({ min: 0, max: 0xffff })), { maxLength: 4 }),
      type: tpid,
      payload: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1270, max: 1530 })),
    })
    .map(({ dst, src, tags, type, payload }) => {
      const f = new Uint8Array(12 + tags.length * 4 + 2 + payload);
      f.set(dst, 0);
      f.set(src, 6);
      let o = 12;
      for (const [t, tci] of tags) {
        f[o] = t >> 8;
        f[o + 1] = t & 0xff;
        f[o + 2] = tci >> 8;
        f[o + 3] = tci & 0xff;
        o += 4;
      }
      f[o] = type >> 8;
      f[o + 1] = type & 0xff;
      return f;
    }),
);

/** A frame as the kernel hands it: maybe with its outer tag stripped into batch.vlan. */
const received = fc.record({
  ingress: fc.integer({ min: 0, max: PORTS - 1 }),
  frame: frameBytes,
  vlan: fc.oneof(fc.constant(NO_TAG), fc.tuple(fc.constantFrom(0x8100, 0x88a8), fc.integer({ min: 0, max: 0xffff })).map(([t, tci]) => ((t << 16) | tci) | 0)),
  dt: fc.integer({ min: 0, max: 400_000 }),
});

const vid = fc.integer({ min: 1, max: 4094 });
const portVlan: fc.Arbitrary<PortVlan> = fc.oneof(
  fc.constant<PortVlan>({ mode: 'default', tag: 0, trunks: null }),
  vid.map((tag): PortVlan => ({ mode: 'access', tag, trunks: null })),
  fc.option(fc.array(fc.tuple(vid, vid).map(([a, b]): [number, number] => [Math.min(a, b), Math.max(a, b)]), { minLength: 1, maxLength: 3 }), { nil: null }).map(
    (trunks): PortVlan => ({ mode: 'trunk', tag: 0, trunks }),
  ),
  fc.tuple(vid, fc.constantFrom('native-tagged' as const, 'native-untagged' as const)).map(([tag, mode]): PortVlan => ({ mode, tag, trunks: null })),
);

const mac48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const rule = fc.record({
  priority: fc.integer({ min: 0, max: 65535 }),
  port: fc.option(fc.integer({ min: 0, max: PORTS - 1 }), { nil: null }),
  src: fc.option(fc.record({ mac: mac48, mask: fc.constantFrom(2 ** 48 - 1, 0x010000000000, 0) }), { nil: null }),
  type: fc.option(fc.constantFrom(0x0800, 0x0806, 0x86dd, 0x8100), { nil: null }),
  vlan: fc.option(fc.oneof(vid, fc.constant('untagged' as const)), { nil: null }),
  action: fc.constantFrom(ACL_ALLOW, ACL_DROP),
});

const config = fc.record({
  vlans: fc.array(portVlan, { minLength: PORTS, maxLength: PORTS }),
  down: fc.array(fc.boolean(), { minLength: PORTS, maxLength: PORTS }),
  mtus: fc.array(fc.constantFrom(1500, 1400, 1300, 9000, 68), { minLength: PORTS, maxLength: PORTS }),
  rules: fc.array(rule, { maxLength: 6 }),
  mirror: fc.option(
    fc.record({
      selectIngress: fc.subarray([0, 1, 2, 3, 4]),
      selectEgress: fc.subarray([0, 1, 2, 3, 4]),
      selectAll: fc.boolean(),
      selectVlans: fc.option(fc.array(fc.tuple(vid, vid).map(([a, b]): [number, number] => [Math.min(a, b), Math.max(a, b)]), { minLength: 1, maxLength: 2 }), { nil: null }),
    }),
    { nil: null },
  ),
});

describe('fuzz: the forwarding core', () => {
  it('any bytes under any configuration: process() never throws and the counters add up', () => {
    fc.assert(
      fc.property(config, fc.array(received, { minLength: 1, maxLength: 60 }), (cfg, frames) => {
        const mem = new MemPorts(PORTS);
        const f = new Forwarder({ maxPorts: PORTS, fdbSize: FDB_SIZE, agingMs: 300_000 }, mem);
        for (let p = 0; p < PORTS; p++) f.attach(p, !cfg.down[p], cfg.mtus[p]!);
        for (let p = 0; p < PORTS; p++) f.setVlan(p, cfg.vlans[p]!);
        const rules: AclRule[] = cfg.rules.map((r, k) => ({
          id: k + 1,
          priority: r.priority,
          port: r.port,
          src: r.src,
          dst: null,
          type: r.type,
          vlan: r.vlan,
          action: r.action === ACL_DROP ? 'drop' : 'allow',
        }));
        f.setAcl(aclTable(rules.sort(compareRules)));
        if (cfg.mirror !== null) {
          // Port 5 is the output; it is selected by nothing (the daemon's rules).
          const m: MirrorSpec = { name: 'm', output: 5, ...cfg.mirror };
          f.setMirrors(mirrorTable([m], PORTS));
        }
        const macsIn = new Set<string>();
        let now = 1_000;
        for (const r of frames) {
          now += r.dt;
          const b = makeBatch([{ frame: r.frame, vlan: r.vlan }]);
          f.process(b, r.ingress, now);
          if (r.frame.length >= 12) macsIn.add(Buffer.from(r.frame.subarray(0, 12)).toString('hex'));
        }
        const rx = Array.from(f.rxFrames).reduce((a, b) => a + b, 0);
        assert.equal(rx, frames.length, 'every frame of an attached port is counted received');
        for (let p = 0; p < PORTS; p++) {
          assert.equal(f.txFrames[p], mem.sent[p]!.length, `port ${p}: sent counts what the egress took`);
          if (cfg.down[p]) assert.equal(mem.sent[p]!.length, 0, `port ${p} is down: nothing leaves it`);
        }
        for (const sent of mem.sent) for (const s of sent) assert.ok(macsIn.has(Buffer.from(s.subarray(0, 12)).toString('hex')), 'a frame sent has the MACs of one received');
        for (let k = 0; k < REASON_NAMES.length; k++) assert.ok(Number.isInteger(f.drops[k]) && f.drops[k]! >= 0, `drops ${REASON_NAMES[k]}`);
        assert.ok(f.fdb.count <= FDB_SIZE, 'the FDB stays within its size');
      }),
      RUNS,
    );
  });
});
