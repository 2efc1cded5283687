// The switch's ACL as the registry keeps it: the rules in match order (core/
// acl.ts), their ports as slots, and the next rule id. A rule is named by its
// port's interface name wherever it leaves the switch (acl show, the --db
// file), and a rule on a port goes with the port: its slot may be the next
// port's. The datapaths get the rules as one table (core/acl.ts aclTable).

import { ACL_DEFAULT_PRIORITY, ACL_MAX_RULES, type AclRule, aclTable, compareRules, formatMacMask, parseMacMask } from '../core/acl.js';
import type { Datapath } from '../datapath/datapath.js';
import { VswError } from '../errors.js';
import type { AclAddRequest } from '../control/requests.js';
import type { AclShowResult } from '../control/results.js';
import type { ConfigStore } from './config.js';
import type { DbConfig, DbRule } from './db.js';
import { errorText, type Logger } from './log.js';
import type { PortNames } from './registry.js';
import type { MonitorHub } from '../control/monitor.js';

export class Acl {
  /** The rules in match order, as the datapath has them. */
  private rules: AclRule[] = [];
  private nextId = 1;

  constructor(
    private readonly datapath: Datapath,
    private readonly ports: PortNames,
    private readonly config: ConfigStore,
    private readonly log: Logger,
    private readonly monitor: MonitorHub,
  ) {}

  /**
   * Add a rule (valid: the protocol checked it) and return its id. It is in
   * force for the next frame once the datapath has the new table.
   */
  async add(r: AclAddRequest): Promise<number> {
    const port = r.in === undefined ? null : this.ports.slot(r.in);
    if (this.rules.length >= ACL_MAX_RULES) throw new VswError('EACLFULL', `the switch holds at most ${ACL_MAX_RULES} ACL rules`);
    const rule: AclRule = {
      id: this.nextId,
      priority: r.priority ?? ACL_DEFAULT_PRIORITY,
      port,
      src: r.src === undefined ? null : parseMacMask(r.src),
      dst: r.dst === undefined ? null : parseMacMask(r.dst),
      type: r.type ?? null,
      vlan: r.vlan ?? null,
      action: r.action,
    };
    const rules = [...this.rules, rule].sort(compareRules);
    this.config.commit({ ...this.config.configuration(), acl: this.saved(rules, this.nextId + 1) });
    this.nextId++;
    await this.push(rules);
    this.log(`acl ${rule.id} added`);
    // The rule as it was asked for, in vswconfig's words: "src 02:00:00:00:00:01 vlan untagged drop".
    const words = Object.entries(r).flatMap(([k, v]) => (k === 'action' ? [] : [`${k} ${String(v)}`]));
    this.monitor.publish({ event: 'acl-add', id: rule.id, rule: [...words, r.action].join(' ') });
    return rule.id;
  }

  async del(id: number): Promise<void> {
    if (!this.rules.some((r) => r.id === id)) throw new VswError('ENOACL', `no ACL rule ${id}`);
    const rules = this.rules.filter((r) => r.id !== id);
    this.config.commit({ ...this.config.configuration(), acl: this.saved(rules) });
    await this.push(rules);
    this.log(`acl ${id} deleted`);
    this.monitor.publish({ event: 'acl-del', id });
  }

  async show(): Promise<AclShowResult> {
    const rules = this.rules;
    const hits = await this.datapath.aclHits();
    const names = this.ports.names();
    return { rules: rules.map((r, k) => ({ ...named(r, r.port === null ? null : names[r.port] ?? `port ${r.port}`), hits: hits[k] ?? 0 })) };
  }

  /** Port `slot` (named `ifname`) is gone: the rules on it go too. */
  portGone(slot: number, ifname: string): void {
    if (!this.rules.some((r) => r.port === slot)) return;
    void this.push(this.rules.filter((r) => r.port !== slot)).then(
      () => this.log(`acl rules on ${ifname} deleted with the port`),
      (err) => this.log(`acl rules on ${ifname}: not deleted: ${errorText(err)}`),
    );
  }

  /** The ACL as the file keeps it: `rules` (default: the ACL) named by port; a rule whose port has gone goes. */
  saved(rules: readonly AclRule[] = this.rules, nextId = this.nextId): DbConfig['acl'] {
    const names = this.ports.names();
    const kept: DbRule[] = [];
    for (const r of rules) {
      const name = r.port === null ? null : names[r.port];
      if (name !== undefined) kept.push(named(r, name));
    }
    return { nextId, rules: kept };
  }

  /** Apply a saved ACL at start, with its ids; a rule whose port was not restored is logged and left out. */
  async restore(saved: DbConfig['acl'], from: string): Promise<void> {
    const names = this.ports.names();
    const rules: AclRule[] = [];
    for (const r of saved.rules) {
      const port = r.in === null ? null : names.indexOf(r.in);
      if (port === -1) {
        this.log(`acl ${r.id} dropped from ${from}: its port ${r.in} was dropped`);
        continue;
      }
      rules.push({
        id: r.id,
        priority: r.priority,
        port,
        src: r.src === null ? null : parseMacMask(r.src),
        dst: r.dst === null ? null : parseMacMask(r.dst),
        type: r.type,
        vlan: r.vlan,
        action: r.action,
      });
    }
    if (rules.length > 0) await this.push(rules.sort(compareRules));
    this.nextId = saved.nextId;
  }

  /** Hand the datapath `rules` (in match order); they are the ACL once it has them. */
  private async push(rules: AclRule[]): Promise<void> {
    await this.config.apply(
      () => this.datapath.setAcl(aclTable(rules)),
      () => (this.rules = rules),
      (ok) => `the ACL ${ok ? 'changed' : 'not changed'}`,
      "changing the ACL; see 'vswconfig acl show'",
    );
  }
}

/** A rule with its port named `inName` (null: any port) and its MACs written out. */
function named(r: AclRule, inName: string | null): DbRule {
  return {
    id: r.id,
    priority: r.priority,
    in: inName,
    src: r.src === null ? null : formatMacMask(r.src),
    dst: r.dst === null ? null : formatMacMask(r.dst),
    type: r.type,
    vlan: r.vlan,
    action: r.action,
  };
}
