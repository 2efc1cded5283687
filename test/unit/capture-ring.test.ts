// The capture ring between a datapath thread and the main thread
// (src/datapath/capture-ring.ts): records as written, the stripped tag put
// back, the first CAPTURE_SNAPLEN bytes kept with the full length, records
// across the end, no room counted as lost, reset.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CAPTURE_KIND_DROP, CAPTURE_KIND_IN, CAPTURE_SNAPLEN, CaptureReader, type CapturedFrame, CaptureWriter, newCaptureBuffer,
} from '../../src/datapath/capture-ring.js';

function frame(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = (seed + k) & 0xff;
  return b;
}

function readAll(r: CaptureReader): Array<Omit<CapturedFrame, 'bytes'> & { bytes: number[] }> {
  const out: Array<Omit<CapturedFrame, 'bytes'> & { bytes: number[] }> = [];
  r.drain((f) => out.push({ ...f, bytes: Array.from(f.bytes) }));
  return out;
}

describe('capture ring', () => {
  it('a record is seen only once published, with its fields; a tag goes back after the MACs', () => {
    const buf = newCaptureBuffer(1 << 16);
    const w = new CaptureWriter(buf);
    const r = new CaptureReader(buf);
    const f = frame(60, 1);
    w.frame(5, CAPTURE_KIND_IN, 0, -1, 1000.5, f, 0, 60, (0x8100 << 16) | 0x2064);
    assert.equal(readAll(r).length, 0, 'not published yet');
    w.publish();
    const [got, ...more] = readAll(r);
    assert.equal(more.length, 0);
    assert.equal(got!.port, 5);
    assert.equal(got!.kind, CAPTURE_KIND_IN);
    assert.equal(got!.timeMs, 1000.5);
    assert.equal(got!.wireLen, 64);
    assert.equal(got!.rule, -1);
    assert.deepEqual(got!.bytes, [...f.subarray(0, 12), 0x81, 0x00, 0x20, 0x64, ...f.subarray(12)]);
  });

  it('keeps the first CAPTURE_SNAPLEN bytes of a big frame and its whole length; a drop keeps reason and rule', () => {
    const buf = newCaptureBuffer(1 << 16);
    const w = new CaptureWriter(buf);
    const r = new CaptureReader(buf);
    const f = frame(9000, 7);
    w.frame(1, CAPTURE_KIND_DROP, 11, 42, 0, f, 0, 9000, -1);
    w.publish();
    const [got] = readAll(r);
    assert.equal(got!.wireLen, 9000);
    assert.equal(got!.bytes.length, CAPTURE_SNAPLEN);
    assert.deepEqual(got!.bytes, Array.from(f.subarray(0, CAPTURE_SNAPLEN)));
    assert.equal(got!.reason, 11);
    assert.equal(got!.rule, 42);
  });

  it('records go on across the end of the ring in order; with no room they are lost and counted', () => {
    const buf = newCaptureBuffer(4096);
    const w = new CaptureWriter(buf);
    const r = new CaptureReader(buf);
    let next = 0;
    let seen = 0;
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 3; k++) w.frame(0, CAPTURE_KIND_IN, 0, -1, next++, frame(500, round), 0, 500, -1);
      w.publish();
      for (const f of readAll(r)) assert.equal(f.timeMs, seen++, 'in order, none skipped');
    }
    assert.equal(seen, 60);
    assert.equal(r.lost, 0);
    for (let k = 0; k < 10; k++) w.frame(0, CAPTURE_KIND_IN, 0, -1, k, frame(500, k), 0, 500, -1);
    w.publish();
    const kept = readAll(r).length;
    assert.ok(kept >= 6 && kept < 10, `${kept} of 10 fit`);
    assert.equal(r.lost, 10 - kept);
  });

  it('reset forgets what was not read', () => {
    const buf = newCaptureBuffer(4096);
    const w = new CaptureWriter(buf);
    const r = new CaptureReader(buf);
    w.frame(0, CAPTURE_KIND_IN, 0, -1, 0, frame(60, 0), 0, 60, -1);
    w.publish();
    w.reset();
    assert.equal(readAll(r).length, 0);
    w.frame(0, CAPTURE_KIND_IN, 0, -1, 9, frame(60, 0), 0, 60, -1);
    w.publish();
    assert.deepEqual(readAll(r).map((f) => f.timeMs), [9]);
  });
});
