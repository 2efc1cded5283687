// The per-port tables the pipeline reads, one slot per port: attached and up,
// MTU, VLAN mode (vlan.ts), whether it is a mirror's output (mirror.ts), and
// the flood lists derived from them. The Forwarder's control path writes them
// (with the FDB flushes that go with each change, forwarder.ts); pass 1 of
// process(), the delivery (deliver.ts) and the trace (trace.ts) read them.
// Typed arrays sized once: the hot path reads them without allocating.

import { DEFAULT_PORT_VLAN, fillVlanBitmap, type PortVlan, untaggedVid, VLAN_BITMAP_BYTES, VlanMode, vlanModeNumber } from './vlan.js';

// Port state bits.
export const ATTACHED = 1;
export const UP = 2;
/** Attached and up: a port a frame may leave by. */
export const READY = ATTACHED | UP;

const M_DEFAULT = VlanMode.DEFAULT;

export class PortTable {
  readonly maxPorts: number;
  /** ATTACHED | UP bits per port. */
  readonly state: Uint8Array;
  readonly mtus: Int32Array;
  /** floodPorts[ingress * maxPorts + k], k < floodLen[ingress]: egress ports of a flood. */
  readonly floodPorts: Int32Array;
  readonly floodLen: Int32Array;
  /** Per port: VlanMode, the access/native VLAN, the VLAN leaving untagged (-1: none). */
  readonly vlanMode: Uint8Array;
  readonly vlanTag: Int32Array;
  readonly vlanUntagged: Int32Array;
  /** Per port, VLAN_BITMAP_BYTES: bit v set when the port carries VLAN v. */
  readonly vlanMembers: Uint8Array;
  /** Ports with a VLAN mode: while none has one, every frame leaves every port as it came. */
  modedPorts = 0;
  /** 1 where the port is a mirror's output: off the flood lists, what arrives on it is dropped. */
  readonly mirrorOutput: Uint8Array;

  constructor(maxPorts: number) {
    this.maxPorts = maxPorts;
    this.state = new Uint8Array(maxPorts);
    this.mtus = new Int32Array(maxPorts);
    this.floodPorts = new Int32Array(maxPorts * maxPorts);
    this.floodLen = new Int32Array(maxPorts);
    this.vlanMode = new Uint8Array(maxPorts);
    this.vlanTag = new Int32Array(maxPorts);
    this.vlanUntagged = new Int32Array(maxPorts);
    this.vlanMembers = new Uint8Array(maxPorts * VLAN_BITMAP_BYTES);
    this.mirrorOutput = new Uint8Array(maxPorts);
    for (let p = 0; p < maxPorts; p++) this.setVlan(p, DEFAULT_PORT_VLAN);
  }

  /** Attach a port (or re-attach: link and MTU). Rebuilds the flood lists. */
  attach(port: number, up: boolean, mtu: number): void {
    this.state[port] = ATTACHED | (up ? UP : 0);
    this.mtus[port] = mtu;
    this.rebuildFloodLists();
  }

  /** Detach a port: no state, no MTU, no VLAN mode, off the flood lists. */
  detach(port: number): void {
    this.state[port] = 0;
    this.mtus[port] = 0;
    this.setVlan(port, DEFAULT_PORT_VLAN);
    this.rebuildFloodLists();
  }

  /** Link state and MTU of an attached port (the flood lists hold attached ports, up or not). */
  setLink(port: number, up: boolean, mtu: number): void {
    this.state[port] = ATTACHED | (up ? UP : 0);
    this.mtus[port] = mtu;
  }

  /** The port's VLAN mode (valid), in force for the next frame. */
  setVlan(port: number, c: PortVlan): void {
    const mode = vlanModeNumber(c);
    this.modedPorts += (mode !== M_DEFAULT ? 1 : 0) - (this.vlanMode[port] !== M_DEFAULT ? 1 : 0);
    this.vlanMode[port] = mode;
    this.vlanTag[port] = c.tag;
    this.vlanUntagged[port] = untaggedVid(c);
    fillVlanBitmap(c, this.vlanMembers, port * VLAN_BITMAP_BYTES);
  }

  /** The mirrors' output ports (every other port is not one); they leave the flood lists. */
  setMirrorOutputs(outputs: Int32Array): void {
    this.mirrorOutput.fill(0);
    for (const p of outputs) this.mirrorOutput[p] = 1;
    this.rebuildFloodLists();
  }

  isAttached(port: number): boolean {
    return port >= 0 && port < this.maxPorts && (this.state[port] & ATTACHED) !== 0;
  }

  isUp(port: number): boolean {
    return port >= 0 && port < this.maxPorts && this.state[port] === READY;
  }

  mtu(port: number): number {
    return port >= 0 && port < this.maxPorts ? this.mtus[port] : 0;
  }

  /** Ports a flood from `ingress` is offered to (attached, not ingress, no mirror output), as an array. */
  floodList(ingress: number): number[] {
    this.checkPort(ingress);
    return Array.from(this.floodPorts.subarray(ingress * this.maxPorts, ingress * this.maxPorts + this.floodLen[ingress]));
  }

  checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.maxPorts) {
      throw new RangeError(`port ${port} out of range 0..${this.maxPorts - 1}`);
    }
  }

  private rebuildFloodLists(): void {
    const n = this.maxPorts;
    for (let ing = 0; ing < n; ing++) {
      let k = 0;
      for (let p = 0; p < n; p++) {
        if (p !== ing && (this.state[p] & ATTACHED) !== 0 && this.mirrorOutput[p] === 0) this.floodPorts[ing * n + k++] = p;
      }
      this.floodLen[ing] = k;
    }
  }
}
