// A user's own tc set-up on a port stays as it was: a clsact qdisc with an
// ingress and an egress filter put on a port before `add` is found exactly as
// it was (`tc qdisc show`, `tc filter show`) after `delete` and after vswitchd
// is killed with SIGKILL. With --attach tc (VSWITCH_TEST_ATTACH=tc) vswitchd's
// own filter sits in that qdisc beside the user's while the port is attached;
// its watchdog removes it, and only it, when vswitchd is killed, and removes
// the clsact qdisc vswitchd made on the port that had none. With tcx nothing
// of vswitchd's is ever in tc: the same assertions hold.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertOk, labsCleanedAfterAll, signalDaemon, TEST_ATTACH, TEST_DATAPATH, vswitchTcFilters, waitFor } from '../helpers/lab.js';

const newLab = labsCleanedAfterAll();

describe('a user\'s own tc filters on a port', () => {
  it('are found unchanged after delete and after kill -9; kill -9 leaves no filter or qdisc of vswitchd\'s', async () => {
    const lab = newLab('10.87');
    const [h1, h2] = [lab.addHost(1), lab.addHost(2)];
    // h1's port: the user's clsact with a u32 filter each way (mirred: the kernel's only action here), at priorities of their own.
    lab.sh(`tc qdisc add dev ${h1.port} clsact`);
    lab.sh(`tc filter add dev ${h1.port} ingress pref 100 protocol all u32 match u32 0 0 action mirred egress mirror dev lo`);
    lab.sh(`tc filter add dev ${h1.port} egress pref 7 protocol ip u32 match ip dst 192.0.2.1/32 action mirred egress mirror dev lo`);
    const tcOf = (port: string): string =>
      ['ingress', 'egress'].map((dir) => lab.sh(`tc filter show dev ${port} ${dir}`)).join('--\n') + lab.sh(`tc qdisc show dev ${port}`);
    const before = tcOf(h1.port);
    const before2 = tcOf(h2.port);
    assert.match(before, /pref 100 u32/);
    assert.match(before, /clsact/);
    assert.doesNotMatch(before2, /clsact/);

    const d = await lab.startSwitch();
    // This kernel has tcx: that is the default; VSWITCH_TEST_ATTACH=tc asks for tc.
    const datapath = TEST_DATAPATH || 'kernel';
    const attach = TEST_ATTACH || 'tcx';
    assert.equal(lab.vswconfig('show').stdout, `datapath ${datapath} attach ${attach}\n`, 'show names the attach mode');
    assert.deepEqual(JSON.parse(lab.vswconfig('-j', 'show').stdout), { datapath, attach, ports: [] }, 'show -j names the attach mode');
    for (const h of [h1, h2]) assertOk(lab.vswconfig('add', h.port), `add ${h.port}`);
    const ours = TEST_ATTACH === 'tc' ? 1 : 0;
    for (const h of [h1, h2]) assert.equal(vswitchTcFilters(h.port).length, ours, `vswitchd's tc filters on ${h.port}`);
    assert.match(tcOf(h1.port), /pref 100 u32/, 'the user\'s filter beside ours');
    assert.ok(lab.ping(h1, h2.ip), 'h1 → h2 through the switch, the user\'s filter on h1\'s port');

    assertOk(lab.vswconfig('delete', h1.port), `delete ${h1.port}`);
    assert.equal(tcOf(h1.port), before, `tc on ${h1.port} after delete`);
    assertOk(lab.vswconfig('add', h1.port), `add ${h1.port} again`);
    assert.equal(vswitchTcFilters(h1.port).length, ours, `vswitchd's tc filter on ${h1.port} again`);

    await signalDaemon(d, 'SIGKILL');
    assert.equal(d.proc.signalCode, 'SIGKILL');
    await waitFor('no tc filter of vswitchd\'s left on either port', () => [h1, h2].every((h) => vswitchTcFilters(h.port).length === 0), 5_000);
    assert.equal(tcOf(h1.port), before, `tc on ${h1.port} after kill -9`);
    await waitFor(`tc on ${h2.port} as before (no clsact qdisc)`, () => tcOf(h2.port) === before2, 5_000);
  });
});
