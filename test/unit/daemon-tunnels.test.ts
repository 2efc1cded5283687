// Tunnel ports (src/daemon/tunnels.ts) over a fake kernel, the FakeDataplane
// and a fake sysfs: a failure halfway through `tunnel add` leaves nothing
// behind, and a port with a larger MTU than a tunnel's is logged and listed.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Tunnels, type TunnelKernel } from '../../src/daemon/tunnels.js';
import { RTM_DELLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWNEIGH } from '../../src/daemon/tunnel-netlink.js';
import { VswError } from '../../src/errors.js';
import { startTestSwitch, type TestSwitch } from '../helpers/fake-dataplane.js';

/** A kernel that routes every address through ifindex 1 ('lo' for if_indextoname), makes the device in the fake sysfs, and fails what it is told to. */
class FakeKernel implements TunnelKernel {
  readonly sent: number[] = [];
  failNeigh = 0;
  constructor(private readonly root: string) {}

  talk(make: (seq: number) => Uint8Array): { kind: 'ack' } | { kind: 'error'; errno: number; message: string | null } | { kind: 'route'; type: number; oif: number } {
    const m = make(1);
    const v = new DataView(m.buffer);
    const type = v.getUint16(4, true);
    this.sent.push(type);
    if (type === RTM_GETROUTE) return { kind: 'route', type: 1, oif: 1 };
    if (type === RTM_NEWLINK) {
      const name = Buffer.from(m.subarray(36)).toString('latin1').split('\0')[0]!;
      const mtu = v.getUint32(32 + 8 + ((4 + name.length + 1 + 3) & ~3) - 4, true);
      const dir = join(this.root, name);
      mkdirSync(dir);
      for (const [f, c] of [['ifindex', '50'], ['type', '1'], ['flags', '0x1003'], ['mtu', String(mtu)], ['address', '02:00:00:00:00:50']]) writeFileSync(join(dir, f!), `${c}\n`);
      this.made = dir;
      return { kind: 'ack' };
    }
    if (type === RTM_NEWNEIGH && this.failNeigh > 0) {
      this.failNeigh--;
      return { kind: 'error', errno: 105, message: null };
    }
    if (type === RTM_DELLINK && this.made) rmSync(this.made, { recursive: true });
    return { kind: 'ack' };
  }

  made: string | null = null;
}

describe('tunnels', () => {
  let t: TestSwitch;
  let kernel: FakeKernel;
  let tunnels: Tunnels;
  beforeEach(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('lo', { ifindex: 1, mtu: 1500 }); // the underlay, as if_indextoname(1) names it
    kernel = new FakeKernel(t.sysfs.root);
    tunnels = new Tunnels(t.sw, kernel, (m) => t.logs.push(m), t.sysfs.root);
  });
  afterEach(() => t.close());

  it('a remote the device refuses: the device is deleted again, no port', async () => {
    kernel.failNeigh = 1;
    await assert.rejects(tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2', '10.0.0.3'] }), (e: unknown) => e instanceof VswError && /remote 10\.0\.0\.2: ENOBUFS/.test(e.message));
    assert.deepEqual(kernel.sent, [RTM_GETROUTE, RTM_GETROUTE, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWNEIGH, RTM_DELLINK]);
    assert.deepEqual(t.sw.show(), []);
    assert.deepEqual((await tunnels.show()).tunnels, []);
  });

  it('the switch refuses the port: the device is deleted again', async () => {
    t.dataplane.failNextAdd = new VswError('ESYSCALL', 'socket: EPERM');
    await assert.rejects(tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'] }), /tunnel vx1 not added: socket: EPERM/);
    assert.equal(kernel.sent.at(-1), RTM_DELLINK);
    assert.deepEqual(t.sw.show(), []);
  });

  it('MTU: underlay minus 50; a port at 1500 is logged once and listed with the MTU to set', async () => {
    await tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'] });
    await t.sysfs.add('tap1', { ifindex: 60, mtu: 1500 });
    await t.sw.add('tap1');
    await new Promise((r) => setImmediate(r));
    const show = await tunnels.show();
    assert.equal(show.tunnels[0]!.mtu, 1450);
    assert.deepEqual(show.mtuWarnings, [{ port: 'tap1', mtu: 1500, tunnel: 'vx1', tunnelMtu: 1450 }]);
    await tunnels.checkMtus();
    assert.equal(t.logs.filter((l) => l.startsWith("mtu: port tap1 has MTU 1500, larger than tunnel vx1's 1450")).length, 1, t.logs.join('\n'));
  });

  it('delete of a tunnel port is refused; tunnel del removes port and device', async () => {
    await tunnels.add({ name: 'vx1', vni: 1, remotes: ['10.0.0.2'] });
    await assert.rejects(t.sw.delete('vx1'), (e: unknown) => e instanceof VswError && e.code === 'ETUNNEL');
    await tunnels.del('vx1');
    assert.deepEqual(t.sw.show(), []);
    assert.equal(kernel.sent.at(-1), RTM_DELLINK);
    await assert.rejects(tunnels.del('vx1'), (e: unknown) => e instanceof VswError && e.code === 'ENOTATTACHED');
  });
});
