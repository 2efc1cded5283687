// The status word of a ring slot is shared with the kernel, which may run on
// another CPU. On arm64 it must be read and written with Atomics
// (sequentially consistent), as a plain typed-array access orders nothing
// there; on x86-64 plain accesses are already ordered, and cheaper. The ring
// code chooses by process.arch when it is loaded, so each case runs in a node
// of its own with process.arch set (test/helpers/status-accesses.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(DIST, 'test', 'helpers', 'status-accesses.js');
/** Loaded before the arch is faked: koffi loads its native part for the real one. */
const LIBC = pathToFileURL(join(DIST, 'src', 'native', 'libc.js')).href;

interface Accesses {
  arch: string;
  read: number;
  sent: boolean;
  loads: number[];
  stores: Array<[number, number]>;
  statusLoads: number[];
  statusStores: Array<[number, number]>;
}

function accessesOn(arch: string): Accesses {
  const fake = `data:text/javascript,Object.defineProperty(process,"arch",{value:${JSON.stringify(arch)}})`;
  const r = spawnSync(process.execPath, ['--import', LIBC, '--import', fake, SCRIPT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Accesses;
  assert.equal(out.arch, arch);
  assert.equal(out.read, 3);
  assert.equal(out.sent, true);
  return out;
}

test('ring status: on arm64 every RX and TX status word is read with Atomics.load and written with Atomics.store', () => {
  const a = accessesOn('arm64');
  assert.deepEqual(a.loads, a.statusLoads);
  assert.deepEqual(a.stores, a.statusStores);
});

test('ring status: on x86-64 status words are plain accesses (no Atomics call per frame)', () => {
  const a = accessesOn('x64');
  assert.deepEqual(a.loads, []);
  assert.deepEqual(a.stores, []);
});
