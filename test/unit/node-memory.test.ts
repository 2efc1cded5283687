// The V8 heap limit that keeps vswitchd's RSS near idle under a MAC storm
// (issue 15): the node options of daemon/node-flags.ts, also on bin/vswitchd's
// first line. Checked by what it does, under the real options: a thread
// allocating steadily, as under a storm, keeps its new space at 2 MiB, the
// main thread and a worker thread (the datapath's) alike; without the options
// the same thread's new space grows past it (the check can see a difference).
// A Worker's resourceLimits change nothing under them, which is why the
// datapath thread is given none (datapath/handle.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VSWITCHD_NODE_ARGS } from '../../src/daemon/node-flags.js';
import { ROOT } from '../helpers/program-copy.js';

/** Allocates for 1.5 s (short-lived objects, some kept a while, as requests are), then reports its new space's size in bytes. */
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

/** New space after CHURN, in a node started with `nodeArgs`: in its main thread, or in a Worker (with `resourceLimits`, if given). */
function newSpace(nodeArgs: readonly string[], thread: 'main' | 'worker', resourceLimits?: object): number {
  const script =
    thread === 'main'
      ? CHURN
      : `const w = new (require('node:worker_threads').Worker)(${JSON.stringify(CHURN)}, { eval: true, resourceLimits: ${JSON.stringify(resourceLimits ?? {})} });
         w.once('message', (size) => console.log(size));`;
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe('heap limits against RSS growth (issue 15)', () => {
  it("vswitchd's node options hold the main thread's new space at 2 MiB", () => {
    const limited = newSpace(VSWITCHD_NODE_ARGS, 'main');
    assert.ok(limited <= 2 * MiB, `new space ${limited / MiB} MiB with ${VSWITCHD_NODE_ARGS.join(' ')}`);
    assert.ok(newSpace([], 'main') > limited, 'without the options the same allocation grows new space, or this check sees nothing');
  });

  it("the same options hold a worker thread's (the datapath thread's) new space at 2 MiB: V8's flags are process-wide", () => {
    const limited = newSpace(VSWITCHD_NODE_ARGS, 'worker');
    assert.ok(limited <= 2 * MiB, `new space ${limited / MiB} MiB with ${VSWITCHD_NODE_ARGS.join(' ')}`);
    assert.ok(newSpace([], 'worker') > limited, 'without the options the same allocation grows new space, or this check sees nothing');
  });

  it("under those options a Worker's resourceLimits change nothing (so the datapath thread has none)", () => {
    const generous = { maxYoungGenerationSizeMb: 64 };
    const flagged = newSpace(VSWITCHD_NODE_ARGS, 'worker', generous);
    assert.ok(flagged <= 2 * MiB, `new space ${flagged / MiB} MiB with ${VSWITCHD_NODE_ARGS.join(' ')} and ${JSON.stringify(generous)}`);
    assert.ok(newSpace([], 'worker', generous) > 2 * MiB, 'without the options the same limit lets new space grow, or this check sees nothing');
  });

  it("bin/vswitchd's first line runs node with the same options", () => {
    const first = readFileSync(join(ROOT, 'bin', 'vswitchd'), 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${VSWITCHD_NODE_ARGS.join(' ')}`);
  });
});
