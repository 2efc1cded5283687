// The only module that talks to libc. It mirrors the C calls one for one
// (socket, setsockopt, mmap, poll, send, …) through koffi, turns failures into
// SyscallError, and exposes ring memory as ArrayBuffers. Nothing above it
// knows about koffi or pointers: addresses are plain bigints.
//
// Calls are synchronous on purpose: the datapath worker blocks in poll(),
// and koffi's async calls would add a thread hop per wake-up.

import koffi from 'koffi';
import { SyscallError } from '../errors.js';

const libc = koffi.load('libc.so.6');

const c_socket = libc.func('int socket(int domain, int type, int protocol)');
const c_setsockopt = libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)');
const c_getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ uint32_t *len)');
const c_bind = libc.func('int bind(int fd, const void *addr, uint32_t len)');
const c_mmap = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)');
const c_close = libc.func('int close(int fd)');
const c_poll = libc.func('int poll(_Inout_ void *fds, uint64_t nfds, int timeout)');
const c_send = libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)');
const c_recv = libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)');
// Many datagrams in one call, described by a struct mmsghdr array named by a
// plain address (inside the ring view): no pointer object is made per call.
const c_sendmmsg_at = libc.func('int sendmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags)');
const c_recvmmsg_at = libc.func('int recvmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags, uintptr_t timeout)');
const c_read = libc.func('intptr_t read(int fd, _Out_ void *buf, size_t len)');
const c_eventfd = libc.func('int eventfd(unsigned int initval, int flags)');
const c_sysconf = libc.func('long sysconf(int name)');
const c_munmap = libc.func('int munmap(uintptr_t addr, size_t len)');
const c_flock = libc.func('int flock(int fd, int op)');
const c_mount = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)');
const c_umount2 = libc.func('int umount2(const char *target, int flags)');
const c_if_indextoname = libc.func('void *if_indextoname(unsigned int ifindex, _Out_ uint8_t *name)');

// Linux x86-64/arm64 values.
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SOL_PACKET = 263;
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

export const LOCK_EX = 2;
export const LOCK_NB = 4;

export const EINTR = 4;
export const EAGAIN = 11;
export const ENOBUFS = 105;
export const ENETDOWN = 100;
export const ENXIO = 6;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 6: 'ENXIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  14: 'EFAULT', 16: 'EBUSY', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 90: 'EMSGSIZE', 92: 'ENOPROTOOPT',
  93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 100: 'ENETDOWN', 105: 'ENOBUFS',
  17: 'EEXIST', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 101: 'ENETUNREACH', 113: 'EHOSTUNREACH',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

function fail(syscall: string, what = ''): never {
  const errno = koffi.errno();
  throw new SyscallError(syscall, errno, errnoName(errno), what);
}

export function socket(domain: number, type: number, protocol: number): number {
  const fd = c_socket(domain, type, protocol) as number;
  if (fd < 0) fail('socket');
  return fd;
}

export function setsockopt(fd: number, level: number, name: number, value: Uint8Array, what = ''): void {
  if ((c_setsockopt(fd, level, name, value, value.byteLength) as number) < 0) fail('setsockopt', what);
}

const intBuf = new Int32Array(1);
export function setsockoptInt(fd: number, level: number, name: number, value: number, what = ''): void {
  intBuf[0] = value;
  if ((c_setsockopt(fd, level, name, intBuf, 4) as number) < 0) fail('setsockopt', what);
}

/** Fills `out` and returns the length the kernel wrote. */
export function getsockopt(fd: number, level: number, name: number, out: Uint8Array, what = ''): number {
  const len = [out.byteLength];
  if ((c_getsockopt(fd, level, name, out, len) as number) < 0) fail('getsockopt', what);
  return len[0];
}

/** Reads and clears the socket's pending error (SO_ERROR); returns the errno or 0. */
export function takeSocketError(fd: number): number {
  const out = new Uint8Array(4);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, out, 'SO_ERROR');
  return new DataView(out.buffer).getInt32(0, true);
}

export function bind(fd: number, addr: Uint8Array, what = ''): void {
  if ((c_bind(fd, addr, addr.byteLength) as number) < 0) fail('bind', what);
}

const MAP_FAILED = 0xffffffffffffffffn;

/** mmap; `addr` 0n lets the kernel choose. Returns the address. */
export function mmap(addr: bigint, length: number, prot: number, flags: number, fd: number, offset = 0): bigint {
  const p = c_mmap(addr === 0n ? null : toPointer(addr), length, prot, flags, fd, offset);
  const a = p === null ? 0n : (koffi.address(p) as bigint);
  if (a === MAP_FAILED || a === 0n) fail('mmap');
  return a;
}

/** An ArrayBuffer over native memory at `addr` (no copy). */
export function view(addr: bigint, length: number): ArrayBuffer {
  return koffi.view(toPointer(addr), length) as ArrayBuffer;
}

// koffi represents pointers as external objects; build one from an address
// by decoding it out of an 8-byte buffer.
const ptrBuf = new BigUint64Array(1);
function toPointer(addr: bigint): unknown {
  ptrBuf[0] = addr;
  return koffi.decode(ptrBuf, 'void *');
}

