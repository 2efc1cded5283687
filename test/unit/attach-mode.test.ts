// The attach mode's choice (tcx where the kernel has it, else tc), the oldest
// kernel of the kernel datapath, the tc watchdog's protocol and the netlink
// records the tc mode reads (filters with their program id, qdiscs).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseAttachMode, kernelHasTcx, kernelRunsDatapath } from '../../src/datapath/bpf.js';
import { forgetLine, TC_HANDLE, TC_PRIORITY, watchLine } from '../../src/datapath/tc.js';
import { applyLine } from '../../src/daemon/tc-watchdog.js';
import { eachMessage } from '../../src/os/netlink.js';
import { CLSACT_INGRESS, dumpFiltersRequest, dumpQdiscsRequest, parseDump, readFilter, readQdisc, RTM_GETTFILTER, type TcFilter } from '../../src/os/tc-netlink.js';

describe('attach mode', () => {
  it('default: tcx from Linux 6.6, tc below; asked for: as asked', () => {
    assert.equal(chooseAttachMode(undefined, '6.18.0-1-amd64'), 'tcx');
    assert.equal(chooseAttachMode(undefined, '6.6.0'), 'tcx');
    assert.equal(chooseAttachMode(undefined, '6.5.13'), 'tc');
    assert.equal(chooseAttachMode(undefined, '6.1.0-28-amd64'), 'tc');
    assert.equal(chooseAttachMode(undefined, '5.17.1'), 'tc');
    assert.equal(chooseAttachMode('tc', '6.18.0'), 'tc');
    assert.equal(chooseAttachMode('tcx', '6.1.0'), 'tcx'); // vswitchd refuses it before: no tcx there
    assert.equal(kernelHasTcx('garbage'), false);
  });

  it('the kernel datapath runs from Linux 5.17 (bpf_loop)', () => {
    for (const rel of ['5.17.0', '6.1.0-28-amd64', '6.18.0', '10.0']) assert.equal(kernelRunsDatapath(rel), true, rel);
    for (const rel of ['5.16.20', '5.10.0-30-amd64', '4.19.0', 'x']) assert.equal(kernelRunsDatapath(rel), false, rel);
  });
});

describe('tc watchdog protocol', () => {
  it('watch and forget lines as vswitchd writes them, applied by the watchdog', () => {
    const watched = new Map();
    const a = { ifindex: 12, ifname: 'veth1-vsw', progId: 345, qdiscMade: true };
    assert.equal(watchLine(a), `watch 12 ${TC_HANDLE} ${TC_PRIORITY} 345 1\n`);
    assert.ok(applyLine(watched, watchLine(a).trim()));
    assert.ok(applyLine(watched, watchLine({ ...a, ifindex: 13, qdiscMade: false }).trim()));
    assert.deepEqual(watched.get(12), { handle: TC_HANDLE, priority: TC_PRIORITY, progId: 345, qdiscMade: true });
    assert.equal(watched.get(13).qdiscMade, false);
    assert.ok(applyLine(watched, forgetLine(12).trim()));
    assert.deepEqual([...watched.keys()], [13]);
  });

  it('a line it does not know changes nothing', () => {
    const watched = new Map();
    for (const line of ['', 'watch 1 2 3', 'watch 1 2 3 4 5 6', 'forget', 'forget x', 'watch -1 2 3 4 0', 'unwatch 1', 'watch 1 2 3 4.5 0']) {
      assert.equal(applyLine(watched, line), false, JSON.stringify(line));
    }
    assert.equal(watched.size, 0);
  });
});

/** An RTM_NEWTFILTER as the kernel sends it: tcmsg, TCA_KIND "bpf", TCA_OPTIONS { TCA_BPF_ID }. */
function filterMessage(seq: number, priority: number, handle: number, progId: number | null): Uint8Array {
  const kind = Buffer.from(progId === null ? 'u32\0' : 'bpf\0');
  const opts = progId === null ? [] : [8, 0, 11, 0, ...new Uint8Array(new Uint32Array([progId]).buffer)];
  const len = 16 + 20 + 4 + 4 + (progId === null ? 0 : 4 + opts.length);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, 44, true);
  v.setUint32(8, seq, true);
  v.setInt32(20, 5, true); // ifindex
  v.setUint32(24, handle, true);
  v.setUint32(28, CLSACT_INGRESS, true);
  v.setUint32(32, ((priority << 16) | 0x0300) >>> 0, true); // priority, ETH_P_ALL (network order)
  v.setUint16(36, 8, true);
  v.setUint16(38, 1, true);
  b.set(kind, 40);
  if (progId !== null) {
    v.setUint16(44, 4 + opts.length, true);
    v.setUint16(46, 2, true);
    b.set(opts, 48);
  }
  return b;
}

describe('tc netlink', () => {
  it('a filter dump request names the interface and the hook', () => {
    const r = dumpFiltersRequest(9, 5, CLSACT_INGRESS);
    const v = new DataView(r.buffer);
    assert.deepEqual([v.getUint16(4, true), v.getUint16(6, true), v.getUint32(8, true)], [RTM_GETTFILTER, 0x301, 9]);
    assert.deepEqual([v.getInt32(20, true), v.getUint32(28, true)], [5, CLSACT_INGRESS]);
    assert.equal(new DataView(dumpQdiscsRequest(1).buffer).getUint16(4, true), 38);
  });

  it('reads priority, handle, kind and a bpf filter\'s program id; the dump ends at NLMSG_DONE', () => {
    const done = new Uint8Array(20);
    new DataView(done.buffer).setUint32(0, 20, true);
    new DataView(done.buffer).setUint16(4, 3, true);
    new DataView(done.buffer).setUint32(8, 9, true);
    const parts = [filterMessage(9, TC_PRIORITY, 0, 0), filterMessage(9, TC_PRIORITY, TC_HANDLE, 77), filterMessage(9, 100, 0x800, null)];
    const buf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (buf.set(p, at), (at += p.length));
    const out: TcFilter[] = [];
    assert.equal(parseDump(buf, buf.length, 9, readFilter, out), 'more');
    assert.deepEqual(out, [
      { priority: TC_PRIORITY, handle: 0, kind: 'bpf', progId: 0 },
      { priority: TC_PRIORITY, handle: TC_HANDLE, kind: 'bpf', progId: 77 },
      { priority: 100, handle: 0x800, kind: 'u32', progId: 0 },
    ]);
    assert.equal(parseDump(done, 20, 9, readFilter, out), 'done');
    assert.equal(parseDump(buf, buf.length, 10, readFilter, []), 'more', 'another request\'s answer is skipped');
    assert.equal(eachMessage(buf, buf.length, 9, (m) => readQdisc(buf, m)), null, 'a filter is no qdisc');
  });
});
