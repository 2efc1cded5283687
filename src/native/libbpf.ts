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
import { close as closeFd, errnoName } from './libc.js';

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
  tcHookCreate(hook: Uint8Array): number;
  tcHookDestroy(hook: Uint8Array): number;
  tcAttach(hook: Uint8Array, opts: Uint8Array): number;
  tcDetach(hook: Uint8Array, opts: Uint8Array): number;
  tcQuery(hook: Uint8Array, opts: Uint8Array): number;
  progFdById(id: number): number;
  objInfo(fd: number, info: Uint8Array, len: Uint32Array): number;
  objPin(fd: number, path: string): number;
  objGet(path: string): number;
  linkUpdate(linkFd: number, progFd: number, opts: null): number;
  nextMap(obj: unknown, prev: unknown): unknown;
  mapName(map: unknown): string;
  mapType(map: unknown): number;
  mapKeySize(map: unknown): number;
  mapValueSize(map: unknown): number;
  mapMaxEntries(map: unknown): number;
  mapFlags(map: unknown): number;
  reuseFd(map: unknown, fd: number): number;
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
    // struct bpf_tc_hook and struct bpf_tc_opts are passed as bytes (TC_HOOK_SIZE, TC_OPTS_SIZE).
    tcHookCreate: lib.func('int bpf_tc_hook_create(void *hook)'),
    tcHookDestroy: lib.func('int bpf_tc_hook_destroy(void *hook)'),
    tcAttach: lib.func('int bpf_tc_attach(const void *hook, _Inout_ uint8_t *opts)'),
    tcDetach: lib.func('int bpf_tc_detach(const void *hook, const void *opts)'),
    tcQuery: lib.func('int bpf_tc_query(const void *hook, _Inout_ uint8_t *opts)'),
    progFdById: lib.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
    objInfo: lib.func('int bpf_obj_get_info_by_fd(int fd, _Inout_ uint8_t *info, _Inout_ uint32_t *len)'),
    objPin: lib.func('int bpf_obj_pin(int fd, const char *pathname)'),
    objGet: lib.func('int bpf_obj_get(const char *pathname)'),
    linkUpdate: lib.func('int bpf_link_update(int link_fd, int new_prog_fd, const void *opts)'),
    nextMap: lib.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)'),
    mapName: lib.func('const char *bpf_map__name(const bpf_map *map)'),
    mapType: lib.func('int bpf_map__type(const bpf_map *map)'),
    mapKeySize: lib.func('uint32_t bpf_map__key_size(const bpf_map *map)'),
    mapValueSize: lib.func('uint32_t bpf_map__value_size(const bpf_map *map)'),
    mapMaxEntries: lib.func('uint32_t bpf_map__max_entries(const bpf_map *map)'),
    mapFlags: lib.func('uint32_t bpf_map__map_flags(const bpf_map *map)'),
    reuseFd: lib.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
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

  /** Every map of the object (before or after load) with its definition, as the kernel's map info gives it. */
  maps(): MapDefinition[] {
    const a = bind();
    const out: MapDefinition[] = [];
    for (let m = a.nextMap(this.obj, null); m !== null; m = a.nextMap(this.obj, m)) {
      out.push({ name: a.mapName(m), type: a.mapType(m), keySize: a.mapKeySize(m), valueSize: a.mapValueSize(m), maxEntries: a.mapMaxEntries(m), flags: a.mapFlags(m) });
    }
    return out;
  }

  /** Before load(): map `name` is the existing map `fd` (bpf_map__reuse_fd: the program is loaded against it). */
  reuseMap(name: string, fd: number): void {
    const err = bind().reuseFd(this.map(name), fd);
    if (err < 0) fail('bpf_map__reuse_fd', -err, name);
  }

  /** Closes the object: its program and map fds (links made from them stay). */
  close(): void {
    if (this.obj === null) return;
    bind().close(this.obj);
    this.obj = null;
  }
}

