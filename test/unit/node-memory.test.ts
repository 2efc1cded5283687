// The V8 heap limits that keep vswitchd's RSS near idle under a MAC storm
// (issue 15): the main thread's node options (daemon/node-flags.ts, also on
// bin/vswitchd's first line) and the datapath thread's resourceLimits
// (datapath/handle.ts). Each is checked by what it does: a thread allocating
// steadily, as under a storm, keeps its new space small; without the limit
// the same thread's new space grows past it (the check can see a difference).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { DATAPATH_RESOURCE_LIMITS } from '../../src/datapath/handle.js';
import { VSWITCHD_NODE_ARGS } from '../../src/daemon/node-flags.js';
import { ROOT } from '../helpers/program-copy.js';

/** Allocates for `ms` (short-lived objects, some kept a while, as requests are), then prints its new space's size in bytes. */
const CHURN = `
const v8 = require('node:v8');
let keep = [];
const t0 = Date.now();
while (Date.now() - t0 < 1500) {
  for (let i = 0; i < 1000; i++) keep.push({ a: i, b: [i, i] });
  if (keep.length > 20000) keep = [];
}
const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
if (require('node:worker_threads').parentPort) require('node:worker_threads').parentPort.postMessage(size);
else console.log(size);
`;

const MiB = 1 << 20;

function workerNewSpace(resourceLimits?: typeof DATAPATH_RESOURCE_LIMITS): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(CHURN, { eval: true, ...(resourceLimits ? { resourceLimits } : {}) });
    w.once('message', (size: number) => resolve(size));
    w.once('error', reject);
  });
}

function mainNewSpace(nodeArgs: readonly string[]): number {
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', CHURN], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe('heap limits against RSS growth (issue 15)', () => {
  it("the datapath thread's young generation stays at its start-up size under steady allocation", async () => {
    const limited = await workerNewSpace(DATAPATH_RESOURCE_LIMITS);
    assert.ok(limited <= 4 * MiB, `new space ${limited / MiB} MiB with the limit`);
    const free = await workerNewSpace();
    assert.ok(free > limited, `without the limit the same allocation grows new space (${free / MiB} MiB), or this check sees nothing`);
  });

  it("the main thread's node options hold its new space at 2 MiB", () => {
    const limited = mainNewSpace(VSWITCHD_NODE_ARGS);
    assert.ok(limited <= 2 * MiB, `new space ${limited / MiB} MiB with ${VSWITCHD_NODE_ARGS.join(' ')}`);
    assert.ok(mainNewSpace([]) > limited, 'without the options the same allocation grows new space, or this check sees nothing');
  });

  it("bin/vswitchd's first line runs node with the same options", () => {
    const first = readFileSync(join(ROOT, 'bin', 'vswitchd'), 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${VSWITCHD_NODE_ARGS.join(' ')}`);
  });
});
