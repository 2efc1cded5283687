// The kernel datapath's configuration writers (src/datapath/kernel/banks.ts)
// against fake maps that record every write and, after each one, look at the
// tables as a frame would at that instant: config[0].bank, then that bank's
// words and slots. A frame must see the old configuration or the new one,
// whole: the live bank is never written during a change, only the shadow,
// then one write of config[0] publishes it. The last test runs the writer
// the kernel datapath had before (the ACL rewritten slot by slot in the live
// table, the count and generation last) through the same check, which
// catches it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACL_STRIDE, type AclRule, aclTable, compareRules } from '../../src/core/acl.js';
import { type MirrorSpec, mirrorTable } from '../../src/core/mirror.js';
import { VLAN_BITMAP_BYTES } from '../../src/core/vlan.js';
import { type BankMaps, ConfigBanks, KernelAcl, KernelMirrors } from '../../src/datapath/kernel/banks.js';
import type { ConfigWords } from '../../src/datapath/kernel/layout.js';

const PORTS = 8;

/** What a frame reads at one instant: the bank, its ACL generation and rules, its mirrors. */
interface View {
  bank: number;
  aclGen: number;
  acl: string[];
  mirrors: string[];
}

class RecordingMaps implements BankMaps {
  readonly log: string[] = [];
  /** config[0] and config[1 + bank] as the program would read them. */
  cfg0: ConfigWords;
  readonly words: ConfigWords[];
  readonly acl: string[][] = [[], []];
  readonly hits: number[][] = [new Array<number>(256).fill(0), new Array<number>(256).fill(0)];
  readonly mirrors: string[][] = [[], []];
  readonly copies: number[][] = [new Array<number>(32).fill(0), new Array<number>(32).fill(0)];
  /** Called after every write with what a frame would see then. */
  probe: ((v: View) => void) | null = null;

  constructor(cfg: ConfigWords) {
    this.cfg0 = { ...cfg };
    this.words = [{ ...cfg }, { ...cfg }];
  }

  view(): View {
    const bank = this.cfg0.bank & 1;
    const w = this.words[bank]!;
    return { bank, aclGen: w.aclGen, acl: this.acl[bank]!.slice(0, w.aclRules), mirrors: this.mirrors[bank]!.slice(0, w.mirrors) };
  }

  private wrote(what: string): void {
    this.log.push(what);
    this.probe?.(this.view());
  }

  setConfig(c: Readonly<ConfigWords>): void {
    this.cfg0 = { ...c };
    this.wrote(`config[0] bank ${c.bank}`);
  }
  setBankConfig(bank: number, c: Readonly<ConfigWords>): void {
    this.words[bank] = { ...c };
    this.wrote(`config words bank ${bank}`);
  }
  waitForFrames(): void {
    this.log.push('wait');
  }
  setAclRule(bank: number, k: number, rules: Int32Array): void {
    this.acl[bank]![k] = Array.from(rules.subarray(k * ACL_STRIDE, (k + 1) * ACL_STRIDE)).join(',');
    this.wrote(`acl bank ${bank} slot ${k}`);
  }
  aclHits(bank: number, k: number): number {
    return this.hits[bank]![k]!;
  }
  resetAclHits(bank: number, k: number): void {
    this.hits[bank]![k] = 0;
    this.wrote(`acl_hits bank ${bank} slot ${k} = 0`);
  }
  setMirror(bank: number, k: number, outPort: number, vlanBits: Uint8Array): void {
    this.mirrors[bank]![k] = `${outPort} ${vlanBits.length}`;
    this.wrote(`mirrors bank ${bank} slot ${k}`);
  }
  mirrorCopies(bank: number, k: number): number {
    return this.copies[bank]![k]!;
  }
  resetMirrorCopies(bank: number, k: number): void {
    this.copies[bank]![k] = 0;
    this.wrote(`mirror_copies bank ${bank} slot ${k} = 0`);
  }
}

function setUp() {
  const cfg: ConfigWords = { agingMs: 300_000, refreshMs: 1000, portHi: 4, bank: 0, victim: 0n, vlanPorts: 0, aclRules: 0, mirrors: 0, aclGen: 1 };
  const maps = new RecordingMaps(cfg);
  const clock = { now: 1000 };
  const banks = new ConfigBanks(maps, cfg, () => clock.now);
  const acl = new KernelAcl(banks, maps, cfg);
  const mirrors = new KernelMirrors(banks, maps, cfg, PORTS);
  return { cfg, maps, banks, acl, mirrors, clock };
}

let nextId = 1;
const rule = (r: Partial<AclRule> & Pick<AclRule, 'action'>): AclRule => ({
  id: nextId++, priority: 32768, port: null, src: null, dst: null, type: null, vlan: null, ...r,
});
const table = (rules: AclRule[]) => aclTable([...rules].sort(compareRules));
const rows = (t: { rules: Int32Array; ids: number[] }): string[] =>
  t.ids.map((_, k) => Array.from(t.rules.subarray(k * ACL_STRIDE, (k + 1) * ACL_STRIDE)).join(','));

