// vswconfig on a real switch with a big FDB: 3,000 source MACs sent from one
// host with scapy, then `vswconfig fdb` lists every one (a listing this size
// used to fail as one reply line too long), and -j prints one JSON document for
// fdb, show and stats that agrees with the text.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertOk, fdbEntries, type Host, Lab, TEST_ATTACH, TEST_DATAPATH, waitFor } from '../helpers/lab.js';

const BURST = 3000;
const lab = new Lab();
let A: Host, B: Host;

/** The i-th burst source: locally administered unicast, no host has it. */
const burstMac = (i: number): string => `02:5c:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

function statsJson(): { ports: { ifname: string }[]; fdb: { entries: number } } {
  const r = lab.vswconfig('-j', 'stats');
  assertOk(r, 'vswconfig -j stats');
  return JSON.parse(r.stdout) as ReturnType<typeof statsJson>;
}

before(async () => {
  [A, B] = [1, 2].map((n) => lab.addHost(n));
  await lab.startSwitch();
  for (const h of lab.hosts) assertOk(lab.vswconfig('add', h.port), `vswconfig add ${h.port}`);
  // One burst of BURST frames, each from its own source, to B.
  const sources = `['02:5c:00:00:%02x:%02x' % ((i >> 8) & 255, i & 255) for i in range(${BURST})]`;
  lab.sendFrames(A.ns, A.ifname, `[Ether(src=s, dst='${B.mac}', type=0x88b5)/Raw(load=b'burst'*10) for s in ${sources}]`);
  await waitFor(`${BURST} MACs learned`, () => statsJson().fdb.entries >= BURST, 20_000);
});

after(async () => {
  await lab.cleanup();
});

test(`vswconfig fdb lists all ${BURST} MACs of a burst, each on the sender's port, as many as stats counts`, () => {
  const entries = fdbEntries(lab);
  assert.equal(entries.length, statsJson().fdb.entries, 'fdb lists as many entries as stats counts');
  const onA = new Set(entries.filter((e) => e.port === A.port).map((e) => e.mac));
  const missing = Array.from({ length: BURST }, (_, i) => burstMac(i)).filter((m) => !onA.has(m));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} burst MACs missing on ${A.port}`);
});

test('vswconfig -j fdb is one JSON array with the same entries as the text', () => {
  const r = lab.vswconfig('-j', 'fdb');
  assertOk(r, 'vswconfig -j fdb');
  const json = JSON.parse(r.stdout) as { mac: string; ifname: string; age: number }[];
  assert.ok(Array.isArray(json));
  const text = fdbEntries(lab);
  assert.ok(json.length >= BURST && json.length === text.length, `json ${json.length} entries, text ${text.length}`);
  const key = (e: { mac: string; ifname?: string; port?: string }): string => `${e.mac} ${e.ifname ?? e.port}`;
  assert.deepEqual(new Set(json.map(key)), new Set(text.map(key)));
  assert.ok(json.every((e) => Number.isInteger(e.age) && e.age >= 0));
});

test('vswconfig -j show and -j stats are one JSON document each, naming the ports', () => {
  const show = lab.vswconfig('-j', 'show');
  assertOk(show, 'vswconfig -j show');
  assert.deepEqual(JSON.parse(show.stdout), { datapath: TEST_DATAPATH || 'kernel', attach: TEST_ATTACH || 'tcx', ports: [{ ifname: A.port }, { ifname: B.port }] });
  const stats = statsJson();
  assert.deepEqual(
    stats.ports.map((p) => p.ifname),
    [A.port, B.port],
  );
  assert.ok(stats.fdb.entries >= BURST);
});
