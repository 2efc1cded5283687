// The kernel datapath's byte layouts: bpf/datapath.h asserts each shared
// struct's size and field offsets at compile time; LAYOUT (layout.ts) is the
// same table on the TypeScript side. These tests read the header itself (its
// _Static_assert lines and its struct declarations) and hold LAYOUT and the
// encoders to it, so that neither side can change alone.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { A_ACTION, A_DST_HI, A_DST_HI_MASK, A_DST_LO, A_DST_LO_MASK, A_PORT, A_SRC_HI, A_SRC_HI_MASK, A_SRC_LO, A_SRC_LO_MASK, A_TYPE, A_VLAN, ACL_STRIDE } from '../../src/core/acl.js';
import { Fdb } from '../../src/core/fdb.js';
import { REASON_COUNT } from '../../src/core/reasons.js';
import { fillVlanBitmap, VLAN_BITMAP_BYTES } from '../../src/core/vlan.js';
import { EVENTS_LOST_SLOT, SUPPRESSED_FULL_SLOT, SUPPRESSED_LIMITED_SLOT } from '../../src/datapath/kernel/maps.js';
import { statsReply } from '../../src/datapath/thread.js';
import {
  addPortCounters, encodeAclRule, encodeConfig, encodeFdbEntry, encodeMirror, encodePort, FDB_KEY_HI_MASK, LAYOUT, type StructName,
} from '../../src/datapath/kernel/layout.js';

const HEADER = readFileSync(new URL('../../../bpf/datapath.h', import.meta.url), 'utf8');

interface CField {
  name: string;
  type: string;
  /** Bytes: the type's size times the array length. */
  bytes: number;
}

const TYPE_BYTES: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __s32: 4, __u64: 8 };

/** The header's struct declarations: name → fields in order. */
function headerStructs(): Map<string, CField[]> {
  const text = HEADER.replace(/\/\*[\s\S]*?\*\//g, '');
  const out = new Map<string, CField[]>();
  for (const m of text.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}\s*;/g)) {
    const fields: CField[] = [];
    for (const decl of m[2].split(';')) {
      const d = decl.trim();
      if (d === '') continue;
      const f = /^(\w+)\s+(\w+)(?:\[(\d+)\])?$/.exec(d);
      assert.ok(f, `struct ${m[1]}: cannot read the field declaration '${d}'`);
      const size = TYPE_BYTES[f[1]];
      assert.ok(size, `struct ${m[1]}: unknown type ${f[1]}`);
      fields.push({ name: f[2], type: f[1], bytes: size * Number(f[3] ?? 1) });
    }
    out.set(m[1], fields);
  }
  return out;
}

/** The header's _Static_assert lines: struct → its size and field offsets, in the order asserted. */
function headerAsserts(): Record<string, { size: number; fields: Record<string, number> }> {
  const out: Record<string, { size: number; fields: Record<string, number> }> = {};
  let n = 0;
  for (const line of HEADER.split('\n')) {
    if (!line.startsWith('_Static_assert')) continue;
    n++;
    const size = /^_Static_assert\(sizeof\(struct (\w+)\) == (\d+), "[^"]*"\);$/.exec(line);
    const field = /^_Static_assert\(offsetof\(struct (\w+), (\w+)\) == (\d+), "[^"]*"\);$/.exec(line);
    if (size) {
      assert.equal(out[size[1]], undefined, `struct ${size[1]}: its size is asserted twice`);
      out[size[1]] = { size: Number(size[2]), fields: {} };
    } else if (field) {
      assert.ok(out[field[1]], `struct ${field[1]}: a field asserted before the size`);
      out[field[1]].fields[field[2]] = Number(field[3]);
    } else {
      assert.fail(`an assert this test cannot read: ${line}`);
    }
  }
  assert.ok(n > 0, 'no _Static_assert in bpf/datapath.h');
  return out;
}

/** Field `name` of struct `s`, read at LAYOUT's offset with the width and sign the header declares. */
function field(v: DataView, s: StructName, name: string): number | bigint {
  const f = headerStructs().get(s)!.find((x) => x.name === name);
  assert.ok(f, `struct ${s} has no field ${name}`);
  const at = (LAYOUT[s].fields as Record<string, number>)[name];
  switch (f.type) {
    case '__u16':
      return v.getUint16(at, true);
    case '__u32':
      return v.getUint32(at, true);
    case '__s32':
      return v.getInt32(at, true);
    case '__u64':
      return v.getBigUint64(at, true);
  }
  throw new Error(`no reader for ${f.type}`);
}

