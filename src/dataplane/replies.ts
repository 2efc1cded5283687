// How a dataplane thread answers a request that failed: the error's code and
// message, as the control plane expects them (errors.ts). Shared by both
// datapaths' threads.

import { SyscallError, VswError } from '../errors.js';
import type { Reply } from './messages.js';

export function errorReply(id: number, err: unknown): Reply {
  if (err instanceof SyscallError) {
    const code = err.errnoName === 'ENODEV' || err.errnoName === 'ENXIO' ? 'ENODEV' : err.errnoName === 'EPERM' || err.errnoName === 'EACCES' ? 'EACCES' : 'ESYSCALL';
    return { id, ok: false, code, message: err.message };
  }
  if (err instanceof VswError) return { id, ok: false, code: err.code, message: err.message };
  return { id, ok: false, code: 'EINTERNAL', message: err instanceof Error ? err.message : String(err) };
}
