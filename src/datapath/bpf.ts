// The eBPF side both datapaths share: where the compiled programs are
// (bpf/build.sh writes them beside the compiled TypeScript), whether this
// kernel can attach them as tcx links, and the one way a program is attached
// at a port's tc ingress.
//
// The kernel datapath attaches vsw_forward (datapath.bpf.o) to every port; the
// userspace datapath attaches vsw_claim (vswitch.bpf.o), which keeps a port's
// frames from the host's stack. A tcx link belongs to the file descriptor that
// made it: closing it, or vswitchd exiting in any way, detaches the program.

import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BPF_TCX_INGRESS, linkCreate } from '../native/libbpf.js';
import * as libc from '../native/libc.js';

/** The kernel datapath's program, vsw_forward. */
export const DATAPATH_OBJECT_PATH = fileURLToPath(new URL('../../bpf/datapath.bpf.o', import.meta.url));
/** The userspace datapath's claim program, vsw_claim. */
export const CLAIM_OBJECT_PATH = fileURLToPath(new URL('../../bpf/vswitch.bpf.o', import.meta.url));

/** tcx (BPF links at tc ingress, released with their fd) came with Linux 6.6. */
export function kernelHasTcx(rel = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 6);
}

/** Attaches `progFd` at tc ingress of `ifindex`; returns what detach() takes. */
export function attachIngress(progFd: number, ifindex: number, ifname: string): number {
  return linkCreate(progFd, ifindex, BPF_TCX_INGRESS, `tcx ingress of ${ifname}`);
}

/** Detaches what attachIngress() attached. */
export function detachIngress(attachment: number): void {
  libc.close(attachment);
}