/**
 * Runs `encode` into a DataView of exactly the struct's size, first over 0xaa
 * bytes and then over 0x55: the two results must be equal, so the encoder
 * wrote every byte (pads included) and nothing past the struct.
 */
function encoded(s: StructName, encode: (v: DataView) => void): DataView {
  const a = new Uint8Array(LAYOUT[s].size).fill(0xaa);
  const b = new Uint8Array(LAYOUT[s].size).fill(0x55);
  encode(new DataView(a.buffer));
  encode(new DataView(b.buffer));
  assert.deepEqual(a, b, `struct ${s}: the encoder leaves bytes unwritten`);
  return new DataView(a.buffer);
}

describe('kernel maps: C and TypeScript layouts', () => {
  it('the header asserts exactly the sizes and offsets of LAYOUT, struct by struct and field by field, in order', () => {
    const asserted = headerAsserts();
    assert.deepEqual(Object.keys(asserted), Object.keys(LAYOUT));
    for (const [s, l] of Object.entries(LAYOUT)) {
      assert.equal(asserted[s].size, l.size, `sizeof(struct ${s})`);
      assert.deepEqual(Object.entries(asserted[s].fields), Object.entries(l.fields), `offsets of struct ${s}`);
    }
  });

  it('every field the header declares in a shared struct has its offset asserted, and none is left out of LAYOUT', () => {
    const structs = headerStructs();
    for (const [s, l] of Object.entries(LAYOUT)) {
      const decl = structs.get(s);
      assert.ok(decl, `bpf/datapath.h declares no struct ${s}`);
      assert.deepEqual(decl.map((f) => f.name), Object.keys(l.fields), `fields of struct ${s}`);
    }
  });

  it('the shared structs have no implicit padding: the fields, pads included, tile the struct', () => {
    const structs = headerStructs();
    for (const [s, l] of Object.entries(LAYOUT)) {
      let at = 0;
      for (const f of structs.get(s)!) {
        assert.equal((l.fields as Record<string, number>)[f.name], at, `struct ${s}: ${f.name}`);
        at += f.bytes;
      }
      assert.equal(at, l.size, `struct ${s}: its fields end at its size`);
    }
  });

});

