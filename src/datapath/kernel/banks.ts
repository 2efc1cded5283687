// The kernel datapath's configuration is double-buffered (bpf/datapath.h,
// VSW_BANKS): `ports`, `vlans`, `acl`, `mirrors` and the bank words of
// `config` (config[1 + bank]) hold two copies, and a frame reads
// config[0].bank once and then the tables of that bank only. A change (ACL,
// mirrors, a VLAN mode, a port added or removed) is written into the bank no
// frame reads (the shadow), then published with one write of config[0]
// (only `bank` differs, in its low byte, so even a byte-wise copy shows a
// frame the old bank or the new); then vswitchd waits until every frame that
// read the old bank has finished (DatapathMaps.waitForFrames) and writes the
// same change into the old bank, so that both are equal again. A frame thus
// sees the old configuration or the new one, never a mix, and once a change
// returns no frame forwards by the old one.
//
// A port's state (link, MTU, limit flag, veth peer) is not a configuration
// change: it is one entry, written into both banks at once.
//
// The ACL's hits and the mirrors' copies are counted per bank slot; the two
// banks' counts of a rule (or a mirror) add up, and a change carries each
// kept rule's (mirror's) count over by id once the old bank is quiet.

import { ACL_MAX_RULES, type AclTable } from '../../core/acl.js';
import type { MirrorTable } from '../../core/mirror.js';
import { noMirrors } from '../../core/mirror.js';
import { VLAN_BITMAP_BYTES } from '../../core/vlan.js';
import { VswError } from '../../errors.js';
import { monotonicMs } from './fdb-sync.js';
import type { ConfigWords } from './layout.js';
import type { DatapathMaps } from './maps.js';
import { KERNEL_MAX_MIRRORS } from './maps.js';

/** What of the maps the configuration's writers use (a test hands a fake that records each write). */
export type BankMaps = Pick<
  DatapathMaps,
  'setConfig' | 'setBankConfig' | 'waitForFrames' | 'setAclRule' | 'aclHits' | 'resetAclHits' | 'setMirror' | 'mirrorCopies' | 'resetMirrorCopies'
>;

/** A write of configuration into one bank; run once for the shadow, and again for the other bank after the publish. */
export type BankWrite = (bank: number) => void;
/** Called once a change is published and the old bank is quiet: `old` is that bank, `at` the time (monotonic ms). */
export type Published = (old: number, at: number) => void;

const BANK_WORDS = ['portHi', 'vlanPorts', 'aclRules', 'mirrors', 'aclGen'] as const;

export class ConfigBanks {
  /** The writes of the change being prepared, or null outside a change. */
  private staged: BankWrite[] | null = null;
  private published: Published[] = [];

  /** `cfg` is config[0] as last written (shared with the other writers of config). */
  constructor(
    private readonly maps: Pick<BankMaps, 'setConfig' | 'setBankConfig' | 'waitForFrames'>,
    private readonly cfg: ConfigWords,
    private readonly clock: () => number = monotonicMs,
  ) {}

  /** The bank frames read. */
  get live(): number {
    return this.cfg.bank;
  }

  /**
   * One configuration change: `prepare` writes it (through write(), and the
   * bank words in cfg), then it is published. A change made inside another
   * is part of it. If `prepare` throws, nothing is published and the bank
   * words are as before.
   */
  change(prepare: () => void, published?: Published): void {
    if (this.staged !== null) {
      prepare();
      if (published) this.published.push(published);
      return;
    }
    const words = BANK_WORDS.map((w) => this.cfg[w]);
    this.staged = [];
    this.published = published ? [published] : [];
    let writes: BankWrite[];
    try {
      prepare();
    } catch (err) {
      BANK_WORDS.forEach((w, i) => (this.cfg[w] = words[i]!));
      throw err;
    } finally {
      writes = this.staged;
      this.staged = null;
    }
    this.publish(writes);
  }

  /**
   * Opens a change that lasts until commit(): every change made meanwhile is
   * part of it. A restart's new vswitchd (kernel/handover.ts) replays the
   * whole configuration so, into the shadow of maps that frames are reading,
   * and publishes it at once: frames see the old daemon's tables, then the
   * same written again, never a part.
   */
  begin(): void {
    if (this.staged !== null) throw new Error('a change is open already');
    this.staged = [];
    this.published = [];
  }

  /** Publishes what was written since begin(). */
  commit(): void {
    const writes = this.staged;
    if (writes === null) throw new Error('no change is open');
    this.staged = null;
    this.publish(writes);
  }

