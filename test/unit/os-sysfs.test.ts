import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isEthernet, readInterface, readLinkStateSync } from '../../src/os/sysfs.js';
import { VswError } from '../../src/errors.js';
import { FakeSysfs } from '../helpers/fake-datapath.js';

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

  it('reads the real loopback from /sys/class/net as not Ethernet', async () => {
    // Every Linux network namespace has lo.
    const lo = await readInterface('lo');
    assert.ok(lo !== null, 'no /sys/class/net/lo');
    assert.equal(isEthernet(lo), false);
    assert.equal(lo.flags & 0x8, 0x8);
  });
});

describe('sysfs link state for the datapath', () => {
  let sys: FakeSysfs;
  before(async () => {
    sys = await FakeSysfs.create();
    await sys.add('up0', { ifindex: 10, mtu: 9000 });
    await writeFile(join(sys.root, 'up0', 'carrier'), '1\n');
    await sys.add('nocarrier0', { ifindex: 11 });
    await writeFile(join(sys.root, 'nocarrier0', 'carrier'), '0\n');
    await sys.add('down0', { ifindex: 12, flags: 0x1002 }); // no carrier file: reading it fails when down
  });
  after(async () => sys.destroy());

  it('is up only when administratively up and with carrier, and gives the MTU', () => {
    assert.deepEqual(readLinkStateSync('up0', 10, sys.root), { up: true, mtu: 9000 });
    assert.deepEqual(readLinkStateSync('nocarrier0', 11, sys.root), { up: false, mtu: 1500 });
    assert.deepEqual(readLinkStateSync('down0', 12, sys.root), { up: false, mtu: 1500 });
  });

  it('throws ENODEV for an interface that is gone or was made again under another ifindex', () => {
    for (const [name, index] of [['gone0', 13], ['up0', 99]] as const) {
      assert.throws(
        () => readLinkStateSync(name, index, sys.root),
        (e: unknown) => e instanceof VswError && e.code === 'ENODEV',
      );
    }
  });
});