describe('kernel maps: encoders write each field where the header puts it', () => {
  it('vsw_port: ifindex, flags, MTU, VLAN mode and tag, the veth peer, the mirror masks, the capture flags', () => {
    const v = encoded('vsw_port', (d) =>
      encodePort(d, {
        ifindex: 0x01020304, flags: 0x1f, mtu: 9000, vlanMode: 4, vlanTag: 4094,
        peer: { mac: 0x0a0b0c0d0e0f, mtu: 1450 }, mirrorIn: 0x80000001, mirrorOut: -1, capture: 7,
      }),
    );
    assert.equal(field(v, 'vsw_port', 'ifindex'), 0x01020304);
    assert.equal(field(v, 'vsw_port', 'flags'), 0x1f);
    assert.equal(field(v, 'vsw_port', 'mtu'), 9000);
    assert.equal(field(v, 'vsw_port', 'vlan_mode'), 4);
    assert.equal(field(v, 'vsw_port', 'vlan_tag'), 4094);
    assert.equal(field(v, 'vsw_port', 'peer_mtu'), 1450);
    assert.equal(field(v, 'vsw_port', 'mirror_in'), 0x80000001);
    assert.equal(field(v, 'vsw_port', 'peer_mac'), 0x0a0b0c0d0e0fn);
    assert.equal(field(v, 'vsw_port', 'mirror_out'), 0xffffffff);
    assert.equal(field(v, 'vsw_port', 'capture'), 7);
  });

  it('vsw_port without a veth peer: peer MAC and MTU zero', () => {
    const v = encoded('vsw_port', (d) => encodePort(d, { ifindex: 7, flags: 3, mtu: 1500, vlanMode: 0, vlanTag: 0, peer: null, mirrorIn: 0, mirrorOut: 0, capture: 0 }));
    assert.equal(field(v, 'vsw_port', 'peer_mac'), 0n);
    assert.equal(field(v, 'vsw_port', 'peer_mtu'), 0);
  });

  it('vsw_config: times in ns, flood bound, bank, victim (all ones for -1), counts and ACL generation', () => {
    const v = encoded('vsw_config', (d) =>
      encodeConfig(d, { agingMs: 300_000, refreshMs: 1000, portHi: 24, bank: 1, victim: -1n, vlanPorts: 3, aclRules: 256, mirrors: 32, aclGen: 0xfffffffe }),
    );
    assert.equal(field(v, 'vsw_config', 'aging_ns'), 300_000_000_000n);
    assert.equal(field(v, 'vsw_config', 'refresh_ns'), 1_000_000_000n);
    assert.equal(field(v, 'vsw_config', 'port_hi'), 24);
    assert.equal(field(v, 'vsw_config', 'bank'), 1);
    assert.equal(field(v, 'vsw_config', 'victim'), 0xffffffffffffffffn);
    assert.equal(field(v, 'vsw_config', 'vlan_ports'), 3);
    assert.equal(field(v, 'vsw_config', 'acl_rules'), 256);
    assert.equal(field(v, 'vsw_config', 'mirrors'), 32);
    assert.equal(field(v, 'vsw_config', 'acl_gen'), 0xfffffffe);
    const w = encoded('vsw_config', (d) =>
      encodeConfig(d, { agingMs: 1, refreshMs: 1, portHi: 0, bank: 0, victim: (5n << 48n) | 0x020000000001n, vlanPorts: 0, aclRules: 0, mirrors: 0, aclGen: 1 }),
    );
    assert.equal(field(w, 'vsw_config', 'victim'), (5n << 48n) | 0x020000000001n);
  });

  it('vsw_mirror: the output slot, pad zero, the VLAN bitmap as the u64 words the program tests', () => {
    const bits = new Uint8Array(VLAN_BITMAP_BYTES);
    fillVlanBitmap({ mode: 'access', tag: 100, trunks: null }, bits);
    const v = encoded('vsw_mirror', (d) => encodeMirror(d, 17, bits));
    assert.equal(field(v, 'vsw_mirror', 'out_port'), 17);
    assert.equal(field(v, 'vsw_mirror', 'pad'), 0);
    const word = (k: number): bigint => v.getBigUint64(LAYOUT.vsw_mirror.fields.vlans + 8 * k, true);
    // The program's test: vlans[vid >> 6] >> (vid & 63) & 1.
    assert.equal((word(100 >> 6) >> BigInt(100 & 63)) & 1n, 1n);
    for (let k = 0; k < 64; k++) if (k !== 100 >> 6) assert.equal(word(k), 0n);
    assert.throws(() => encodeMirror(new DataView(new ArrayBuffer(LAYOUT.vsw_mirror.size)), 1, new Uint8Array(64)), RangeError);
  });

  it('vsw_vlans: a port bitmap is the struct as it is (same size, bit v in word v >> 6)', () => {
    assert.equal(VLAN_BITMAP_BYTES, LAYOUT.vsw_vlans.size);
    const bits = new Uint8Array(VLAN_BITMAP_BYTES);
    fillVlanBitmap({ mode: 'trunk', tag: 0, trunks: [[4094, 4094]] }, bits);
    const v = new DataView(bits.buffer);
    assert.equal((v.getBigUint64(LAYOUT.vsw_vlans.fields.bits + 8 * (4094 >> 6), true) >> BigInt(4094 & 63)) & 1n, 1n);
  });

  it('vsw_acl_rule: rule k of the core table, MACs as hi << 32 | lo, port/type/vlan signed, action', () => {
    const rules = new Int32Array(3 * ACL_STRIDE);
    const k = 1;
    const at = k * ACL_STRIDE;
    rules[at + A_SRC_HI] = 0x0200;
    rules[at + A_SRC_LO] = 0x00000001;
    rules[at + A_SRC_HI_MASK] = 0xffff;
    rules[at + A_SRC_LO_MASK] = -1;
    rules[at + A_DST_HI] = 0x0a0b;
    rules[at + A_DST_LO] = 0x0c0d0e0f;
    rules[at + A_DST_HI_MASK] = 0x0100;
    rules[at + A_DST_LO_MASK] = 0;
    rules[at + A_PORT] = 5;
    rules[at + A_TYPE] = -1;
    rules[at + A_VLAN] = -2;
    rules[at + A_ACTION] = 1;
    const v = encoded('vsw_acl_rule', (d) => encodeAclRule(d, rules, k));
    assert.equal(field(v, 'vsw_acl_rule', 'src'), 0x020000000001n);
    assert.equal(field(v, 'vsw_acl_rule', 'src_mask'), 0xffffffffffffn);
    assert.equal(field(v, 'vsw_acl_rule', 'dst'), 0x0a0b0c0d0e0fn);
    assert.equal(field(v, 'vsw_acl_rule', 'dst_mask'), 0x010000000000n);
    assert.equal(field(v, 'vsw_acl_rule', 'port'), 5);
    assert.equal(field(v, 'vsw_acl_rule', 'type'), -1);
    assert.equal(field(v, 'vsw_acl_rule', 'vlan'), -2);
    assert.equal(field(v, 'vsw_acl_rule', 'action'), 1);
  });

  it('vsw_fdb_entry: the port, not bulk (0: the program marks it at the next GSO frame), seen in ns', () => {
    const v = encoded('vsw_fdb_entry', (d) => encodeFdbEntry(d, 1023, 12_345.678912));
    assert.equal(field(v, 'vsw_fdb_entry', 'port'), 1023);
    assert.equal(field(v, 'vsw_fdb_entry', 'bulk'), 0);
    assert.equal(field(v, 'vsw_fdb_entry', 'seen_ns'), 12_345_678_912n);
  });

  it('vsw_port_counters: each CPU\'s four counters added from their offsets', () => {
    const size = LAYOUT.vsw_port_counters.size;
    const buf = new DataView(new ArrayBuffer(2 * size));
    const f = LAYOUT.vsw_port_counters.fields;
    for (let c = 0; c < 2; c++) {
      buf.setBigUint64(c * size + f.rx_frames, 1n + BigInt(c), true);
      buf.setBigUint64(c * size + f.rx_bytes, 100n, true);
      buf.setBigUint64(c * size + f.tx_frames, 7n, true);
      buf.setBigUint64(c * size + f.tx_bytes, 1000n * BigInt(c + 1), true);
    }
    const out = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 };
    for (let c = 0; c < 2; c++) addPortCounters(out, buf, c * size);
    assert.deepEqual(out, { rxFrames: 3, rxBytes: 200, txFrames: 14, txBytes: 3000 });
  });

  it('an FDB key: the VID in bits 48-59 of the u64 is bits 16-27 of the high word', () => {
    const key = (4094n << 48n) | 0xfedcba987654n;
    const v = new DataView(new ArrayBuffer(8));
    v.setBigUint64(0, key | (0xfn << 60n), true); // bits above the VID are not the key's
    const hi = v.getUint32(4, true) & FDB_KEY_HI_MASK;
    assert.equal(hi >>> 16, 4094);
    assert.equal(hi & 0xffff, 0xfedc);
    assert.equal(v.getInt32(0, true) >>> 0, 0xba987654);
  });
});

