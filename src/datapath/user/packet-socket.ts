// Opening and closing one port's AF_PACKET socket.
//
// The order of the steps is forced by the kernel: PACKET_VNET_HDR and
// PACKET_VERSION are refused once a ring exists, and the socket is created
// with protocol 0 so that it receives nothing until everything is in place
// and bind() names the protocol and the interface.

import * as libc from '../../native/libc.js';
import { PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, packetMreq, sockaddrLl } from '../../os/af-packet.js';
import { BLOCK_SIZE, FRAME_SIZE, FRAMES_PER_BLOCK, type RingGeometry } from './ring.js';

const PACKET_COPY_THRESH = 7;
const PACKET_RX_RING = 5;
const PACKET_STATISTICS = 6;
const PACKET_VERSION = 10;
const PACKET_LOSS = 14;
const PACKET_TX_RING = 13;
const PACKET_VNET_HDR = 15;
const PACKET_QDISC_BYPASS = 20;
const PACKET_IGNORE_OUTGOING = 23;
const TPACKET_V2 = 1;
const ETH_P_ALL = 0x0003;
/** Send buffer of the big-frame socket: a batch of GSO frames of 64 KiB (the kernel doubles it). */
const BIG_FRAME_BUFFER = 4 << 20;

/**
 * Receive buffer for the big frames queued on a ring socket: room for every
 * RX slot to be one 64 KiB GSO frame with its overhead (96 KiB of truesize:
 * the kernel doubles the value set), so that while the ring has room the
 * kernel never cuts a big frame for lack of buffer, which the switch would
 * then have to drop as truncated. At most 32 MiB. It is only used while
 * frames wait.
 */
export function bigReceiveBuffer(rxFrames: number): number {
  return Math.min(rxFrames * (48 << 10), 32 << 20);
}

function tpacketReq(frames: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, BLOCK_SIZE, true);
  v.setUint32(4, frames / FRAMES_PER_BLOCK, true);
  v.setUint32(8, FRAME_SIZE, true);
  v.setUint32(12, frames, true);
  return b;
}

/**
 * Opens a packet socket on `ifindex` with RX and TX rings mapped at `addr`
 * (inside the reserved ring range, which must already be reserved there).
 * Promiscuous mode is a PACKET_MR_PROMISC membership: the kernel drops it when
 * the socket closes, even if the daemon crashes. On failure everything done so
 * far is undone (the caller re-reserves `addr`) and the error is thrown.
 */
export function openPacketSocket(ifindex: number, ifname: string, geometry: RingGeometry, addr: bigint): number {
  const fd = libc.socket(libc.AF_PACKET, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, 0);
  try {
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_VNET_HDR, 1, 'PACKET_VNET_HDR');
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_VERSION, TPACKET_V2, 'PACKET_VERSION');
    // Our own transmissions must not come back to us as received frames.
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, 'PACKET_IGNORE_OUTGOING');
    // A malformed TX frame is skipped instead of stalling the ring, which keeps
    // our TX head and the kernel's in step.
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_LOSS, 1, 'PACKET_LOSS');
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_QDISC_BYPASS, 1, 'PACKET_QDISC_BYPASS');
    // Frames bigger than a ring slot (GSO, jumbo) are also queued whole on the
    // socket, for recvmmsg; the buffer must hold a batch of 64 KiB frames.
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_COPY_THRESH, 1, 'PACKET_COPY_THRESH');
    libc.setsockoptInt(fd, libc.SOL_SOCKET, libc.SO_RCVBUFFORCE, bigReceiveBuffer(geometry.rxFrames), 'SO_RCVBUFFORCE');
    libc.setsockopt(fd, libc.SOL_PACKET, PACKET_RX_RING, tpacketReq(geometry.rxFrames), 'PACKET_RX_RING');
    libc.setsockopt(fd, libc.SOL_PACKET, PACKET_TX_RING, tpacketReq(geometry.txFrames), 'PACKET_TX_RING');
    libc.mmap(addr, geometry.span, libc.PROT_READ | libc.PROT_WRITE, libc.MAP_SHARED | libc.MAP_FIXED, fd, 0);
    libc.bind(fd, sockaddrLl(ifindex, ETH_P_ALL), ifname);
    libc.setsockopt(fd, libc.SOL_PACKET, PACKET_ADD_MEMBERSHIP, packetMreq(ifindex, PACKET_MR_PROMISC), 'promiscuous mode');
    return fd;
  } catch (err) {
    libc.close(fd);
    throw err;
  }
}

/**
 * A second socket on the port for frames too big for a TX slot. It cannot be
 * the ring socket: on a socket with a TX ring, send() only kicks the ring and
 * ignores its buffer. Bound with protocol 0, it receives nothing.
 */
export function openBigSendSocket(ifindex: number, ifname: string): number {
  const fd = libc.socket(libc.AF_PACKET, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, 0);
  try {
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_VNET_HDR, 1, 'PACKET_VNET_HDR');
    libc.setsockoptInt(fd, libc.SOL_PACKET, PACKET_QDISC_BYPASS, 1, 'PACKET_QDISC_BYPASS');
    libc.setsockoptInt(fd, libc.SOL_SOCKET, libc.SO_SNDBUFFORCE, BIG_FRAME_BUFFER, 'SO_SNDBUFFORCE');
    libc.bind(fd, sockaddrLl(ifindex, 0), ifname);
    return fd;
  } catch (err) {
    libc.close(fd);
    throw err;
  }
}

const statsBuf = new Uint8Array(8);
const statsView = new DataView(statsBuf.buffer);
/** Frames the kernel dropped because the RX ring was full, since the last call (PACKET_STATISTICS resets). */
export function takeRingDrops(fd: number): number {
  libc.getsockopt(fd, libc.SOL_PACKET, PACKET_STATISTICS, statsBuf, 'PACKET_STATISTICS');
  return statsView.getUint32(4, true);
}
