// Errors that cross a boundary (CLI, control socket, dataplane) carry a code,
// so callers decide by code and users read one clear message.

export type ErrorCode =
  | 'EUSAGE' // bad command line
  | 'EPROTO' // malformed or unknown request on the control socket
  | 'ENODEV' // no such interface
  | 'ENOTETHER' // interface is not Ethernet (loopback, tunnel, …)
  | 'EEXIST' // interface already attached
  | 'ENOTATTACHED' // interface is not a port
  | 'EPORTLIMIT' // the switch has its maximum number of ports
  | 'ENOTRUNNING' // no daemon answers on the socket
  | 'EACCES' // permission denied
  | 'ESYSCALL' // a system call failed
  | 'EINTERNAL';

export class VswError extends Error {
  override readonly name = 'VswError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A failed system call, with the errno name (ENETDOWN, EPERM, …). */
export class SyscallError extends VswError {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly errnoName: string,
    what = '',
  ) {
    super('ESYSCALL', `${syscall}${what ? ` (${what})` : ''}: ${errnoName}`);
  }
}
