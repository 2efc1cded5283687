// Where the compiled eBPF programs are (bpf/build.sh writes them beside the
// compiled TypeScript), and whether this kernel can run the kernel datapath.

import { release } from 'node:os';
import { fileURLToPath } from 'node:url';

export const DATAPATH_OBJECT_PATH = fileURLToPath(new URL('../../bpf/datapath.bpf.o', import.meta.url));

/** tcx (BPF links at tc ingress, released with their fd) came with Linux 6.6. */
export function kernelHasTcx(rel = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 6);
}
