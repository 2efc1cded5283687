import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BUCKETS, bucketOf, foldedStacks, parsePerfScript, perfComparisonTable, summarizePerf, type PerfSample } from '../../bench/perf-summary.js';

// Captured from `node dist/bench/main.js --switches kernel,bridge --rounds 1 --only tcp --perf`
// (see test/fixtures/README.md): perf script of the kernel datapath's NS1→NS2 window, cut.
const FIXTURE = readFileSync(new URL('../../../test/fixtures/perf-script-tcp.txt', import.meta.url), 'utf8');

// Two samples written the way perf script writes them: a comm with spaces,
// a leaf with a GCC clone suffix, a user-space frame, a blank line between.
const TINY = [
  'npm exec tsc -p 15495 [000]    1001001 ',
  '\tffffffff815bdbbf finish_task_switch.isra.0 ([kernel.kallsyms])',
  '\tffffffff8223df91 do_syscall_64 ([kernel.kallsyms])',
  '\t           f82ec read (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
  'iperf3 4711 [001]    3003003 ',
  '\tffffffff81a0c2d0 rep_movs_alternative ([kernel.kallsyms])',
  '\tffffffff81c11111 _copy_to_iter ([kernel.kallsyms])',
  '\tffffffff81c22222 skb_copy_datagram_iter ([kernel.kallsyms])',
  '\tffffffff81c33333 tcp_recvmsg_locked ([kernel.kallsyms])',
  '\tffffffff81c44444 tcp_recvmsg ([kernel.kallsyms])',
  '\t           12345 __libc_recv (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
].join('\n');

test('bench perf: perf script samples are read with their comm, CPU, period and chain, leaf first', () => {
  const s = parsePerfScript(TINY);
  assert.equal(s.length, 2);
  assert.deepEqual({ comm: s[0]!.comm, tid: s[0]!.tid, cpu: s[0]!.cpu, period: s[0]!.period }, { comm: 'npm exec tsc -p', tid: 15495, cpu: 0, period: 1001001 });
  assert.deepEqual(
    s[0]!.stack.map((f) => [f.sym, f.kernel]),
    [
      ['finish_task_switch.isra.0', true],
      ['do_syscall_64', true],
      ['read', false],
    ],
  );
  assert.equal(s[1]!.stack[0]!.sym, 'rep_movs_alternative');
  assert.equal(s[1]!.stack.length, 6);
});

test('bench perf: shares are weighed by period, per CPU, and the copy is told by its caller', () => {
  const sum = summarizePerf(parsePerfScript(TINY));
  assert.equal(sum.samples, 2);
  // 1001001 : 3003003 = 1 : 3
  assert.equal(sum.buckets.sched, 25);
  assert.equal(sum.buckets.copyToUser, 75);
  assert.deepEqual(sum.top, [
    { sym: 'rep_movs_alternative', pct: 75 },
    { sym: 'finish_task_switch.isra.0', pct: 25 },
  ]);
  assert.equal(sum.perCpu['cpu1']!.pct, 75);
  assert.equal(sum.perCpu['cpu1']!.receiver, 100);
  assert.equal(sum.perCpu['cpu1']!.softirq, 0);
  assert.deepEqual(sum.perCpu['cpu0']!.comms, [{ comm: 'npm exec tsc -p', pct: 100 }]);
});

test('bench perf: the same copy under sendmsg is the sender writing; a user-space leaf is user', () => {
  const frame = (sym: string, kernel = true) => ({ sym, dso: kernel ? '[kernel.kallsyms]' : 'iperf3', kernel });
  const sample = (...stack: ReturnType<typeof frame>[]): PerfSample => ({ comm: 'iperf3', tid: 1, cpu: 0, period: 1, stack });
  assert.equal(bucketOf(sample(frame('rep_movs_alternative'), frame('skb_do_copy_data_nocache'), frame('tcp_sendmsg_locked'))), 'copyFromUser');
  assert.equal(bucketOf(sample(frame('rep_movs_alternative'), frame('tcp_recvmsg'))), 'copyToUser');
  assert.equal(bucketOf(sample(frame('iperf_recv', false), frame('main', false))), 'user');
  assert.equal(bucketOf(sample(frame('bpf_prog_3b185187f1855c4c_vsw_forward'), frame('tcx_run'))), 'bpf');
  assert.equal(bucketOf(sample(frame('br_handle_frame'))), 'bridge');
  assert.equal(bucketOf(sample(frame('enqueue_to_backlog'))), 'backlog');
  assert.equal(bucketOf(sample(frame('pv_native_safe_halt'))), 'idle');
});

