// The ring memory of every port, in one reserved address range.
//
// At start the whole range (max ports × one port's span) is reserved with
// PROT_NONE, costing no memory. Adding port p maps its socket's rings over
// slot p with MAP_FIXED; removing it maps PROT_NONE back over the slot, which
// also unmaps the rings. After the port slots comes ordinary anonymous memory
// for frames too big for a slot, touched only when used: a buffer for each big
// frame of one batch, as many to rebuild tagged ones in, the recvmmsg vector
// that fills the first, and per port the sendmmsg vector of big frames queued
// for it (msgvec.ts). One ArrayBuffer views the whole range, so the datapath
// addresses any slot of any ring by a plain offset.

import * as libc from '../../native/libc.js';
import { initMsgVec, msgVecBytes, setMsg } from './msgvec.js';
import { BIG_SLOT, FRAME_SIZE, type RingGeometry } from './ring.js';

/** Offsets are kept in Int32 arrays: the range must stay below 2 GiB. */
const MAX_RANGE = 2 ** 31;

export class RingSet {
  readonly base: bigint;
  /** The same address as a number (addresses are below 2^53), for the calls that take addresses. */
  readonly baseAddr: number;
  /** Offset of the big-frame buffers for received frames (bigRxSlots of BIG_SLOT bytes). */
  readonly bigRx: number;
  /** Offset of as many buffers to rebuild a big frame with its VLAN tag in (buffer k for big frame k). */
  readonly bigTag: number;
  /** Offset of the recvmmsg vector whose message k fills big buffer k. */
  readonly rxMsgs: number;
  /** Offset of port 0's sendmmsg vector (bigRxSlots messages; port p's is txMsgsBytes further each). */
  readonly txMsgs: number;
  readonly txMsgsBytes: number;
  readonly mem: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  /** Per port: offset of the first RX slot, of the first TX slot. */
  readonly rxBase: Int32Array;
  readonly txBase: Int32Array;
  /** Per port: next RX slot to read, next TX slot to fill (indices). */
  readonly rxHead: Int32Array;
  readonly txHead: Int32Array;
  /** Per port: the ring socket's fd, -1 when the slot is free; the socket for big frames. */
  readonly fd: Int32Array;
  readonly bigFd: Int32Array;
  /** Per port: frames queued on the TX ring since the last kick. */
  readonly txPending: Uint8Array;
  /** Per port: big frames queued on its sendmmsg vector. */
  readonly bigQueued: Int32Array;
  /** Per big frame of the batch being read: its RX slot, held until its bytes are matched to it. */
  readonly bigSlot: Int32Array;
  /** Per big buffer: holds a frame of the batch being read. */
  readonly bigTaken: Uint8Array;

  constructor(
    readonly maxPorts: number,
    readonly geometry: RingGeometry,
    /** Big buffers for received frames: at most this many big frames per batch. */
    readonly bigRxSlots: number,
  ) {
    const ports = maxPorts * geometry.span;
    this.txMsgsBytes = msgVecBytes(bigRxSlots);
    const size = ports + 2 * bigRxSlots * BIG_SLOT + (maxPorts + 1) * this.txMsgsBytes;
    if (size > MAX_RANGE) {
      throw new RangeError(
        `ring memory for ${maxPorts} ports of ${geometry.span} bytes exceeds 2 GiB: lower --max-ports or --ring-frames`,
      );
    }
    this.base = libc.mmap(0n, size, libc.PROT_NONE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_NORESERVE, -1);
    this.baseAddr = Number(this.base);
    this.bigRx = ports;
    this.bigTag = this.bigRx + bigRxSlots * BIG_SLOT;
    this.rxMsgs = this.bigTag + bigRxSlots * BIG_SLOT;
    this.txMsgs = this.rxMsgs + this.txMsgsBytes;
    libc.mmap(
      this.base + BigInt(ports),
      size - ports,
      libc.PROT_READ | libc.PROT_WRITE,
      libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_NORESERVE | libc.MAP_FIXED,
      -1,
    );
    const ab = libc.view(this.base, size);
    this.mem = new Uint8Array(ab);
    this.u16 = new Uint16Array(ab);
    this.u32 = new Uint32Array(ab);
    this.rxBase = new Int32Array(maxPorts);
    this.txBase = new Int32Array(maxPorts);
    for (let p = 0; p < maxPorts; p++) {
      this.rxBase[p] = p * geometry.span;
      this.txBase[p] = p * geometry.span + geometry.rxFrames * FRAME_SIZE;
    }
    this.rxHead = new Int32Array(maxPorts);
    this.txHead = new Int32Array(maxPorts);
    this.fd = new Int32Array(maxPorts).fill(-1);
    this.bigFd = new Int32Array(maxPorts).fill(-1);
    this.txPending = new Uint8Array(maxPorts);
    this.bigQueued = new Int32Array(maxPorts);
    this.bigSlot = new Int32Array(bigRxSlots);
    this.bigTaken = new Uint8Array(bigRxSlots);
    initMsgVec(this.u32, this.baseAddr, this.rxMsgs, bigRxSlots);
    for (let k = 0; k < bigRxSlots; k++) {
      setMsg(this.u32, this.rxMsgs, bigRxSlots, k, this.baseAddr + this.bigRx + k * BIG_SLOT, BIG_SLOT);
    }
  }

  /** Offset of port p's sendmmsg vector. */
  txMsgsOf(port: number): number {
    return this.txMsgs + port * this.txMsgsBytes;
  }

  /** Address where port p's rings are to be mapped. */
  slotAddress(port: number): bigint {
    return this.base + BigInt(port * this.geometry.span);
  }

  /** Record port p's sockets (its rings are already mapped at slotAddress(p)). */
  attach(port: number, fd: number, bigFd: number): void {
    this.fd[port] = fd;
    this.bigFd[port] = bigFd;
    this.rxHead[port] = 0;
    this.txHead[port] = 0;
    this.txPending[port] = 0;
    this.bigQueued[port] = 0;
    initMsgVec(this.u32, this.baseAddr, this.txMsgsOf(port), this.bigRxSlots);
  }

  /** Unmap port p's rings (re-reserving the slot) and close its sockets. */
  detach(port: number): void {
    this.reserve(port);
    const fd = this.fd[port];
    const bigFd = this.bigFd[port];
    this.fd[port] = -1;
    this.bigFd[port] = -1;
    this.txPending[port] = 0;
    this.bigQueued[port] = 0;
    if (fd >= 0) libc.close(fd);
    if (bigFd >= 0) libc.close(bigFd);
  }

  /** Map PROT_NONE over port p's slot (replacing whatever was mapped there). */
  reserve(port: number): void {
    libc.mmap(
      this.slotAddress(port),
      this.geometry.span,
      libc.PROT_NONE,
      libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_NORESERVE | libc.MAP_FIXED,
      -1,
    );
  }
}
