// A verdict cache in front of the ACL (acl.ts), as Open vSwitch's exact-match
// cache sits in front of its classifier: the rule a frame matches depends only
// on (ingress port, source, destination, type, VLAN, arrived untagged), so the
// answer for those fields is kept in a direct-mapped table and the linear
// scan of the rules runs once per new combination instead of once per frame.
// A new ACL bumps the generation, which invalidates every entry at once: the
// cache never answers for a table it did not see. Typed arrays only; nothing
// is allocated per frame. The kernel datapath keeps the same cache per CPU
// (bpf/datapath.bpf.c, acl_cache), with the generation in its config.

/** Entries (a power of two). */
export const ACL_CACHE_SIZE = 4096;
const STRIDE = 8;
const C_GEN = 0;
const C_K0 = 1; // ingress << 16 | source's first two octets
const C_K1 = 2; // source's last four
const C_K2 = 3; // destination's first two
const C_K3 = 4; // destination's last four
const C_K4 = 5; // type << 13 | VID << 1 | untagged
const C_RULE = 6;
/** lookup(): not in the cache. */
export const ACL_CACHE_MISS = -2;

export class AclCache {
  private readonly e = new Int32Array(ACL_CACHE_SIZE * STRIDE);
  /** Entries of another generation are empty; 0 is never current, so the zeroed table starts empty. */
  private gen = 1;

  /** Forget every answer (a new ACL). */
  invalidate(): void {
    this.gen = (this.gen + 1) | 0 || 1;
  }

  private slot(k0: number, k1: number, k2: number, k3: number, k4: number): number {
    let h = Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b) ^ k1;
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ k2;
    h = Math.imul(h ^ (h >>> 13), 0x85ebca6b) ^ k3;
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35) ^ k4;
    h = Math.imul(h ^ (h >>> 15), 0x27d4eb2f);
    return ((h ^ (h >>> 16)) & (ACL_CACHE_SIZE - 1)) * STRIDE;
  }

  /** The rule index (or -1: none matches) cached for these fields, or ACL_CACHE_MISS. */
  lookup(k0: number, k1: number, k2: number, k3: number, k4: number): number {
    const e = this.e;
    const at = this.slot(k0, k1, k2, k3, k4);
    if (e[at + C_GEN] !== this.gen || e[at + C_K0] !== k0 || e[at + C_K1] !== k1 || e[at + C_K2] !== k2 || e[at + C_K3] !== k3 || e[at + C_K4] !== k4) {
      return ACL_CACHE_MISS;
    }
    return e[at + C_RULE];
  }

  store(k0: number, k1: number, k2: number, k3: number, k4: number, rule: number): void {
    const e = this.e;
    const at = this.slot(k0, k1, k2, k3, k4);
    e[at + C_GEN] = this.gen;
    e[at + C_K0] = k0;
    e[at + C_K1] = k1;
    e[at + C_K2] = k2;
    e[at + C_K3] = k3;
    e[at + C_K4] = k4;
    e[at + C_RULE] = rule;
  }
}
