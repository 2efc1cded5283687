// A copy of the built program that another user (nobody) can run, wherever the
// checkout lives. A checkout under /root (mode 0700) cannot be read by nobody,
// so tests that run vswconfig or vswitchd as nobody run this copy instead: the
// package.json, bin/, dist/src/ and the runtime node_modules, made readable by
// all in a fresh temporary directory that every user can enter.

import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file is dist/test/helpers/program-copy.js once built). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The unprivileged user the tests run programs as. */
export const NOBODY = 65534;

export interface ProgramCopy {
  /** The copy's root, laid out as the repository (bin/, dist/src/, node_modules/, package.json). */
  readonly root: string;
  /** A path inside the copy, e.g. path('bin', 'vswconfig'). */
  path(...parts: string[]): string;
  remove(): void;
}

/** Whether every directory from `dir` up to / lets other users through (o+x). */
function othersCanEnter(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === dirname(d)) return true;
  }
}

/** The packages the program needs at run time: the lockfile's non-dev entries that are installed. */
function runtimePackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([key, p]) => key.startsWith('node_modules/') && p.dev !== true)
    .map(([key]) => key)
    .filter((key) => !key.slice('node_modules/'.length).includes('/node_modules/')) // nested: inside its parent's copy
    .filter((key) => existsSync(join(ROOT, key)));
}

/** Directories 0755, files 0644 (0755 if executable by their owner): whatever the umask of the clone was. */
function openToAll(path: string): void {
  const st = lstatSync(path);
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) openToAll(join(path, name));
  } else if (st.isFile()) {
    chmodSync(path, st.mode & 0o100 ? 0o755 : 0o644);
  }
}

export function programCopy(): ProgramCopy {
  if (!existsSync(join(ROOT, 'dist', 'src'))) throw new Error(`not built: run npm run build (in ${ROOT})`);
  const bases = [...new Set([tmpdir(), '/tmp', '/var/tmp'])];
  const base = bases.find((d) => existsSync(d) && othersCanEnter(d));
  if (base === undefined) throw new Error(`no temporary directory other users can enter: tried ${bases.join(', ')}`);
  const root = mkdtempSync(join(base, 'vswitch-program-'));
  try {
    // dereference: a symlink would point back into the checkout.
    const copy = (rel: string): void => cpSync(join(ROOT, rel), join(root, rel), { recursive: true, dereference: true });
    copy('package.json');
    copy('bin');
    copy(join('dist', 'src'));
    for (const pkg of runtimePackages()) copy(pkg);
    openToAll(root);
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    root,
    path: (...parts: string[]) => join(root, ...parts),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
