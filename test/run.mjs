// Runs the test suites with node's built-in runner on the compiled tests.
//   node test/run.mjs unit | integration | all
// Unit tests need no privileges. Integration tests need root (namespaces,
// veth pairs, packet sockets); without it they fail, they are never skipped.
import { spawnSync } from 'node:child_process';
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
const files = [];
if (which === 'unit' || which === 'all') files.push(...dir('unit'));
if (which === 'integration' || which === 'all') {
  if (process.getuid?.() !== 0) {
    console.error('test/run.mjs: the integration tests need root (network namespaces, veth pairs, packet sockets)');
    process.exit(1);
  }
  files.push(...dir('integration'));
}
if (files.length === 0) {
  console.error(`test/run.mjs: no test files for '${which}'`);
  process.exit(1);
}
// One file at a time: integration tests measure traffic on a 2-core machine.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
