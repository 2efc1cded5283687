// A kernel for daemon/tunnels.ts on plain memory: it routes every address
// through ifindex 1 (what if_indextoname(1) names: 'lo'), makes a created
// vxlan device in the fake sysfs, keeps aliases, answers RTM_GETLINK from what
// it holds, deletes by ifindex, and fails what a test tells it to.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TunnelKernel } from '../../src/daemon/tunnels.js';
import { NLM_F_CREATE, RTM_DELLINK, RTM_GETLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWNEIGH } from '../../src/os/netlink.js';
import type { LinkReply, Reply } from '../../src/os/tunnel-netlink.js';


export class FakeTunnelKernel implements TunnelKernel {
  /** The type of every request, in order. */
  readonly sent: number[] = [];
  /** The ifindex of each RTM_DELLINK. */
  readonly deleted: number[] = [];
  /** How many RTM_NEWNEIGH to refuse (ENOBUFS). */
  failNeigh = 0;
  /** Called as a device is created (before it exists). */
  onCreate: (name: string) => void = () => undefined;
  /** The interfaces RTM_GETLINK finds, by name (a test adds leftovers here). */
  readonly links = new Map<string, LinkReply>();
  private nextIfindex = 50;

  constructor(private readonly root: string) {}

  /** An interface a test made: in the fake sysfs and for RTM_GETLINK. */
  addLink(name: string, link: Omit<LinkReply, 'kind'>): void {
    this.links.set(name, { kind: 'link', ...link });
    this.makeDir(name, link.ifindex, 1500);
  }

  talk(make: (seq: number) => Uint8Array): Exclude<Reply, null> {
    const m = make(1);
    const v = new DataView(m.buffer);
    const type = v.getUint16(4, true);
    this.sent.push(type);
    const name = (): string => Buffer.from(m.subarray(36)).toString('latin1').split('\0')[0]!;
    const ifindex = v.getInt32(20, true);
    if (type === RTM_GETROUTE) return { kind: 'route', type: 1, oif: 1 };
    if (type === RTM_GETLINK) return this.links.get(name()) ?? { kind: 'error', errno: 19, message: null };
    if (type === RTM_NEWLINK && v.getUint16(6, true) & NLM_F_CREATE) {
      const n = name();
      // After ifinfomsg: IFNAME, MTU (8), LINKINFO (4) { KIND "vxlan" (12), DATA (4) { ID (4 + 4) … } }.
      const ifnameEnd = 32 + ((4 + n.length + 1 + 3) & ~3);
      const mtu = v.getUint32(ifnameEnd + 4, true);
      const vni = v.getUint32(ifnameEnd + 8 + 4 + 12 + 4 + 4, true);
      this.onCreate(n);
      if (this.links.has(n)) return { kind: 'error', errno: 17, message: null };
      const index = this.nextIfindex++;
      this.makeDir(n, index, mtu);
      this.links.set(n, { kind: 'link', ifindex: index, linkKind: 'vxlan', alias: null, vni, dstport: 4789 });
      return { kind: 'ack' };
    }
    if (type === RTM_NEWLINK) {
      // Setting the alias of an existing device.
      const link = [...this.links.values()].find((l) => l.ifindex === ifindex);
      if (link === undefined) return { kind: 'error', errno: 19, message: null };
      link.alias = Buffer.from(m.subarray(36)).toString('latin1').split('\0')[0]!;
      return { kind: 'ack' };
    }
    if (type === RTM_NEWNEIGH && this.failNeigh > 0) {
      this.failNeigh--;
      return { kind: 'error', errno: 105, message: null };
    }
    if (type === RTM_DELLINK) {
      this.deleted.push(ifindex);
      const entry = [...this.links.entries()].find(([, l]) => l.ifindex === ifindex);
      if (entry === undefined) return { kind: 'error', errno: 19, message: null };
      this.links.delete(entry[0]);
      rmSync(join(this.root, entry[0]), { recursive: true, force: true });
    }
    return { kind: 'ack' };
  }

  private makeDir(name: string, ifindex: number, mtu: number): void {
    const dir = join(this.root, name);
    mkdirSync(dir);
    for (const [f, c] of [['ifindex', String(ifindex)], ['type', '1'], ['flags', '0x1003'], ['mtu', String(mtu)], ['address', '02:00:00:00:00:50']]) {
      writeFileSync(join(dir, f!), `${c}\n`);
    }
  }
}
