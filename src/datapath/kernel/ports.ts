// The kernel datapath's ports: one KernelPort record per attached slot, made at
// attach (control path), and what keeps `ports`, `port_of`, `vlans` and the
// port words of `config` (flood bound, ports with a VLAN mode) in step with
// them. A record is the one place a port's link state, MTU and VLAN mode are
// read from; each change is written from it into the maps and then into the
// specification (the Forwarder kept for traces), which is only written. A
// port added or removed, a VLAN mode and the mirrors' masks are configuration
// changes, published whole (banks.ts); link, MTU, limit and peer are one
// entry, written into both banks.
//
// A port is the program attached at its tc ingress (a tcx link, owned by this
// process, so the kernel detaches it when vswitchd dies; or a tc filter, see
// ../tc.ts), an AF_PACKET socket holding it promiscuous, and whether it
// is a veth whose peer is in another netns (asked with RTM_GETLINK at attach
// and on each of its link messages): the program then delivers known unicast
// for the peer's own MAC into the peer directly.

import type { Fdb } from '../../core/fdb.js';
import type { Forwarder } from '../../core/forwarder.js';
import { type MirrorTable, noMirrors } from '../../core/mirror.js';
import { DEFAULT_PORT_VLAN, fillVlanBitmap, type PortVlan, VLAN_BITMAP_BYTES, vlanModeNumber } from '../../core/vlan.js';
import { VswError } from '../../errors.js';
import * as libc from '../../native/libc.js';
import { openPromiscSocket } from '../../os/af-packet.js';
import { type VethPeer, vethPeerElsewhere } from '../../os/rtnetlink.js';
import { readLinkStateSync } from '../../os/sysfs.js';
import type { Ingress } from '../bpf.js';
import type { AdoptOptions, HandedOverPort, RedirectPeer } from '../messages.js';
import type { ConfigBanks } from './banks.js';
import { type ConfigWords, NO_PORT, type PortEntry } from './layout.js';
import { type DatapathMaps, PORT_ATTACHED, PORT_LIMITED, PORT_MIRROR_OUT, PORT_PEER, PORT_PEER_AUTO, PORT_PEER_GSO, PORT_UP } from './maps.js';

/** The port flags each --redirect-peer choice gives a veth whose peer is in another netns. */
const PEER_FLAGS: Record<RedirectPeer, number> = {
  all: PORT_PEER | PORT_PEER_GSO,
  small: PORT_PEER,
  auto: PORT_PEER | PORT_PEER_AUTO,
  none: 0,
};

/** KernelPort.linkFd of a port whose attachment a restart switches later. */
const PENDING = -2;

/** One attached port as vswitchd knows it; ports[] and vlans[] are written from it. */
export class KernelPort {
  /** Holds its --fdb-port-limit entries (PORT_LIMITED). */
  limited = false;
  /** Its veth peer in another netns (PORT_PEER), or null. */
  peer: VethPeer | null = null;
  /** Its VLAN mode (core/vlan.ts) and the VLANs it carries (VLAN_BITMAP_BYTES, as in vlans[]). */
  vlan: PortVlan = DEFAULT_PORT_VLAN;
  readonly vlanBits = new Uint8Array(VLAN_BITMAP_BYTES);
  /**
   * The program's attachment (Ingress: the tcx link's fd, or the tc filter's
   * key); -1 until attached, and again once detached; PENDING while a
   * restart's new program waits to replace the old one's (switchPending).
   */
  linkFd = -1;
  /**
   * When its configuration (attach, VLAN mode, becoming a mirror's output)
   * was last published, monotonic ms: a learn event seen before is of the
   * old one and is refused.
   */
  since = Infinity;

  constructor(
    readonly ifindex: number,
    public ifname: string,
    /** The AF_PACKET socket that holds it promiscuous. */
    readonly promiscFd: number,
    public up: boolean,
    public mtu: number,
  ) {}

  carries(vid: number): boolean {
    return (this.vlanBits[vid >> 3] & (1 << (vid & 7))) !== 0;
  }
}

export class KernelPorts {
  /** Per slot: its record, or null while free. */
  private readonly slots: Array<KernelPort | null>;
  /** The mirrors in force: their masks and output flags are part of each port's entry. */
  private mirrors: MirrorTable;
  /** Per slot: what `vswconfig capture` takes from it (CAPTURE_*), part of its entry. */
  private readonly capture: Uint8Array;
  /** PORT_PEER (and PORT_PEER_GSO or PORT_PEER_AUTO) as --redirect-peer says, for a port whose veth peer is elsewhere. */
  private readonly peerFlags: number;

  /** `cfg` is config[0] as last written (shared with the other writers of config). */
  constructor(
    readonly maxPorts: number,
    private readonly maps: DatapathMaps,
    private readonly cfg: ConfigWords,
    private readonly spec: Forwarder,
    /** RTM_GETLINK requests (is a port a veth with its peer elsewhere). */
    private readonly rtnl: number,
    private readonly banks: ConfigBanks,
    /** Attaches the program at a port's tc ingress (tcx link or tc filter). */
    private readonly ingress: Ingress,
    /** --redirect-peer: the peer flags a port with a veth peer elsewhere gets. */
    redirectPeer: RedirectPeer = 'auto',
  ) {
    this.peerFlags = PEER_FLAGS[redirectPeer];
    this.slots = new Array<KernelPort | null>(maxPorts).fill(null);
    this.mirrors = noMirrors(maxPorts);
    this.capture = new Uint8Array(maxPorts);
  }