test('bench perf: a captured TCP window: every sample read, the buckets sum to the whole, the network path found', () => {
  const samples = parsePerfScript(FIXTURE);
  // counted apart from the parser: one header line per sample
  const headers = FIXTURE.split('\n').filter((l) => /^\S.*\[\d{3}\]\s+\d+\s*$/.test(l)).length;
  assert.equal(samples.length, headers);
  assert.ok(samples.length >= 200, `${samples.length} samples`);
  assert.ok(samples.every((s) => s.stack.length > 0));
  const sum = summarizePerf(samples);
  const total = BUCKETS.reduce((x, b) => x + sum.buckets[b], 0);
  assert.ok(Math.abs(total - 100) < 0.1, `buckets sum to ${total}`);
  assert.equal(sum.top.length, 25);
  // this window's heaviest leaves: the receiver's copy, idle, the sender's copy; each leaf
  // counted apart from the parser (the line after a header) agrees
  assert.deepEqual(sum.top.slice(0, 3), [
    { sym: '_copy_to_iter', pct: 19.75 },
    { sym: 'pv_native_safe_halt', pct: 18.5 },
    { sym: '_copy_from_iter', pct: 13.75 },
  ]);
  const lines = FIXTURE.split('\n');
  const leaves = lines.filter((_, i) => i > 0 && /\[\d{3}\]\s+\d+\s*$/.test(lines[i - 1]!));
  assert.equal(leaves.filter((l) => / _copy_to_iter \(/.test(l)).length / headers, 0.1975);
  for (let i = 1; i < sum.top.length; i++) assert.ok(sum.top[i - 1]!.pct >= sum.top[i]!.pct);
  // both CPUs recorded (-a), each CPU's share of the samples adding up
  assert.deepEqual(Object.keys(sum.perCpu), ['cpu0', 'cpu1']);
  assert.ok(Math.abs(sum.perCpu['cpu0']!.pct + sum.perCpu['cpu1']!.pct - 100) < 0.1);
  // a TCP stream through the kernel datapath: its program, the receive path, the copies
  assert.ok(sum.buckets.bpf > 0, 'the eBPF program is seen');
  assert.ok(sum.buckets.tcpRx > 0 && sum.buckets.copyToUser > 0 && sum.buckets.copyFromUser > 0);
  assert.ok(Object.values(sum.perCpu).some((c) => c.softirq > 0 && c.receiverSoftirq > 0));
  assert.equal(sum.buckets.bridge, 0);
  // folded: a line per distinct chain, counts summing to the samples
  const folded = foldedStacks(samples).split('\n');
  assert.equal(
    folded.reduce((x, l) => x + Number(l.slice(l.lastIndexOf(' ') + 1)), 0),
    samples.length,
  );
});

test('bench perf: the comparison puts a row per bucket and CPU figure, a column per window', () => {
  const summary = summarizePerf(parsePerfScript(TINY));
  const t = perfComparisonTable(
    [
      { switch: 'vswitchd-kernel', caseId: 'tcp1', caseLabel: 'x', summary, gbps: 16.5, retransmits: 25090 },
      { switch: 'bridge', caseId: 'tcp1', caseLabel: 'x', summary, cpuSplit: { cpu0: { softirq: 40, idle: 1, system: 30, user: 5 } } },
    ],
    (id) => (id === 'tcp1' ? '1→' : id),
  ).split('\n');
  assert.equal(t[0], "| % of the window's samples | vswitchd-kernel 1→ | bridge 1→ |");
  assert.ok(t.includes('| copy to user (the receiver reads) | 75.0 | 75.0 |'));
  assert.ok(t.includes('| cpu0: softirq (/proc/stat, profiled window), % of cpu0 | — | 40.0 |'));
  assert.ok(t.includes('| profiled window\'s Gbit/s, retransmits (perf running: not compared) | 16.5, 25090 | —, — |'));
});
