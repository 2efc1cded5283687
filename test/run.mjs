// Runs the test suites with node's built-in runner on the compiled tests.
//   node test/run.mjs unit | integration | all
// Unit tests need no privileges. Integration tests need root (namespaces,
// veth pairs, packet sockets); without it they fail, they are never skipped.
// The integration tests run once per datapath (VSWITCH_TEST_DATAPATH, read by
// test/helpers/lab.ts): every forwarding test on both. The last line sums
// every run: "total: N passed, N failed".
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] ?? 'all';
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