  /** The port in slot `port`, or null. */
  at(port: number): KernelPort | null {
    return port >= 0 && port < this.maxPorts ? this.slots[port] : null;
  }

  /** The attached slots, in order. */
  *attached(): Generator<[number, KernelPort]> {
    for (let p = 0; p < this.maxPorts; p++) {
      const r = this.slots[p];
      if (r !== null) yield [p, r];
    }
  }

  /** May a learn on `port` in VLAN `vid`, seen at `seenMs`, stay (FdbSync's gate)? Not if it is older than the port's configuration. */
  takes(port: number, vid: number, seenMs: number): boolean {
    const r = this.at(port);
    return r !== null && r.linkFd >= 0 && r.up && r.carries(vid) && seenMs >= r.since;
  }

  /**
   * The maps first (published), then the program's attachment (tcx link or
   * tc filter): the very first frame through it finds its port. A failure
   * leaves the slot free and the maps cleared.
   */
  /**
   * `adopt`: a restart's new vswitchd takes the old one's attachment and
   * switches it to `progFd`; with `adopt.later`, only once switchPending() is
   * called (the old program keeps the port meanwhile).
   */
  add(port: number, ifname: string, ifindex: number, progFd: number, adopt: (AdoptOptions & { later: boolean }) | null = null): void {
    if (port < 0 || port >= this.maxPorts || this.slots[port] !== null) {
      throw new VswError('EINTERNAL', `port slot ${port} is not free`);
    }
    const link = readLinkStateSync(ifname, ifindex);
    const promisc = openPromiscSocket(ifindex, ifname);
    const r = new KernelPort(ifindex, ifname, promisc, link.up, link.mtu);
    try {
      if (adopt === null || adopt.later) this.maps.resetPortCounters(port); // adopted maps: it keeps counting
      this.slots[port] = r;
      r.peer = vethPeerElsewhere(this.rtnl, ifindex);
      this.banks.change(
        () => {
          this.writeVlan(port, r, DEFAULT_PORT_VLAN);
          this.write(port, r);
          this.maps.setPortOf(ifindex, port);
          this.writePortHi();
        },
        (_, at) => (r.since = at),
      );
      if (adopt === null) r.linkFd = this.ingress.attach(progFd, ifindex, ifname);
      else if (adopt.later) r.linkFd = PENDING;
      else r.linkFd = this.adoptAttachment(port, r, progFd, adopt);
      this.spec.attach(port, r.up, r.mtu);
    } catch (err) {
      this.slots[port] = null;
      this.banks.change(() => this.clearMaps(port, ifindex));
      libc.close(promisc);
      throw err;
    }
  }

  /** Restart, old vswitchd: each port's attachment pinned in `dir` (tcx), and how it was made. */
  handOver(dir: string): HandedOverPort[] {
    return Array.from(this.attached(), ([port, r]) => ({ port, ifindex: r.ifindex, ...this.ingress.handOver(r.linkFd, dir, port) }));
  }

  /** Restart, new vswitchd: the configuration adopted is the old one's: every learn event still in the ring is the switch's. */
  adoptedAll(): void {
    for (const [, r] of this.attached()) r.since = 0;
  }

  /** Restart, new vswitchd whose program replaces the old one: each port's attachment switched to `progFd`, port after port. */
  switchPending(progFd: number, adopt: AdoptOptions): void {
    for (const [port, r] of this.attached()) if (r.linkFd === PENDING) r.linkFd = this.adoptAttachment(port, r, progFd, adopt);
  }

  private adoptAttachment(port: number, r: KernelPort, progFd: number, adopt: AdoptOptions): number {
    return this.ingress.adopt(progFd, r.ifindex, r.ifname, { pinDir: adopt.pinDir, port, program: 'vsw_forward', qdiscMade: adopt.qdiscsMade.includes(r.ifindex) });
  }

  /** The link first: from then on the port's frames reach the host again, not the switch. Flushes its FDB entries. */
  remove(port: number): void {
    const r = this.at(port);
    if (r === null) throw new VswError('ENOTATTACHED', `port slot ${port} is not attached`);
    if (r.linkFd >= 0) this.ingress.detach(r.linkFd);
    r.linkFd = -1;
    this.slots[port] = null;
    this.capture[port] = 0;
    this.banks.change(() => {
      this.clearMaps(port, r.ifindex);
      this.writeVlan(port, r, DEFAULT_PORT_VLAN); // the slot's next port has no mode
    });
    this.spec.detach(port); // flushes the port's entries from the shared Fdb
    libc.close(r.promiscFd);
  }

