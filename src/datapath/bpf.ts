// The eBPF side both datapaths share: where the compiled programs are
// (bpf/build.sh writes them beside the compiled TypeScript), what this kernel
// can run, and the one place a program is attached at a port's tc ingress
// (Ingress), in the attach mode vswitchd chose for both datapaths.
//
// The kernel datapath attaches vsw_forward (datapath.bpf.o) to every port; the
// userspace datapath attaches vsw_claim (vswitch.bpf.o), which keeps a port's
// frames from the host's stack. In the tcx mode a program is a tcx link, which
// belongs to the file descriptor that made it: closing it, or vswitchd exiting
// in any way, detaches the program. In the tc mode it is a clsact filter,
// which outlives vswitchd unless removed (tc.ts says how it is).

import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VswError } from '../errors.js';
import { BPF_TCX_INGRESS, linkCreate, linkInfo, linkUpdate, objGet, objPin, progNameById } from '../native/libbpf.js';
import * as libc from '../native/libc.js';
import { adoptTc, attachTc, detachTc, type TcAttachment } from './tc.js';

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

/** How a program is attached at tc ingress: a tcx link (Linux ≥ 6.6) or a tc clsact cls_bpf filter. */
export type AttachMode = 'tcx' | 'tc';
export const ATTACH_MODES: readonly AttachMode[] = ['tcx', 'tc'];

/**
 * The kernel datapath's program needs Linux 5.17: bpf_loop (5.17) floods,
 * mirrors and walks the ACL; bpf_check_mtu (5.12), bpf_redirect_peer (5.10)
 * and the ring buffer of learn events (5.8) are older.
 */
export const KERNEL_DATAPATH_MIN = [5, 17] as const;

function version(rel: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Can this kernel run the kernel datapath's program (KERNEL_DATAPATH_MIN)? */
export function kernelRunsDatapath(rel = release()): boolean {
  const v = version(rel);
  if (!v) return false;
  const [maj, min] = KERNEL_DATAPATH_MIN;
  return v[0] > maj || (v[0] === maj && v[1] >= min);
}

/** The attach mode: the one asked for, else tcx where the kernel has it, else tc. */
export function chooseAttachMode(asked: AttachMode | undefined, rel = release()): AttachMode {
  return asked ?? (kernelHasTcx(rel) ? 'tcx' : 'tc');
}

/**
 * Attaches programs at tc ingress of ports in one mode. An attachment is a
 * number ≥ 0: the tcx link's fd, or in the tc mode the key of the filter's
 * record here. `watchdogFd` is the write end of the tc watchdog's pipe (-1: none).
 */
export class Ingress {
  private readonly filters = new Map<number, TcAttachment>();
  private nextKey = 0;

  constructor(
    readonly mode: AttachMode = 'tcx',
    private readonly watchdogFd = -1,
  ) {}

  /** Attaches `progFd` at tc ingress of `ifindex`; returns what detach() takes. */
  attach(progFd: number, ifindex: number, ifname: string): number {
    if (this.mode === 'tcx') return linkCreate(progFd, ifindex, BPF_TCX_INGRESS, `tcx ingress of ${ifname}`);
    const key = this.nextKey++;
    this.filters.set(key, attachTc(progFd, ifindex, ifname, this.watchdogFd));
    return key;
  }

  /**
   * A restart's new vswitchd: takes the attachment the old one handed over
   * on `ifindex` (a tcx link pinned in `pinDir` as link-PORT, or our tc
   * filter) and switches it to `progFd` with no moment without a program.
   */
  adopt(progFd: number, ifindex: number, ifname: string, how: { pinDir: string; port: number; program: string; qdiscMade: boolean }): number {
    if (this.mode === 'tcx') return adoptTcxLink(how.pinDir, how.port, ifindex, ifname, how.program, progFd);
    const key = this.nextKey++;
    this.filters.set(key, adoptTc(progFd, ifindex, ifname, how.program, how.qdiscMade, this.watchdogFd));
    return key;
  }

  /** A restart's old vswitchd: a tcx link pinned in `dir` (a tc filter stays without); whether it made the port's clsact qdisc. */
  handOver(attachment: number, dir: string, port: number): { qdiscMade: boolean } {
    if (this.mode === 'tcx') {
      objPin(attachment, join(dir, `link-${port}`));
      return { qdiscMade: false };
    }
    return { qdiscMade: this.filters.get(attachment)?.qdiscMade ?? false };
  }

  /** Detaches what attach() attached. */
  detach(attachment: number): void {
    if (this.mode === 'tcx') {
      libc.close(attachment);
      return;
    }
    const a = this.filters.get(attachment);
    if (a === undefined) return;
    this.filters.delete(attachment);
    detachTc(a, this.watchdogFd);
  }
}

/**
 * A restart's new vswitchd: port `port`'s tcx link pinned in `dir` as
 * link-PORT, taken only if it is a tcx link on `ifindex` running `program`,
 * and switched to `progFd` with bpf_link_update (no moment without a
 * program). Returns its fd; the pin stays until the hand-over removes them.
 */
function adoptTcxLink(dir: string, port: number, ifindex: number, ifname: string, program: string, progFd: number): number {
  let fd: number;
  try {
    fd = objGet(join(dir, `link-${port}`));
  } catch {
    throw new VswError('EADOPT', `no tcx link was handed over for ${ifname}`);
  }
  try {
    const info = linkInfo(fd, ifname);
    const prog = progNameById(info.progId);
    if (info.ifindex !== ifindex || prog !== program) {
      throw new VswError('EADOPT', `the link handed over for ${ifname} is not ${program} at its tcx ingress (ifindex ${info.ifindex}, program ${prog ?? '?'})`);
    }
    linkUpdate(fd, progFd, `tcx ingress of ${ifname}`);
  } catch (err) {
    libc.close(fd);
    throw err;
  }
  return fd;
}
