// The ring memory of every port, in one reserved address range.
//
// At start the whole range (max ports × one port's span) is reserved with
// PROT_NONE, costing no memory. Adding port p maps its socket's rings over
// slot p with MAP_FIXED; removing it maps PROT_NONE back over the slot, which
// also unmaps the rings. After the port slots come the big-frame buffers
// (ordinary anonymous memory, touched only when used): a few for the big
// frames of one batch, and one to build a big frame to send. One ArrayBuffer
// views the whole range, so the dataplane addresses any slot of any ring by a
// plain offset.

import * as libc from '../native/libc.js';
import { BIG_SLOT, FRAME_SIZE, type RingGeometry } from './ring.js';

/** Offsets are kept in Int32 arrays: the range must stay below 2 GiB. */
const MAX_RANGE = 2 ** 31;

export class RingSet {
  readonly base: bigint;
  /** The same address as a number (addresses are below 2^53), for sendAt/recvAt. */
  readonly baseAddr: number;
  /** Offset of the big-frame buffers for received frames (one per batch entry), of the one for sending. */
  readonly bigRx: number;
  readonly bigTx: number;
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

  constructor(
    readonly maxPorts: number,
    readonly geometry: RingGeometry,
    /** Big buffers for received frames: at most this many big frames per batch. */
    readonly bigRxSlots: number,
  ) {
    const ports = maxPorts * geometry.span;
    const size = ports + (bigRxSlots + 1) * BIG_SLOT;
    if (size > MAX_RANGE) {
      throw new RangeError(
        `ring memory for ${maxPorts} ports of ${geometry.span} bytes exceeds 2 GiB: lower --max-ports or --ring-frames`,
      );
    }
    this.base = libc.mmap(0n, size, libc.PROT_NONE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_NORESERVE, -1);
    this.baseAddr = Number(this.base);
    this.bigRx = ports;
    this.bigTx = ports + bigRxSlots * BIG_SLOT;
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
  }

  /** Unmap port p's rings (re-reserving the slot) and close its sockets. */
  detach(port: number): void {
    this.reserve(port);
    const fd = this.fd[port];
    const bigFd = this.bigFd[port];
    this.fd[port] = -1;
    this.bigFd[port] = -1;
    this.txPending[port] = 0;
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
