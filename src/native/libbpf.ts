// The only module that talks to libbpf (Debian's libbpf1, through koffi). It
// mirrors the few libbpf calls vswitch needs one for one and turns failures
// into SyscallError; nothing above it sees a pointer. Together with libc.ts it
// is the whole native boundary (see README.md here). None of these calls is
// made per frame.
//
// libbpf is loaded on first use, so a machine without it still runs the
// userspace datapath: BpfObject.open() then throws, and the caller says why.

import koffi from 'koffi';
import { SyscallError } from '../errors.js';
import { errnoName } from './libc.js';

/** BPF_TCX_INGRESS: attach type 46 (kernel ≥ 6.6); libbpf 1.1's headers predate it. */
export const BPF_TCX_INGRESS = 46;
/** bpf_map_update_elem flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

const ENOENT = 2;

interface Api {
  open(path: string, opts: null): unknown;
  load(obj: unknown): number;
  close(obj: unknown): void;
  findProgram(obj: unknown, name: string): unknown;
  programFd(prog: unknown): number;
  findMap(obj: unknown, name: string): unknown;
  mapFd(map: unknown): number;
  setMaxEntries(map: unknown, n: number): number;
  linkCreate(progFd: number, targetFd: number, type: number, opts: null): number;
  update(fd: number, key: Uint8Array, value: Uint8Array, flags: bigint): number;
  lookup(fd: number, key: Uint8Array, value: Uint8Array): number;
  remove(fd: number, key: Uint8Array): number;
  nextKey(fd: number, key: Uint8Array | null, next: Uint8Array): number;
  lookupBatch(fd: number, inBatch: Uint8Array | null, outBatch: Uint8Array, keys: Uint8Array, values: Uint8Array, count: Uint32Array, opts: null): number;
  possibleCpus(): number;
}

let api: Api | undefined;

function bind(): Api {
  if (api) return api;
  const lib = koffi.load('libbpf.so.1');
  koffi.opaque('bpf_object');
  koffi.opaque('bpf_program');
  koffi.opaque('bpf_map');
  api = {
    open: lib.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
    load: lib.func('int bpf_object__load(bpf_object *obj)'),
    close: lib.func('void bpf_object__close(bpf_object *obj)'),
    findProgram: lib.func('bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)'),
    programFd: lib.func('int bpf_program__fd(const bpf_program *prog)'),
    findMap: lib.func('bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)'),
    mapFd: lib.func('int bpf_map__fd(const bpf_map *map)'),
    setMaxEntries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
    linkCreate: lib.func('int bpf_link_create(int prog_fd, int target_fd, int type, const void *opts)'),
    update: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    lookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
    remove: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
    nextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next_key)'),
    lookupBatch: lib.func(
      'int bpf_map_lookup_batch(int fd, void *in_batch, _Out_ void *out_batch, _Out_ void *keys, _Out_ void *values, _Inout_ uint32_t *count, const void *opts)',
    ),
    possibleCpus: lib.func('int libbpf_num_possible_cpus(void)'),
  } as unknown as Api;
  return api;
}

function fail(call: string, errno: number, what: string): never {
  throw new SyscallError(call, errno, errnoName(errno), what);
}

/** A BPF object file: open() it, size its maps, load() it (maps created, programs verified). */
export class BpfObject {
  private constructor(
    private obj: unknown,
    readonly path: string,
  ) {}

  /** Opens `path` (not loaded yet); throws SyscallError. */
  static open(path: string): BpfObject {
    const obj = bind().open(path, null);
    if (obj === null) fail('bpf_object__open_file', koffi.errno(), path);
    return new BpfObject(obj, path);
  }

  /** Opens and loads `path`. */
  static load(path: string): BpfObject {
    const o = BpfObject.open(path);
    try {
      o.load();
    } catch (err) {
      o.close();
      throw err;
    }
    return o;
  }

  private map(name: string): unknown {
    const m = bind().findMap(this.obj, name);
    if (m === null) fail('bpf_object__find_map_by_name', ENOENT, name);
    return m;
  }

  /** Before load(): how many entries map `name` holds. */
  setMaxEntries(name: string, n: number): void {
    const err = bind().setMaxEntries(this.map(name), n);
    if (err < 0) fail('bpf_map__set_max_entries', -err, name);
  }

  /** Creates the maps and loads the programs (the verifier runs here). */
  load(): void {
    const err = bind().load(this.obj);
    if (err < 0) fail('bpf_object__load', -err, this.path);
  }

  /** The file descriptor of program `name` (after load). */
  programFd(name: string): number {
    const a = bind();
    const prog = a.findProgram(this.obj, name);
    if (prog === null) fail('bpf_object__find_program_by_name', ENOENT, name);
    return a.programFd(prog);
  }

  /** The file descriptor of map `name` (after load). */
  mapFd(name: string): number {
    return bind().mapFd(this.map(name));
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

export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags = BPF_ANY, what = ''): void {
  const err = bind().update(fd, key, value, BigInt(flags));
  if (err < 0) fail('bpf_map_update_elem', -err, what);
}

/** Fills `value`; false if there is no such key. */
export function mapLookup(fd: number, key: Uint8Array, value: Uint8Array, what = ''): boolean {
  const err = bind().lookup(fd, key, value);
  if (err === -ENOENT) return false;
  if (err < 0) fail('bpf_map_lookup_elem', -err, what);
  return true;
}

/** False if there was no such key. */
export function mapDelete(fd: number, key: Uint8Array, what = ''): boolean {
  const err = bind().remove(fd, key);
  if (err === -ENOENT) return false;
  if (err < 0) fail('bpf_map_delete_elem', -err, what);
  return true;
}

/** The key after `key` (the first if null) into `next`; false at the end. */
export function mapNextKey(fd: number, key: Uint8Array | null, next: Uint8Array, what = ''): boolean {
  const err = bind().nextKey(fd, key, next);
  if (err === -ENOENT) return false;
  if (err < 0) fail('bpf_map_get_next_key', -err, what);
  return true;
}

/**
 * BPF_MAP_LOOKUP_BATCH: up to count[0] keys and values from where `inBatch`
 * (null: the start) left off, into `keys`/`values`; count[0] is set to how
 * many came and `outBatch` to where the next call starts. False once the map
 * is exhausted (the last keys may still have come). A walk of a hash map in
 * a few system calls, not one per key.
 */
export function mapLookupBatch(fd: number, inBatch: Uint8Array | null, outBatch: Uint8Array, keys: Uint8Array, values: Uint8Array, count: Uint32Array, what = ''): boolean {
  const err = bind().lookupBatch(fd, inBatch, outBatch, keys, values, count, null);
  if (err === -ENOENT) return false;
  if (err < 0) fail('bpf_map_lookup_batch', -err, what);
  return true;
}

/** CPUs a per-CPU map has a value for. */
export function possibleCpus(): number {
  const n = bind().possibleCpus();
  if (n < 0) fail('libbpf_num_possible_cpus', -n, '');
  return n;
}