/** munmap(2) of a range mmap() returned. */
export function munmap(addr: bigint, length: number): void {
  if ((c_munmap(addr, length) as number) < 0) fail('munmap');
}

const _SC_PAGESIZE = 30;
/** The page size (sysconf(_SC_PAGESIZE)). */
export function pageSize(): number {
  return Number(c_sysconf(_SC_PAGESIZE));
}

export function close(fd: number): void {
  c_close(fd);
}

/** poll(2) over an array of struct pollfd (8 bytes each); returns the ready count, 0 on timeout or EINTR. */
export function poll(fds: Uint8Array, nfds: number, timeoutMs: number): number {
  const n = c_poll(fds, nfds, timeoutMs) as number;
  if (n < 0) {
    if (koffi.errno() === EINTR) return 0;
    fail('poll');
  }
  return n;
}

/** send(fd, NULL, 0, flags): kicks a TX ring. Returns bytes sent or -errno. */
export function kick(fd: number, flags: number): number {
  const n = Number(c_send(fd, null, 0, flags));
  return n < 0 ? -koffi.errno() : n;
}

/** send(2) of `buf` (a netlink request …); returns bytes sent or -errno. */
export function send(fd: number, buf: Uint8Array, flags: number): number {
  const n = Number(c_send(fd, buf, buf.byteLength, flags));
  return n < 0 ? -koffi.errno() : n;
}

/** recv(2) into `buf`; returns bytes or -errno (EAGAIN when nothing is waiting). */
export function recv(fd: number, buf: Uint8Array, flags: number): number {
  const n = Number(c_recv(fd, buf, buf.byteLength, flags));
  return n < 0 ? -koffi.errno() : n;
}

/**
 * sendmmsg(2) of the `vlen` messages described by the struct mmsghdr array at
 * `addr`; returns how many were sent (the first `n`), or -errno if the first failed.
 */
export function sendmmsgAt(fd: number, addr: number, vlen: number, flags: number): number {
  const n = c_sendmmsg_at(fd, addr, vlen, flags) as number;
  return n < 0 ? -koffi.errno() : n;
}

/** recvmmsg(2) into the struct mmsghdr array at `addr`, no timeout; returns how many were received, or -errno. */
export function recvmmsgAt(fd: number, addr: number, vlen: number, flags: number): number {
  const n = c_recvmmsg_at(fd, addr, vlen, flags, 0) as number;
  return n < 0 ? -koffi.errno() : n;
}

// struct mmsghdr and struct iovec on 64-bit Linux.
export const MMSGHDR_SIZE = 64;
export const MMSG_IOV = 16; // msghdr.msg_iov: pointer
export const MMSG_IOVLEN = 24; // msghdr.msg_iovlen: size_t
export const MMSG_FLAGS = 48; // msghdr.msg_flags: int, set by recvmmsg (MSG_TRUNC)
export const MMSG_LEN = 56; // mmsghdr.msg_len: unsigned int, bytes sent or received
export const IOVEC_SIZE = 16; // iov_base pointer, iov_len size_t

export function eventfd(initval: number, flags: number): number {
  const fd = c_eventfd(initval, flags) as number;
  if (fd < 0) fail('eventfd');
  return fd;
}

const eventBuf = new Uint8Array(8);
/** Reads an eventfd's counter (clears it); returns false if it was zero (EAGAIN). */
export function drainEventfd(fd: number): boolean {
  return Number(c_read(fd, eventBuf, 8)) === 8;
}

/** flock(fd, LOCK_EX | LOCK_NB); false if another open file holds the lock (EWOULDBLOCK). */
export function tryLockExclusive(fd: number): boolean {
  if ((c_flock(fd, LOCK_EX | LOCK_NB) as number) === 0) return true;
  if (koffi.errno() === EAGAIN) return false;
  fail('flock');
}

const ifnameBuf = new Uint8Array(16); // IFNAMSIZ
/** The name of the interface with this index in the caller's network namespace, or null if there is none. */
export function ifIndexToName(ifindex: number): string | null {
  ifnameBuf.fill(0);
  if (c_if_indextoname(ifindex, ifnameBuf) === null) return null;
  const end = ifnameBuf.indexOf(0);
  return Buffer.from(ifnameBuf.buffer, 0, end < 0 ? ifnameBuf.length : end).toString('latin1');
}

const c_pipe2 = libc.func('int pipe2(_Out_ int *fds, int flags)');
export const O_CLOEXEC = 0o2000000;
/** pipe2(2): [read end, write end]. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  if ((c_pipe2(fds, flags) as number) < 0) fail('pipe2');
  return [fds[0]!, fds[1]!];
}

/** mount(2) of a file system that needs no device (`source` is a name only), e.g. a bpffs. */
export function mount(source: string, target: string, fstype: string): void {
  if ((c_mount(source, target, fstype, 0, null) as number) < 0) fail('mount', target);
}

/** umount2(2), detached (MNT_DETACH): gone from the tree now, freed once unused. */
export function umount(target: string): void {
  if ((c_umount2(target, 2) as number) < 0) fail('umount2', target);
}
