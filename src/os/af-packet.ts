// AF_PACKET structures both datapaths need, and the socket that holds a port
// promiscuous. A promiscuous mode set as a PACKET_MR_PROMISC membership is
// undone by the kernel when the socket closes, however vswitchd exits; the
// IFF_PROMISC flag set by hand would stay.

import * as libc from '../native/libc.js';

export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_MR_PROMISC = 1;

/** struct sockaddr_ll for bind(): the interface and the protocol (0: receive nothing). */
export function sockaddrLl(ifindex: number, protocol: number): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, libc.AF_PACKET, true);
  v.setUint16(2, protocol, false); // network byte order
  v.setInt32(4, ifindex, true);
  return b;
}

/** struct packet_mreq: a membership (PACKET_MR_PROMISC) on an interface. */
export function packetMreq(ifindex: number, type: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setInt32(0, ifindex, true);
  v.setUint16(4, type, true);
  return b;
}

/**
 * A socket that only holds the port promiscuous (the kernel datapath reads no
 * frame from it: bound with protocol 0, it receives nothing). The membership
 * dies with the socket, so the kernel undoes it however vswitchd exits.
 */
export function openPromiscSocket(ifindex: number, ifname: string): number {
  const fd = libc.socket(libc.AF_PACKET, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, 0);
  try {
    libc.bind(fd, sockaddrLl(ifindex, 0), ifname);
    libc.setsockopt(fd, libc.SOL_PACKET, PACKET_ADD_MEMBERSHIP, packetMreq(ifindex, PACKET_MR_PROMISC), 'promiscuous mode');
    return fd;
  } catch (err) {
    libc.close(fd);
    throw err;
  }
}
