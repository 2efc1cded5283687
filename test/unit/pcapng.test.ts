// The pcapng writer (src/cli/pcapng.ts), read back field by field as the
// format says (tshark and tcpdump read real files in
// test/integration/capture.test.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EPB_INBOUND, EPB_OUTBOUND, enhancedPacket, interfaceDescription, sectionHeader } from '../../src/cli/pcapng.js';

/** A block's type, its body, and checks that its two lengths agree and it is 4-aligned. */
function readBlock(b: Buffer): { type: number; body: Buffer } {
  const len = b.readUInt32LE(4);
  assert.equal(len, b.length, 'the block is all of the buffer');
  assert.equal(len % 4, 0, 'blocks are 32-bit aligned');
  assert.equal(b.readUInt32LE(len - 4), len, 'the trailing length repeats the leading one');
  return { type: b.readUInt32LE(0), body: b.subarray(8, len - 4) };
}

/** Options from `at` to opt_endofopt, as code → values. */
function readOptions(body: Buffer, at: number): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  for (;;) {
    const code = body.readUInt16LE(at);
    const len = body.readUInt16LE(at + 2);
    if (code === 0) {
      assert.equal(len, 0);
      assert.equal(at + 4, body.length, 'opt_endofopt ends the block');
      return out;
    }
    out.set(code, [...(out.get(code) ?? []), body.subarray(at + 4, at + 4 + len)]);
    at += 4 + ((len + 3) & ~3);
  }
}

describe('pcapng writer', () => {
  it('section header: type 0x0A0D0D0A, byte-order magic, version 1.0, length unknown', () => {
    const { type, body } = readBlock(sectionHeader());
    assert.equal(type, 0x0a0d0d0a);
    assert.equal(body.readUInt32LE(0), 0x1a2b3c4d);
    assert.equal(body.readUInt16LE(4), 1);
    assert.equal(body.readUInt16LE(6), 0);
    assert.equal(body.readBigInt64LE(8), -1n);
    assert.equal(body.length, 16);
  });

  it('interface description: Ethernet, the snap length, the port in if_name', () => {
    const { type, body } = readBlock(interfaceDescription('veth1-vsw', 1600));
    assert.equal(type, 1);
    assert.equal(body.readUInt16LE(0), 1, 'LINKTYPE_ETHERNET');
    assert.equal(body.readUInt16LE(2), 0);
    assert.equal(body.readUInt32LE(4), 1600);
    assert.deepEqual(readOptions(body, 8).get(2)?.map(String), ['veth1-vsw']);
  });

  it('enhanced packet: interface, microsecond time, captured and original length, padded data, direction, comment', () => {
    const data = Buffer.from('0102030405060708090a0b0c0d', 'hex'); // 13 bytes: padded to 16
    const timeMs = 1765100000123.456;
    const { type, body } = readBlock(enhancedPacket(3, timeMs, data, 1514, EPB_INBOUND, 'acl-drop rule 7'));
    assert.equal(type, 6);
    assert.equal(body.readUInt32LE(0), 3);
    const us = (BigInt(body.readUInt32LE(4)) << 32n) | BigInt(body.readUInt32LE(8));
    assert.equal(us, 1765100000123456n);
    assert.equal(body.readUInt32LE(12), 13);
    assert.equal(body.readUInt32LE(16), 1514);
    assert.deepEqual(body.subarray(20, 33), data);
    assert.deepEqual(body.subarray(33, 36), Buffer.alloc(3), 'zero padding');
    const opts = readOptions(body, 36);
    assert.deepEqual(opts.get(1)?.map(String), ['acl-drop rule 7']);
    assert.equal(opts.get(2)?.[0]?.readUInt32LE(0), EPB_INBOUND);
  });

  it('an outbound frame without comment has only its flags', () => {
    const { body } = readBlock(enhancedPacket(0, 0, Buffer.alloc(60), 60, EPB_OUTBOUND));
    const opts = readOptions(body, 20 + 60);
    assert.equal(opts.has(1), false);
    assert.equal(opts.get(2)?.[0]?.readUInt32LE(0), EPB_OUTBOUND);
  });
});