  /**
   * The port's VLAN mode: published before its entries are flushed, so the
   * next frame has it; learn events of frames under the old mode are refused.
   */
  setVlan(port: number, r: KernelPort, v: PortVlan): void {
    this.banks.change(
      () => this.writeVlan(port, r, v),
      (_, at) => (r.since = at),
    );
    this.spec.setVlan(port, v); // flushes the port's entries from the shared Fdb
  }

  /**
   * A link message (or a resync): asks about the veth peer again, and takes
   * the new state and MTU. True if either changed; going down flushes the
   * port's entries (as Forwarder.setLink).
   */
  setLink(port: number, r: KernelPort, up: boolean, mtu: number): boolean {
    const peerChanged = this.refreshPeer(r);
    if (up === r.up && mtu === r.mtu) {
      if (peerChanged) this.write(port, r);
      return false;
    }
    r.up = up;
    r.mtu = mtu;
    this.write(port, r);
    this.spec.setLink(port, up, mtu); // down: flushes the port's entries from the shared Fdb
    return true;
  }

  /** Flags the ports that hold their --fdb-port-limit entries (the program leaves their new stations to vswitchd). */
  syncLimits(fdb: Fdb): void {
    for (const [p, r] of this.attached()) {
      const limited = fdb.atPortLimit(p);
      if (limited === r.limited) continue;
      r.limited = limited;
      this.write(p, r);
    }
  }

  /**
   * Every port's mirror masks and output flag from `table`, in the change
   * that writes mirrors[] (banks.ts KernelMirrors); a port that becomes an
   * output refuses the learn events of frames from before.
   */
  setMirrors(table: MirrorTable): void {
    const was = this.mirrors;
    this.banks.change(
      () => {
        this.mirrors = table;
        for (const [p, r] of this.attached()) this.write(p, r);
      },
      (_, at) => {
        for (const [p, r] of this.attached()) if (table.outputs.includes(p) && !was.outputs.includes(p)) r.since = at;
      },
    );
  }

  private write(port: number, r: KernelPort): void {
    const m = this.mirrors;
    const flags =
      PORT_ATTACHED | (r.up ? PORT_UP : 0) | (r.limited ? PORT_LIMITED : 0) | (r.peer ? this.peerFlags : 0) |
      (m.outputs.includes(port) ? PORT_MIRROR_OUT : 0);
    this.writeEntry(port, {
      ifindex: r.ifindex,
      flags,
      mtu: r.mtu,
      vlanMode: vlanModeNumber(r.vlan),
      vlanTag: r.vlan.tag,
      peer: r.peer,
      mirrorIn: m.ingressMask[port],
      mirrorOut: m.egressMask[port],
      capture: this.capture[port],
    });
  }

  /**
   * What `vswconfig capture` takes from each port ([port, CAPTURE_*]; the
   * rest: nothing). A port's state, not configuration: written into both
   * banks as its link state is.
   */
  setCapture(flags: Array<[number, number]>): void {
    const want = new Uint8Array(this.maxPorts);
    for (const [p, f] of flags) if (p >= 0 && p < this.maxPorts) want[p] = f;
    for (const [p, r] of this.attached()) {
      if (want[p] === this.capture[p]) continue;
      this.capture[p] = want[p];
      this.write(p, r);
    }
    this.capture.set(want);
  }

  private writeEntry(port: number, e: Readonly<PortEntry>): void {
    this.banks.write((bank) => this.maps.setPort(bank, port, e));
  }

  /** vlans[], the port's entry (once attached) and the count of moded ports: part of a change (banks.ts). */
  private writeVlan(port: number, r: KernelPort, v: PortVlan): void {
    const moded = (v.mode !== 'default' ? 1 : 0) - (r.vlan.mode !== 'default' ? 1 : 0);
    r.vlan = v;
    fillVlanBitmap(v, r.vlanBits);
    const bits = r.vlanBits.slice();
    this.banks.write((bank) => this.maps.setVlans(bank, port, bits));
    if (r.linkFd !== -1) this.write(port, r);
    this.cfg.vlanPorts += moded; // a bank word: written when the change is published
  }

  /**
   * Asks the kernel again whether the port is a veth whose peer is in another
   * netns, and with which MAC and MTU (a peer moved between namespaces takes
   * its link down and up: the port gets link messages). True if that changed.
   */
  private refreshPeer(r: KernelPort): boolean {
    const now = vethPeerElsewhere(this.rtnl, r.ifindex);
    const was = r.peer;
    r.peer = now;
    return (now === null) !== (was === null) || (now !== null && was !== null && (now.mac !== was.mac || now.mtu !== was.mtu));
  }

  private clearMaps(port: number, ifindex: number): void {
    this.writeEntry(port, NO_PORT);
    try {
      this.maps.deletePortOf(ifindex);
    } catch {
      // never written
    }
    this.writePortHi();
  }

  /** The flood loop stops at the slot above the highest attached port. */
  private writePortHi(): void {
    let hi = 0;
    for (let p = 0; p < this.maxPorts; p++) if (this.slots[p] !== null) hi = p + 1;
    this.cfg.portHi = hi; // a bank word: written when the change is published
  }
}
