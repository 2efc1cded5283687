// The parts of a restart that run without root (src/daemon/restart.ts,
// restart-state.ts, datapath/bpffs.ts, datapath/kernel/handover.ts): the new
// vswitchd's arguments, the state file's check, where a bpffs is mounted, what
// makes a pinned map another layout's, and the CLI's `restart`.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCliArgs, UsageError } from '../../src/cli/args.js';
import { parseDaemonArgs } from '../../src/daemon/args.js';
import { newArgv } from '../../src/daemon/restart.js';
import { readRestartState, type RestartState, writeRestartState } from '../../src/daemon/restart-state.js';
import { bpffsMounts } from '../../src/datapath/bpffs.js';
import { mapDifference } from '../../src/datapath/kernel/handover.js';
import { fdbDumpOf, learnDump } from '../../src/datapath/fdb-dump.js';
import { Fdb } from '../../src/core/fdb.js';
import { parseMac } from '../../src/core/mac.js';

describe('restart', () => {
  it("the new vswitchd gets the old one's arguments and --handover STATE (an earlier --handover dropped)", () => {
    assert.deepEqual(newArgv(['--socket', '/s', '--datapath', 'kernel'], '/run/vswitch/restart-1.json'), ['--socket', '/s', '--datapath', 'kernel', '--handover', '/run/vswitch/restart-1.json']);
    assert.deepEqual(newArgv(['--handover', '/old.json', '--db', '/d', '--handover=/x'], '/new.json'), ['--db', '/d', '--handover', '/new.json']);
    const cmd = parseDaemonArgs(newArgv(['--attach', 'tc'], '/new.json'));
    assert.equal(cmd.kind, 'run');
    assert.equal(cmd.kind === 'run' && cmd.config.handover, '/new.json');
    assert.throws(() => parseDaemonArgs(['--handover', '']), /needs a non-empty path/);
  });

  it('the state file is checked whole: its configuration as the --db file is, the FDB as numbers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsw-restart-'));
    try {
      const path = join(dir, 'restart-1.json');
      const state: RestartState = {
        version: 1,
        pid: 42,
        datapath: 'kernel',
        config: { version: 1, ports: [{ ifname: 'veth1', vlan: { mode: 'access', tag: 10, trunks: null } }], acl: { nextId: 1, rules: [] }, mirrors: [], tunnels: [] },
        slots: { veth1: 3 },
        fdb: [0x02000003, 1, 5, 10],
        pinDir: '/run/vswitch/bpffs/vswitch-restart-42',
        qdiscsMade: [],
      };
      writeRestartState(path, state);
      assert.deepEqual(readRestartState(path), state);
      writeFileSync(path, JSON.stringify({ ...state, config: { ...state.config, ports: [{ ifname: 'veth1', vlan: { mode: 'access', tag: 5000, trunks: null } }] } }));
      assert.throws(() => readRestartState(path), /ports\[0\]\.vlan\.tag/);
      writeFileSync(path, JSON.stringify({ ...state, fdb: [-1] }));
      assert.throws(() => readRestartState(path), /fdb\.0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bpffs is found by its type in the mount table', () => {
    const mounts = 'sysfs /sys sysfs rw 0 0\nbpf /sys/fs/bpf bpf rw,nosuid 0 0\nbpf /run/vswitch/bpffs bpf rw 0 0\n';
    assert.deepEqual(bpffsMounts(mounts), ['/sys/fs/bpf', '/run/vswitch/bpffs']);
    assert.deepEqual(bpffsMounts('proc /proc proc rw 0 0\n'), []);
  });

  it('a pinned map of another definition is named with what differs (another program layout is refused)', () => {
    const want = { name: 'fdb', type: 1, keySize: 8, valueSize: 16, maxEntries: 81920, flags: 0 };
    assert.equal(mapDifference(want, { ...want }), null);
    assert.equal(mapDifference(want, { ...want, valueSize: 24, maxEntries: 100 }), 'valueSize 24, this program\'s 16, maxEntries 100, this program\'s 81920');
  });

  it("the old FDB is learned with its ages: each station on its port and VLAN, aging from when it was last seen", () => {
    const fdb = new Fdb({ size: 64, agingMs: 300_000, maxPorts: 8 });
    const a = parseMac('02:00:00:00:00:0a');
    const b = parseMac('02:00:00:00:00:0b');
    learnDump(fdb, fdbDumpOf([{ mac: a, port: 1, ageSeconds: 10, vlan: 10 }, { mac: b, port: 2, ageSeconds: 299 }]), 1_000_000);
    assert.equal(fdb.lookup(a, 1_000_000, 10), 1);
    assert.equal(fdb.lookup(b, 1_000_000), 2);
    assert.equal(fdb.lookup(b, 1_001_500), -1, 'b ages out 300 s after it was last seen');
    assert.equal(fdb.lookup(a, 1_001_500, 10), 1);
  });

  it("vswconfig restart takes no argument", () => {
    assert.deepEqual(parseCliArgs(['restart'], {}), { kind: 'run', socket: '/run/vswitch/vswitchd.sock', cmd: 'restart' });
    assert.throws(() => parseCliArgs(['restart', 'now'], {}), UsageError);
  });
});
