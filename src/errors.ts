// Errors that cross a boundary (CLI, control socket, datapath) carry a code,
// so callers decide by code and users read one clear message.

export type ErrorCode =
  | 'EUSAGE' // bad command line
  | 'EPROTO' // malformed or unknown request on the control socket
  | 'ENODEV' // no such interface
  | 'ENOTETHER' // interface is not Ethernet (loopback, tunnel, …)
  | 'EEXIST' // interface already attached
  | 'EBUSY' // interface in use by something else (a bridge, a bond, another vswitchd)
  | 'ENOTATTACHED' // interface is not a port
  | 'EPORTLIMIT' // the switch has its maximum number of ports
  | 'ENOACL' // no ACL rule has that id
  | 'EACLFULL' // the switch holds its maximum number of ACL rules
  | 'EMIRROR' // a mirror that cannot be: its name is taken, its output is selected or another mirror's, too many
  | 'ENOMIRROR' // no mirror has that name
  | 'ETUNNEL' // a tunnel request that cannot be carried out as given (local remote, no underlay, a tunnel port deleted alone)
  | 'ENOTRUNNING' // no daemon answers on the socket
  | 'EACCES' // permission denied
  | 'ESYSCALL' // a system call failed
  | 'ETIMEDOUT' // the datapath did not answer a request in time
  | 'EADOPT' // a restart's new vswitchd cannot take over what the old one ran (another program layout, a link missing)
  | 'ERESTART' // a restart did not happen: the new vswitchd did not start or refused (the old one stopped)
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

/** The interface is held by something else: `holder` says what ("a port of bridge br0"). */
export class InUseError extends VswError {
  constructor(
    readonly ifname: string,
    readonly holder: string,
  ) {
    super('EBUSY', `${ifname} is ${holder}`);
  }
}

/**
 * The datapath did not answer a request in time. It may still carry it out:
 * `late` resolves when it answers after all, to whether the request succeeded
 * (false if it never can, e.g. the thread exited), so the caller can follow;
 * for a query (stats, fdb, …) it is false at once: its late answer is dropped.
 */
export class DatapathTimeoutError extends VswError {
  constructor(
    readonly op: string,
    readonly late: Promise<boolean>,
  ) {
    super('ETIMEDOUT', `the datapath did not answer '${op}' in time`);
  }
}

/** A message made one line whatever it holds (a JSON parser's excerpt, a path with a newline): newlines become ' | ', other control characters \xNN. */
export function oneLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/\s*\r?\n\s*/g, ' | ').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