  /** The writes of a change, staged in the shadow: publish it, wait for the old bank to be quiet, write them there too. */
  private publish(writes: BankWrite[]): void {
    const old = this.cfg.bank;
    const shadow = old ^ 1;
    this.maps.setBankConfig(shadow, this.cfg);
    this.cfg.bank = shadow;
    this.maps.setConfig(this.cfg); // the publish
    this.maps.waitForFrames();
    const at = this.clock();
    for (const p of this.published) p(old, at);
    this.published = [];
    for (const w of writes) w(old);
    this.maps.setBankConfig(old, this.cfg);
  }

  /**
   * A write into the tables: during a change into the shadow (and into the
   * other bank once published); outside a change, a port's state, into both.
   */
  write(w: BankWrite): void {
    if (this.staged !== null) {
      w(this.cfg.bank ^ 1);
      this.staged.push(w);
    } else {
      w(this.cfg.bank);
      w(this.cfg.bank ^ 1);
    }
  }
}

/** The ACL in acl[] (match order), with each rule's hits carried over by id across changes. */
export class KernelAcl {
  /** The rule ids in acl[] order, and the hits each had before this table (acl_hits counts from there, in both banks). */
  private ids: number[] = [];
  private base: number[] = [];

  constructor(
    private readonly banks: ConfigBanks,
    private readonly maps: Pick<BankMaps, 'setAclRule' | 'aclHits' | 'resetAclHits'>,
    private readonly cfg: ConfigWords,
  ) {}

  /** The new table into the shadow with its count and a new generation (the program's cached answers are of the old), then published. */
  set(table: AclTable): void {
    const n = table.ids.length;
    if (n > ACL_MAX_RULES) throw new VswError('EUSAGE', `the kernel datapath holds at most ${ACL_MAX_RULES} ACL rules`);
    const ids = this.ids;
    // The shadow's counts are final already; the live bank's once the change is published.
    const hits = ids.map((_, k) => this.base[k]! + this.maps.aclHits(this.banks.live ^ 1, k));
    this.banks.change(
      () => {
        this.banks.write((bank) => {
          for (let k = 0; k < n; k++) {
            this.maps.setAclRule(bank, k, table.rules);
            this.maps.resetAclHits(bank, k);
          }
        });
        this.cfg.aclRules = n;
        this.cfg.aclGen = (this.cfg.aclGen + 1) >>> 0 || 1;
      },
      (old) => {
        for (let k = 0; k < ids.length; k++) hits[k]! += this.maps.aclHits(old, k);
        const byId = new Map(ids.map((id, k) => [id, hits[k]!]));
        this.ids = table.ids.slice();
        this.base = table.ids.map((id) => byId.get(id) ?? 0);
      },
    );
  }

  /** Each rule's hits, in match order. */
  hits(): number[] {
    return this.ids.map((_, k) => this.base[k]! + this.maps.aclHits(0, k) + this.maps.aclHits(1, k));
  }
}

/** The mirrors in mirrors[], with each mirror's copies carried over by name across changes. */
export class KernelMirrors {
  private table: MirrorTable;
  private base: number[] = [];

  constructor(
    private readonly banks: ConfigBanks,
    private readonly maps: Pick<BankMaps, 'setMirror' | 'mirrorCopies' | 'resetMirrorCopies'>,
    private readonly cfg: ConfigWords,
    maxPorts: number,
  ) {
    this.table = noMirrors(maxPorts);
  }

  /**
   * Each mirror's output and VLANs into the shadow, then (`ports`) every
   * port's masks and output flag, and the count; then published.
   */
  set(table: MirrorTable, ports: { setMirrors(table: MirrorTable): void }): void {
    const n = table.names.length;
    if (n > KERNEL_MAX_MIRRORS) throw new VswError('EUSAGE', `the kernel datapath holds at most ${KERNEL_MAX_MIRRORS} mirrors`);
    const names = this.table.names;
    const copies = names.map((_, k) => this.base[k]! + this.maps.mirrorCopies(this.banks.live ^ 1, k));
    this.banks.change(
      () => {
        this.banks.write((bank) => {
          for (let k = 0; k < n; k++) {
            this.maps.setMirror(bank, k, table.outputs[k]!, table.vlanBits.subarray(k * VLAN_BITMAP_BYTES, (k + 1) * VLAN_BITMAP_BYTES));
            this.maps.resetMirrorCopies(bank, k);
          }
        });
        ports.setMirrors(table);
        this.cfg.mirrors = n;
      },
      (old) => {
        for (let k = 0; k < names.length; k++) copies[k]! += this.maps.mirrorCopies(old, k);
        const byName = new Map(names.map((name, k) => [name, copies[k]!]));
        this.table = table;
        this.base = table.names.map((name) => byName.get(name) ?? 0);
      },
    );
  }

  /** Each mirror's copies, in table order. */
  copies(): number[] {
    return this.table.names.map((_, k) => this.base[k]! + this.maps.mirrorCopies(0, k) + this.maps.mirrorCopies(1, k));
  }
}