/** A map's definition: what must be equal for a program to use a map made by another process. */
export interface MapDefinition {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** bpf_obj_pin: `fd` (a map, program or link) stays while `path` (in a bpffs) exists. */
export function objPin(fd: number, path: string): void {
  const err = bind().objPin(fd, path);
  if (err < 0) fail('bpf_obj_pin', -err, path);
}

/** bpf_obj_get: a new fd on what is pinned at `path`. */
export function objGet(path: string): number {
  const fd = bind().objGet(path);
  if (fd < 0) fail('bpf_obj_get', -fd, path);
  return fd;
}

/** bpf_link_update: the link runs `progFd` from now on, with no moment without a program. */
export function linkUpdate(linkFd: number, progFd: number, what = ''): void {
  const err = bind().linkUpdate(linkFd, progFd, null);
  if (err < 0) fail('bpf_link_update', -err, what);
}

const LINK_INFO_SIZE = 48;

/** A link's program id and, for a tcx link, its interface (struct bpf_link_info: prog_id at 8, tcx.ifindex at 16). */
export function linkInfo(linkFd: number, what = ''): { progId: number; ifindex: number } {
  const info = new Uint8Array(LINK_INFO_SIZE);
  const len = Uint32Array.of(LINK_INFO_SIZE);
  const err = bind().objInfo(linkFd, info, len);
  if (err < 0) fail('bpf_obj_get_info_by_fd', -err, what);
  const v = new DataView(info.buffer);
  return { progId: v.getUint32(8, true), ifindex: v.getUint32(16, true) };
}

const MAP_INFO_SIZE = 40;

/** The definition of the map `fd` holds (struct bpf_map_info; its name as the kernel keeps it, 15 characters at most). */
export function mapInfo(fd: number, what = ''): MapDefinition {
  const info = new Uint8Array(MAP_INFO_SIZE);
  const len = Uint32Array.of(MAP_INFO_SIZE);
  const err = bind().objInfo(fd, info, len);
  if (err < 0) fail('bpf_obj_get_info_by_fd', -err, what);
  const v = new DataView(info.buffer);
  const name = info.subarray(24, 40);
  const end = name.indexOf(0);
  return {
    name: Buffer.from(name.subarray(0, end < 0 ? 16 : end)).toString('latin1'),
    type: v.getUint32(0, true),
    keySize: v.getUint32(8, true),
    valueSize: v.getUint32(12, true),
    maxEntries: v.getUint32(16, true),
    flags: v.getUint32(20, true),
  };
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

// ---- tc clsact / cls_bpf (the attach mode for kernels without tcx) ----

/** enum bpf_tc_attach_point */
export const BPF_TC_INGRESS = 1;
export const BPF_TC_EGRESS = 2;
const EEXIST = 17;
const EINVAL = 22;
// struct bpf_tc_hook { size_t sz; int ifindex; enum attach_point; __u32 parent; } and
// struct bpf_tc_opts { size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; }, 64-bit.
const TC_HOOK_SIZE = 24;
const TC_OPTS_SIZE = 32;

function tcHook(ifindex: number, points: number): Uint8Array {
  const b = new Uint8Array(TC_HOOK_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(TC_HOOK_SIZE), true);
  v.setInt32(8, ifindex, true);
  v.setUint32(12, points, true);
  return b;
}

/** bpf_tc_opts.flags: replace the filter with this handle and priority (in one change). */
const BPF_TC_F_REPLACE = 1;

function tcOpts(progFd: number, handle: number, priority: number, flags = 0): Uint8Array {
  const b = new Uint8Array(TC_OPTS_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(TC_OPTS_SIZE), true);
  v.setInt32(8, progFd, true);
  v.setUint32(12, flags, true);
  v.setUint32(20, handle, true);
  v.setUint32(24, priority, true);
  return b;
}

/** A clsact qdisc on `ifindex` (`tc qdisc add dev X clsact`): true if made now, false if one was there. */
export function tcHookCreate(ifindex: number, what = ''): boolean {
  const err = bind().tcHookCreate(tcHook(ifindex, BPF_TC_INGRESS));
  if (err === -EEXIST) return false;
  if (err < 0) fail('bpf_tc_hook_create', -err, what);
  return true;
}

/** Deletes the clsact qdisc of `ifindex` with every filter on it (`tc qdisc del dev X clsact`). */
export function tcHookDestroy(ifindex: number, what = ''): void {
  const err = bind().tcHookDestroy(tcHook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
  if (err < 0) fail('bpf_tc_hook_destroy', -err, what);
}

/**
 * A cls_bpf filter in direct-action mode at clsact ingress of `ifindex`, with
 * this handle and priority; never replaces a filter that has them (EEXIST).
 * Returns the program's id, as the kernel reports it for the filter.
 */
export function tcAttach(ifindex: number, progFd: number, handle: number, priority: number, what = ''): number {
  const opts = tcOpts(progFd, handle, priority);
  const err = bind().tcAttach(tcHook(ifindex, BPF_TC_INGRESS), opts);
  if (err < 0) fail('bpf_tc_attach', -err, what);
  return new DataView(opts.buffer).getUint32(16, true);
}

/**
 * The ingress filter with this handle and priority runs `progFd` from now on
 * (BPF_TC_F_REPLACE: one change of the filter, no moment without one).
 * Returns the new program's id.
 */
export function tcReplace(ifindex: number, progFd: number, handle: number, priority: number, what = ''): number {
  const opts = tcOpts(progFd, handle, priority, BPF_TC_F_REPLACE);
  const err = bind().tcAttach(tcHook(ifindex, BPF_TC_INGRESS), opts);
  if (err < 0) fail('bpf_tc_attach', -err, what);
  return new DataView(opts.buffer).getUint32(16, true);
}

/** Removes the ingress filter with this handle and priority; false if there is none. */
export function tcDetach(ifindex: number, handle: number, priority: number, what = ''): boolean {
  const err = bind().tcDetach(tcHook(ifindex, BPF_TC_INGRESS), tcOpts(0, handle, priority));
  if (err === -ENOENT || err === -EINVAL) return false;
  if (err < 0) fail('bpf_tc_detach', -err, what);
  return true;
}

/**
 * The id of the program of the ingress filter with this handle and priority
 * on `ifindex`; 0 if there is no such filter (or no clsact, or no interface).
 */
export function tcQuery(ifindex: number, handle: number, priority: number): number {
  const opts = tcOpts(0, handle, priority);
  const err = bind().tcQuery(tcHook(ifindex, BPF_TC_INGRESS), opts);
  if (err < 0) return 0;
  return new DataView(opts.buffer).getUint32(16, true);
}

// struct bpf_prog_info: id at 4, name[16] at 64 (BPF_OBJ_NAME_LEN).
const PROG_INFO_SIZE = 80;

function progInfo(fd: number, what: string): Uint8Array {
  const info = new Uint8Array(PROG_INFO_SIZE);
  const len = Uint32Array.of(PROG_INFO_SIZE);
  const err = bind().objInfo(fd, info, len);
  if (err < 0) fail('bpf_obj_get_info_by_fd', -err, what);
  return info;
}

/** The id the kernel gave the program `progFd` holds. */
export function progId(progFd: number, what = ''): number {
  return new DataView(progInfo(progFd, what).buffer).getUint32(4, true);
}

/** The name of program `id` (at most 15 characters), or null if there is no such program. */
export function progNameById(id: number): string | null {
  const fd = bind().progFdById(id);
  if (fd < 0) return null;
  try {
    const info = progInfo(fd, `program ${id}`);
    const name = info.subarray(64, 80);
    const end = name.indexOf(0);
    return Buffer.from(name.subarray(0, end < 0 ? 16 : end)).toString('latin1');
  } finally {
    closeFd(fd);
  }
}
