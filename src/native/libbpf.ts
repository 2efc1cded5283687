// The only module that talks to libbpf (Debian's libbpf1, through koffi). It
// mirrors the few libbpf calls vswitch needs one for one and turns failures
// into SyscallError; nothing above it sees a pointer. Together with libc.ts it
// is the whole native boundary (see README.md here).
//
// libbpf is loaded on first use, so a machine without it still runs the
// userspace datapath: loadObject() then throws, and the caller says why.

import koffi from 'koffi';
import { SyscallError } from '../errors.js';
import { errnoName } from './libc.js';

/** BPF_TCX_INGRESS: attach type 46 (kernel ≥ 6.6); libbpf 1.1's headers predate it. */
export const BPF_TCX_INGRESS = 46;

interface Api {
  open(path: string, opts: null): unknown;
  load(obj: unknown): number;
  close(obj: unknown): void;
  findProgram(obj: unknown, name: string): unknown;
  programFd(prog: unknown): number;
  linkCreate(progFd: number, targetFd: number, type: number, opts: null): number;
}

let api: Api | undefined;

function bind(): Api {
  if (api) return api;
  const lib = koffi.load('libbpf.so.1');
  koffi.opaque('bpf_object');
  koffi.opaque('bpf_program');
  api = {
    open: lib.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
    load: lib.func('int bpf_object__load(bpf_object *obj)'),
    close: lib.func('void bpf_object__close(bpf_object *obj)'),
    findProgram: lib.func('bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)'),
    programFd: lib.func('int bpf_program__fd(const bpf_program *prog)'),
    linkCreate: lib.func('int bpf_link_create(int prog_fd, int target_fd, int type, const void *opts)'),
  } as unknown as Api;
  return api;
}

function fail(call: string, errno: number, what: string): never {
  throw new SyscallError(call, errno, errnoName(errno), what);
}

/** A loaded BPF object file (its maps created, its programs verified and loaded). */
export class BpfObject {
  private constructor(private obj: unknown) {}

  /** Opens and loads `path`; throws SyscallError (ENOENT, EPERM, EINVAL from the verifier, …). */
  static load(path: string): BpfObject {
    const a = bind();
    const obj = a.open(path, null);
    if (obj === null) fail('bpf_object__open_file', koffi.errno(), path);
    const err = a.load(obj);
    if (err < 0) {
      a.close(obj);
      fail('bpf_object__load', -err, path);
    }
    return new BpfObject(obj);
  }

  /** The file descriptor of program `name`. */
  programFd(name: string): number {
    const a = bind();
    const prog = a.findProgram(this.obj, name);
    if (prog === null) fail('bpf_object__find_program_by_name', 2, name);
    return a.programFd(prog);
  }

  /** Closes the object: its program and map fds (links made from them stay). */
  close(): void {
    if (this.obj === null) return;
    bind().close(this.obj);
    this.obj = null;
  }
}

/**
 * bpf_link_create(prog, ifindex, type): a link owned by the returned fd. For
 * tcx the kernel detaches the program when the last fd on the link closes,
 * which is what makes a kill -9 leave nothing attached.
 */
export function linkCreate(progFd: number, ifindex: number, type: number, what = ''): number {
  const fd = bind().linkCreate(progFd, ifindex, type, null);
  if (fd < 0) fail('bpf_link_create', -fd, what);
  return fd;
}
