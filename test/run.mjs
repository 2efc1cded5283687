// Runs the test suites with node's built-in runner on the compiled tests.
//   node test/run.mjs unit | integration | all
// Unit tests need no privileges. Integration tests need root (namespaces,
// veth pairs, packet sockets); without it they fail, they are never skipped.
// The integration tests run once per datapath (VSWITCH_TEST_DATAPATH, read by
// test/helpers/lab.ts): every forwarding test on both. Then a third mode, the
// kernel datapath with its programs attached as tc clsact filters
// (VSWITCH_TEST_ATTACH=tc: lab.ts passes --attach tc), runs TC_SUBSET only:
// the attach mode changes how a program is attached and removed, never what
// it does to a frame, and the whole suite already takes ~13 minutes. The
// subset is what the attach mode can break: forwarding basics (frames go
// through a filter at all, link events), the differential test (the kernel
// program frame for frame against the core), host isolation (the host sees
// no port frame; delete, SIGTERM and kill -9 give the port back), ports and
// db (kill -9, then another vswitchd takes the same interfaces at once) and
// the user's own tc filters kept (tc-user-filters). The last line sums every
// run: "total: N passed, N failed".
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] ?? 'all';
const TC_SUBSET = ['forwarding', 'differential', 'host-isolation', 'ports', 'db', 'tc-user-filters', 'restart'];
const dir = (d) => {
  const path = join('dist', 'test', d);
  return readdirSync(path)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => join(path, f));
};
const runs = [];
if (which === 'unit' || which === 'all') runs.push({ title: 'unit tests', files: dir('unit'), env: {} });
if (which === 'integration' || which === 'all') {
  if (process.getuid?.() !== 0) {
    console.error('test/run.mjs: the integration tests need root (network namespaces, veth pairs, packet sockets)');
    process.exit(1);
  }
  for (const datapath of ['user', 'kernel']) {
    runs.push({
      title: `integration tests, ${datapath} datapath`,
      files: dir('integration'),
      env: { VSWITCH_TEST_DATAPATH: datapath },
    });
  }
  const subset = dir('integration').filter((f) => TC_SUBSET.some((name) => f.endsWith(`/${name}.test.js`)));
  if (subset.length !== TC_SUBSET.length) {
    console.error(`test/run.mjs: the tc subset names a test that does not exist: ${TC_SUBSET.join(', ')}`);
    process.exit(1);
  }
  runs.push({
    title: 'integration tests, kernel datapath attached with tc (subset)',
    files: subset,
    env: { VSWITCH_TEST_DATAPATH: 'kernel', VSWITCH_TEST_ATTACH: 'tc' },
  });
}
if (runs.length === 0 || runs.some((r) => r.files.length === 0)) {
  console.error(`test/run.mjs: no test files for '${which}'`);
  process.exit(1);
}

/** Runs one suite, passing its output through; resolves to its exit status and counts. */
function runSuite({ title, files, env }) {
  console.log(`# ==== ${title} ====`);
  // One file at a time: integration tests measure traffic on a 2-core machine.
  const p = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  let tail = '';
  const counts = { pass: 0, fail: 0 };
  p.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const text = tail + chunk.toString('utf8');
    const lines = text.split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^# (pass|fail) (\d+)$/.exec(line);
      if (m) counts[m[1]] = Number(m[2]);
    }
  });
  return new Promise((resolve) => p.on('close', (code) => resolve({ code: code ?? 1, ...counts })));
}

let status = 0;
let passed = 0;
let failed = 0;
for (const run of runs) {
  const r = await runSuite(run);
  if (r.code !== 0) status = 1;
  passed += r.pass;
  failed += r.fail;
}
console.log(`total: ${passed} passed, ${failed} failed`);
process.exit(status);