/**
 * Records what frames see while `change` runs, and asserts each saw `before` or `after` whole
 * (its generation with its own rules). Returns the views seen, in order.
 */
function watch(maps: RecordingMaps, before: View, after: Omit<View, 'bank'>, change: () => void): View[] {
  const seen: View[] = [];
  maps.probe = (v) => seen.push(v);
  try {
    change();
  } finally {
    maps.probe = null;
  }
  const same = (v: View, w: Omit<View, 'bank'>): boolean =>
    v.aclGen === w.aclGen && JSON.stringify(v.acl) === JSON.stringify(w.acl) && JSON.stringify(v.mirrors) === JSON.stringify(w.mirrors);
  for (const v of seen) {
    assert.ok(same(v, before) || same(v, after), `a frame saw a mix: ${JSON.stringify(v)}\nbefore ${JSON.stringify(before)}\nafter ${JSON.stringify(after)}`);
  }
  return seen;
}

describe('kernel configuration banks', () => {
  it('an ACL change is written into the shadow bank only, published by one write of config[0], then copied into the old bank', () => {
    const { maps, acl, cfg } = setUp();
    const a = rule({ src: { mac: 0x0200000000b0, mask: 0xffffffffffff }, action: 'drop' });
    acl.set(table([a]));
    const t2 = table([a, rule({ priority: 40000, src: { mac: 0x0200000000a0, mask: 0xffffffffffff }, action: 'allow' })]);
    const before = maps.view();
    const live = before.bank;
    maps.log.length = 0;
    const seen = watch(maps, before, { aclGen: cfg.aclGen + 1, acl: rows(t2), mirrors: [] }, () => acl.set(t2));

    const publish = maps.log.indexOf(`config[0] bank ${live ^ 1}`);
    assert.ok(publish > 0, maps.log.join('\n'));
    assert.equal(maps.log.filter((w) => w.startsWith('config[0]')).length, 1, 'one publish write');
    // Before the publish: only the shadow; then the wait for the old bank's frames; then the old bank.
    const bankOf = (w: string): number => Number(/ bank (\d)/.exec(w)![1]);
    for (const w of maps.log.slice(0, publish)) assert.equal(bankOf(w), live ^ 1, `${w} before the publish`);
    assert.equal(maps.log[publish + 1], 'wait');
    for (const w of maps.log.slice(publish + 2)) assert.equal(bankOf(w), live, `${w} after the publish`);
    // Frames saw the old table until the publish, the new one from it on; both banks equal after.
    assert.deepEqual(seen.map((v) => v.acl.length), [...new Array<number>(publish).fill(1), ...new Array<number>(seen.length - publish).fill(2)]);
    assert.deepEqual(maps.acl[0]!.slice(0, 2), maps.acl[1]!.slice(0, 2));
    assert.deepEqual({ ...maps.words[0], bank: 0 }, { ...maps.words[1], bank: 0 }); // config[0] alone says the bank
  });

  it("a restart's replay (begin … commit): ACL and mirrors written into the shadow while frames read the old daemon's tables, then one publish", () => {
    const { maps, acl, mirrors, banks, cfg } = setUp();
    const a = rule({ type: 0x0800, action: 'drop' });
    const t = table([a]);
    const m = mirrorTable([{ name: 'span', output: 3, selectAll: false, selectIngress: [1], selectEgress: [], selectVlans: null }], PORTS);
    const live = maps.view().bank;
    maps.log.length = 0;
    banks.begin();
    acl.set(t);
    mirrors.set(m, { setMirrors: () => undefined });
    assert.equal(maps.log.filter((w) => w.startsWith('config[0]')).length, 0, 'nothing published before commit');
    const bankOf = (w: string): number => Number(/ bank (\d)/.exec(w)?.[1] ?? -1);
    for (const w of maps.log) assert.equal(bankOf(w), live ^ 1, `${w} before the commit`);
    banks.commit();
    assert.equal(maps.log.filter((w) => w.startsWith('config[0]')).length, 1, 'one publish');
    assert.equal(cfg.bank, live ^ 1);
    assert.deepEqual(acl.hits(), [0]);
    assert.deepEqual(mirrors.copies(), [0]);
    assert.throws(() => banks.commit(), /no change is open/);
  });

  it('a rule kept keeps its hits, counted in either bank, across changes', () => {
    const { maps, acl } = setUp();
    const a = rule({ type: 0x0800, action: 'drop' });
    const b = rule({ type: 0x0806, action: 'drop' });
    acl.set(table([a, b]));
    maps.hits[0]![0] = 3;
    maps.hits[1]![0] = 4;
    maps.hits[1]![1] = 1;
    assert.deepEqual(acl.hits(), [7, 1]);
    // b is deleted, c comes first: a keeps 7 (frames of the old bank after the read are counted too).
    const c = rule({ priority: 60000, type: 0x86dd, action: 'allow' });
    const t = table([a, c]);
    maps.probe = () => {
      if (maps.log.at(-1) === `config[0] bank ${maps.cfg0.bank}`) maps.hits[maps.cfg0.bank ^ 1]![0] += 2; // in flight on the old bank
    };
    acl.set(t);
    maps.probe = null;
    assert.deepEqual(acl.hits(), [0, 9]);
  });

  it('a mirror change publishes the mirrors and the ports\' masks together', () => {
    const { maps, mirrors, cfg, banks } = setUp();
    const spec = (name: string, output: number): MirrorSpec => ({ name, output, selectAll: false, selectIngress: [1], selectEgress: [], selectVlans: null });
    const portWrites: string[] = [];
    const ports = {
      setMirrors: () => banks.write((bank) => portWrites.push(`ports[${bank}] ${maps.log.length}`)),
    };
    mirrors.set(mirrorTable([spec('m1', 2), spec('m2', 3)], PORTS), ports);
    const before = maps.view();
    portWrites.length = 0;
    maps.log.length = 0;
    const seen = watch(maps, before, { aclGen: cfg.aclGen, acl: [], mirrors: [`3 ${VLAN_BITMAP_BYTES}`] }, () => mirrors.set(mirrorTable([spec('m2', 3)], PORTS), ports));
    assert.ok(seen.length > 0);
    assert.equal(maps.log.filter((w) => w.startsWith('config[0]')).length, 1);
    // The ports' masks: the shadow before the publish, the old bank after it.
    const publish = maps.log.findIndex((w) => w.startsWith('config[0]'));
    assert.deepEqual(portWrites.map((w) => Number(w.split(' ')[1]) < publish), [true, false]);
    assert.deepEqual(portWrites.map((w) => w.split(' ')[0]), [`ports[${before.bank ^ 1}]`, `ports[${before.bank}]`]);
  });

  it('a mirror kept keeps its copies', () => {
    const { maps, mirrors } = setUp();
    const spec = (name: string, output: number): MirrorSpec => ({ name, output, selectAll: false, selectIngress: [1], selectEgress: [], selectVlans: null });
    const ports = { setMirrors: () => {} };
    mirrors.set(mirrorTable([spec('m1', 2), spec('m2', 3)], PORTS), ports);
    maps.copies[0]![1] = 5;
    maps.copies[1]![1] = 6;
    mirrors.set(mirrorTable([spec('m2', 3)], PORTS), ports);
    assert.deepEqual(mirrors.copies(), [11]);
  });

  it('a change\'s time (what learn events are checked against) is read after the old bank\'s frames are done', () => {
    const cfg: ConfigWords = { agingMs: 300_000, refreshMs: 1000, portHi: 4, bank: 0, victim: 0n, vlanPorts: 0, aclRules: 0, mirrors: 0, aclGen: 1 };
    const maps = new RecordingMaps(cfg);
    const banks = new ConfigBanks(maps, cfg, () => {
      maps.log.push('clock');
      return 2000;
    });
    let at = 0;
    banks.change(
      () => banks.write(() => {}),
      (_, t) => (at = t),
    );
    assert.equal(at, 2000);
    assert.deepEqual(maps.log, ['config words bank 1', 'config[0] bank 1', 'wait', 'clock', 'config words bank 0']);
  });

  it('a port\'s state outside a change goes into both banks; a change inside another is published once with it', () => {
    const { maps, banks } = setUp();
    const writes: number[] = [];
    banks.write((bank) => writes.push(bank));
    assert.deepEqual(writes.sort(), [0, 1]);
    maps.log.length = 0;
    const at: number[] = [];
    banks.change(() => banks.change(() => banks.write((bank) => writes.push(bank)), (_, t) => at.push(t)));
    assert.equal(maps.log.filter((w) => w.startsWith('config[0]')).length, 1);
    assert.deepEqual(at, [1000]);
  });

  it('a change that fails is not published and leaves the bank words as they were', () => {
    const { maps, banks, cfg } = setUp();
    maps.log.length = 0;
    assert.throws(() =>
      banks.change(() => {
        cfg.aclRules = 5;
        cfg.portHi = 9;
        throw new Error('no');
      }),
    );
    assert.equal(cfg.aclRules, 0);
    assert.equal(cfg.portHi, 4);
    assert.deepEqual(maps.log, []);
  });

  it('the check catches the old writer: the ACL rewritten slot by slot in the live table, count and generation last', () => {
    const { maps, acl, cfg } = setUp();
    const a = rule({ src: { mac: 0x0200000000b0, mask: 0xffffffffffff }, action: 'drop' });
    acl.set(table([a]));
    const t2 = table([rule({ priority: 40000, src: { mac: 0x0200000000a0, mask: 0xffffffffffff }, action: 'allow' }), a]);
    const before = maps.view();
    const slotBySlot = (): void => {
      const live = cfg.bank;
      for (let k = 0; k < t2.ids.length; k++) {
        maps.setAclRule(live, k, t2.rules);
        maps.resetAclHits(live, k);
      }
      cfg.aclRules = t2.ids.length;
      cfg.aclGen += 1;
      maps.setBankConfig(live, cfg);
    };
    assert.throws(() => watch(maps, before, { aclGen: cfg.aclGen + 1, acl: rows(t2), mirrors: [] }, slotBySlot), /a frame saw a mix/);
  });
});
