// Link events for a datapath's ports, from rtnetlink: up/down, MTU, rename,
// deletion. Both datapaths' threads own one and tell it, through LinkOwner,
// which ifindex is which port and what to do when a link changes.

import { readLinkStateSync } from '../os/sysfs.js';
import { VswError } from '../errors.js';
import * as libc from '../native/libc.js';
import { openLinkMonitor, parseLinkMessages } from '../os/rtnetlink.js';

export interface LinkOwner {
  /** The port on `ifindex`, or -1. */
  portOfIfindex(ifindex: number): number;
  /** The attached ports, each with its ifindex (for a resync). */
  attachedPorts(): Array<{ port: number; ifindex: number }>;
  /** The port's MTU as the datapath knows it (a link message may carry none). */
  mtuOf(port: number): number;
  linkChanged(port: number, up: boolean, mtu: number): void;
  renamed(port: number, ifname: string): void;
  /** The interface was deleted (or left the namespace): detach the port. */
  portGone(port: number): void;
}

export class LinkMonitor {
  readonly fd = openLinkMonitor();
  private readonly buf = new Uint8Array(1 << 16);

  /** Reads every waiting notification (the fd polled POLLIN). */
  service(owner: LinkOwner): void {
    for (;;) {
      const n = libc.recv(this.fd, this.buf, libc.MSG_DONTWAIT);
      if (n === -libc.EAGAIN) return;
      if (n === -libc.ENOBUFS) {
        // The kernel dropped notifications: look at every port afresh.
        this.resync(owner);
        continue;
      }
      if (n <= 0) return;
      for (const msg of parseLinkMessages(this.buf, n)) {
        const port = owner.portOfIfindex(msg.ifindex);
        if (port < 0) continue;
        if (msg.kind === 'del') {
          owner.portGone(port);
          continue;
        }
        if (msg.ifname !== '') owner.renamed(port, msg.ifname);
        owner.linkChanged(port, msg.up, msg.mtu < 0 ? owner.mtuOf(port) : msg.mtu);
      }
    }
  }

  /** Every port afresh, by ifindex: a rename among lost notifications must not look like a deletion. */
  resync(owner: LinkOwner): void {
    for (const { port, ifindex } of owner.attachedPorts()) {
      const ifname = libc.ifIndexToName(ifindex);
      let link: { up: boolean; mtu: number };
      try {
        if (ifname === null) throw new VswError('ENODEV', `interface ${ifindex} is gone`);
        link = readLinkStateSync(ifname, ifindex);
      } catch {
        owner.portGone(port);
        continue;
      }
      owner.renamed(port, ifname);
      owner.linkChanged(port, link.up, link.mtu);
    }
  }

  close(): void {
    libc.close(this.fd);
  }
}