describe('kernel maps: events the program suppresses (issue 15)', () => {
  it('the drop slots of suppressed events and lost events are the header\'s, and none is a frame drop reason', () => {
    const slot = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(HEADER)?.[1] ?? NaN);
    assert.equal(slot('VSW_R_SUPPRESSED_LIMITED'), SUPPRESSED_LIMITED_SLOT);
    assert.equal(slot('VSW_R_SUPPRESSED_FULL'), SUPPRESSED_FULL_SLOT);
    assert.equal(slot('VSW_R_EVENTS_LOST'), EVENTS_LOST_SLOT);
    for (const s of [SUPPRESSED_LIMITED_SLOT, SUPPRESSED_FULL_SLOT, EVENTS_LOST_SLOT]) assert.ok(s >= REASON_COUNT, `slot ${s} is a reason's`);
    assert.ok(slot('VSW_DROP_SLOTS') > Math.max(SUPPRESSED_LIMITED_SLOT, SUPPRESSED_FULL_SLOT, EVENTS_LOST_SLOT));
  });

  it('stats: suppressed events of a port at its limit count as refusals too; both kinds as suppressed', () => {
    const fdb = new Fdb({ size: 4, agingMs: 300_000, maxPorts: 2, portLimit: 1 });
    fdb.learn(0x020000000001, 0, 0);
    fdb.learn(0x020000000002, 0, 0); // refused: port 0 holds its limit
    const s = statsReply([], new Float64Array(REASON_COUNT), fdb, { limited: 40, full: 2 });
    assert.equal(s.fdb.refused, 41);
    assert.equal(s.fdb.suppressed, 42);
    const none = statsReply([], new Float64Array(REASON_COUNT), fdb);
    assert.deepEqual([none.fdb.refused, none.fdb.suppressed], [1, 0], 'the userspace datapath suppresses nothing');
  });
});
