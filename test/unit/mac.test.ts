import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatMac,
  isBroadcast,
  isLinkLocal,
  isMulticast,
  isValidSource,
  isZero,
  macFrom,
  macHi,
  macLo,
  parseMac,
  readDst,
  readSrc,
  writeMac,
} from '../../src/core/mac.js';

test('parseMac and formatMac round-trip, case-insensitive, with : or -', () => {
  for (const s of ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:80:c2:00:00:0e', '02:42:ac:11:00:02', 'fe:dc:ba:98:76:54']) {
    assert.equal(formatMac(parseMac(s)), s);
  }
  assert.equal(parseMac('AA-BB-CC-DD-EE-FF'), 0xaabbccddeeff);
  assert.equal(parseMac('a:b:c:d:e:f'), 0x0a0b0c0d0e0f);
  assert.throws(() => parseMac('aa:bb:cc:dd:ee'), RangeError);
  assert.throws(() => parseMac('aa:bb:cc:dd:ee:fg'), RangeError);
});

test('readDst/readSrc read the two MACs at an offset as numbers', () => {
  const mem = new Uint8Array(40);
  writeMac(mem, 5, 0xffeeddccbbaa);
  writeMac(mem, 11, 0x0123456789ab);
  assert.equal(readDst(mem, 5), 0xffeeddccbbaa);
  assert.equal(readSrc(mem, 5), 0x0123456789ab);
});

test('hi/lo split joins back to the same number, lo as a signed int32', () => {
  for (const m of [0, 1, 0xffffffffffff, 0x800000000000, 0x0000ffffffff, 0x0001_8000_0000]) {
    assert.equal(macFrom(macHi(m), macLo(m)), m);
    assert.equal(macLo(m), macLo(m) | 0);
  }
  assert.equal(macHi(0xffffffffffff), 0xffff);
  assert.equal(macLo(0xffffffffffff), -1);
});

test('predicates: multicast (I/G bit), broadcast, zero, link-local range, valid source', () => {
  assert.equal(isMulticast(parseMac('01:00:5e:00:00:01')), true);
  assert.equal(isMulticast(parseMac('33:33:00:00:00:01')), true);
  assert.equal(isMulticast(parseMac('ff:ff:ff:ff:ff:ff')), true);
  assert.equal(isMulticast(parseMac('02:00:00:00:00:01')), false);
  assert.equal(isMulticast(parseMac('fe:ff:ff:ff:ff:ff')), false);
  assert.equal(isBroadcast(parseMac('ff:ff:ff:ff:ff:ff')), true);
  assert.equal(isZero(0), true);
  assert.equal(isZero(parseMac('00:00:00:00:00:01')), false);
  for (let k = 0; k < 16; k++) assert.equal(isLinkLocal(0x0180c2000000 + k), true, `01:80:c2:00:00:${k.toString(16)}`);
  assert.equal(isLinkLocal(parseMac('01:80:c2:00:00:10')), false);
  assert.equal(isLinkLocal(parseMac('01:80:c2:00:01:00')), false);
  assert.equal(isLinkLocal(parseMac('01:80:c3:00:00:00')), false);
  assert.equal(isValidSource(parseMac('02:00:00:00:00:01')), true);
  assert.equal(isValidSource(0), false);
  assert.equal(isValidSource(parseMac('01:00:5e:00:00:01')), false);
  assert.equal(isValidSource(parseMac('ff:ff:ff:ff:ff:ff')), false);
});
