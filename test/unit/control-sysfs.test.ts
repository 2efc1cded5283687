import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isEthernet, readInterface } from '../../src/control/sysfs.js';
import { VswError } from '../../src/errors.js';
import { FakeSysfs } from '../helpers/fake-dataplane.js';

describe('sysfs interface attributes', () => {
  let sys: FakeSysfs;
  before(async () => {
    sys = await FakeSysfs.create();
    await sys.add('veth1-vsw', { ifindex: 103, mtu: 9000, address: '72:c8:09:d8:b2:a8' });
    await sys.add('lo', { ifindex: 1, type: 772, flags: 0x9 });
    await sys.add('weird', { ifindex: 50, type: 1, flags: 0x9 });
    await sys.add('gre0', { ifindex: 60, type: 778 });
  });
  after(async () => sys.destroy());

  it('reads ifindex, type, flags, mtu and address', async () => {
    const info = await readInterface('veth1-vsw', sys.root);
    assert.deepEqual(info, {
      ifname: 'veth1-vsw',
      ifindex: 103,
      type: 1,
      flags: 0x1003,
      mtu: 9000,
      address: '72:c8:09:d8:b2:a8',
    });
  });

  it('returns null for an interface that does not exist', async () => {
    assert.equal(await readInterface('nope0', sys.root), null);
  });

  it('treats only non-loopback ARPHRD_ETHER interfaces as Ethernet', async () => {
    assert.equal(isEthernet((await readInterface('veth1-vsw', sys.root))!), true);
    assert.equal(isEthernet((await readInterface('lo', sys.root))!), false);
    assert.equal(isEthernet((await readInterface('weird', sys.root))!), false, 'IFF_LOOPBACK set');
    assert.equal(isEthernet((await readInterface('gre0', sys.root))!), false);
  });

  it('refuses a name that could leave the sysfs directory', async () => {
    await assert.rejects(readInterface('..', sys.root), (e: unknown) => e instanceof VswError && e.code === 'ENODEV');
    await assert.rejects(readInterface('a/b', sys.root), VswError);
  });

  it('reads the real loopback from /sys/class/net as not Ethernet', async (t) => {
    const lo = await readInterface('lo');
    if (lo === null) {
      t.skip('no /sys/class/net/lo here');
      return;
    }
    assert.equal(isEthernet(lo), false);
    assert.equal(lo.flags & 0x8, 0x8);
  });
});
