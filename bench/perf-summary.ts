// --perf (issue 18): what `perf script` says about a TCP window, reduced to
// what the question needs: where the two CPUs' time went, for the bridge and
// for the kernel datapath side by side. Pure text in, figures out (the
// recording is tcp-rounds.ts's; the unit test feeds captured perf output).
//
// Every sample is weighed by its period (what `perf report` does), and
// charged to its leaf frame (`--no-children`): the top symbols are
// `perf report --no-children --sort sym`'s. The buckets group leaves by name;
// the copies between the kernel and iperf3 are told apart by the call chain
// (one helper, rep_movs_alternative, copies both ways).

/** One frame of a call chain: the symbol and its object ([kernel.kallsyms], a library, …). */
export interface Frame {
  sym: string;
  dso: string;
  /** at a kernel address (x86-64: the upper half), eBPF programs included */
  kernel: boolean;
}

export interface PerfSample {
  comm: string;
  tid: number;
  cpu: number;
  period: number;
  /** leaf first */
  stack: Frame[];
}

const HEADER = /^(.*?)\s+(\d+)\s+\[(\d+)\]\s+(\d+)\s*$/;
const FRAME = /^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$/;

/**
 * `perf script -F comm,tid,cpu,period,ip,sym,dso` of a `perf record -g`:
 * a header line per sample (`iperf3 4711 [001]    1001001`), then its frames
 * (`\tffffffff81234567 tcp_v4_rcv ([kernel.kallsyms])`), leaf first, then a
 * blank line. A comm may hold spaces.
 */
export function parsePerfScript(text: string): PerfSample[] {
  const out: PerfSample[] = [];
  let cur: PerfSample | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      cur = null;
      continue;
    }
    if (cur && /^\s/.test(line)) {
      const f = FRAME.exec(line);
      if (f) cur.stack.push({ sym: f[2]!.replace(/\+0x[0-9a-f]+$/, ''), dso: f[3]!, kernel: f[1]!.length === 16 && f[1]!.startsWith('ffff') });
      continue;
    }
    const h = HEADER.exec(line);
    if (!h) continue; // perf's warnings, if any reached stdout
    cur = { comm: h[1]!.trim(), tid: Number(h[2]), cpu: Number(h[3]), period: Number(h[4]), stack: [] };
    out.push(cur);
  }
  return out;
}

// ---- buckets ----

/** The buckets in their order, with their labels. */
export const BUCKET_LABELS = {
  idle: 'idle (the CPU halted)',
  tcpRx: 'TCP/IP receive (tcp_v4_rcv, data queue, recvmsg)',
  tcpTx: 'TCP/IP send and ACK processing (sendmsg, write_xmit, tcp_ack, ip_output, GSO)',
  copyToUser: 'copy to user (the receiver reads)',
  copyFromUser: 'copy from user (the sender writes)',
  backlog: 'veth, netif_rx and the backlog (veth_xmit, enqueue_to_backlog, process_backlog, net_rx_action, __netif_receive_skb)',
  bpf: 'eBPF program and tc ingress (bpf_prog_*, tcx/cls_bpf, skb_do_redirect, map lookups)',
  bridge: 'bridge (br_*)',
  memory: 'skb and page allocation and freeing',
  sched: 'scheduler and wake-ups',
  irqOn: "where interrupts are enabled again (_raw_spin_unlock_irqrestore, handle_softirqs: cpu-clock's skew, work done with them off lands here)",
  otherKernel: 'other kernel',
  user: 'user space (iperf3, vswitchd, others)',
} as const;

export type BucketId = keyof typeof BUCKET_LABELS;
export const BUCKETS = Object.keys(BUCKET_LABELS) as BucketId[];

const IDLE = /^(pv_native_safe_halt|native_safe_halt|default_idle|default_idle_call|arch_cpu_idle|cpu_idle_poll|poll_idle|acpi_safe_halt|acpi_idle_\w+|intel_idle\w*|mwait_idle\w*|cpuidle_enter\w*|do_idle)$/;
const COPY = /^(rep_movs_alternative|copy_user_\w+|_copy_to_user|_copy_from_user|__copy_user\w*|copyout|copyin|_copy_to_iter|_copy_from_iter\w*|simple_copy_to_iter|skb_copy_datagram_iter|__skb_datagram_iter|csum_and_copy_\w+|skb_do_copy_data_nocache|copy_page_from_iter\w*|copy_page_to_iter\w*|memcpy_to_iter|memcpy_from_iter\w*)$/;
const BPF = /^(bpf_prog_\w+|bpf_\w+|__bpf_\w+|cls_bpf_\w+|tcx_\w+|tcf_\w+|sch_handle_ingress|skb_do_redirect|htab_\w+|__htab_\w+|array_map_\w+|jhash\w*|bpf_trace_\w+)$/;
const BRIDGE = /^(br_\w+|__br_\w+|nbp_\w+)$/;
const BACKLOG =
  /^(veth_\w+|__veth_\w+|netif_rx\w*|__netif_rx\w*|enqueue_to_backlog|process_backlog|net_rx_action|__napi_poll\w*|napi_\w+|__napi_\w+|\w*netif_receive_skb\w*|__dev_queue_xmit|dev_queue_xmit\w*|dev_hard_start_xmit|__dev_forward_skb\w*|dev_forward_skb\w*|eth_type_trans|rps_\w+|__netif_\w+|netif_\w+|skb_scrub_packet|validate_xmit_\w+|qdisc_\w+|sch_direct_xmit|__qdisc_\w+|pfifo_\w+|noqueue_\w+)$/;
const TCP_RX =
  /^(tcp_v4_rcv|tcp_v4_do_rcv|tcp_rcv_\w+|tcp_data_queue\w*|tcp_queue_rcv|tcp_ofo_\w+|tcp_try_coalesce|tcp_recvmsg\w*|tcp_cleanup_rbuf|tcp_event_data_recv|tcp_add_backlog|tcp_validate_incoming|tcp_sack\w*|tcp_dsack\w*|tcp_measure_rcv_mss|tcp_grow_window|tcp_urg|tcp_v4_inbound\w*|tcp_filter|tcp_v4_fill_cb|ip_rcv\w*|ip_local_deliver\w*|ip_protocol_deliver_rcu|ip_sublist_rcv\w*|ip_list_rcv|ip_route_input\w*|ip_route_use_hint|skb_try_coalesce|\w*gro_receive\w*|\w*gro_complete|dev_gro_receive|napi_gro_\w+|inet_gro_\w+|tcp_gro_\w+|tcp4_gro_\w+|__inet_lookup\w*|inet_ehashfn|sock_rfree|tcp_rbtree_insert|__tcp_ack_snd_check|tcp_send_ack|__tcp_send_ack\w*|sk_filter_trim_cap|skb_copy_datagram\w*|tcp_recv_timestamp|sock_recvmsg\w*|inet_recvmsg|__sys_recvfrom|sock_read_iter|tcp_release_cb|release_sock|__release_sock|lock_sock_nested)$/;
const TCP_TX =
  /^(tcp_sendmsg\w*|tcp_write_xmit|tcp_push\w*|__tcp_push\w*|tcp_transmit_skb|__tcp_transmit_skb|tcp_ack\w*|tcp_clean_rtx_queue\w*|tcp_rate_\w+|tcp_tso_\w+|tcp_tsq_\w+|tcp_send_mss|tcp_current_mss|tcp_stream_alloc_skb|tcp_skb_\w+|tcp_wfree|tcp_small_queue_check|tcp_event_new_data_sent|tcp_xmit_\w+|tcp_retransmit_\w+|__tcp_retransmit_\w+|tcp_fastretrans_alert|tcp_enter_recovery|tcp_mark_skb_lost|tcp_newly_delivered|tcp_cong_\w+|tcp_update_pacing_rate|tcp_chrono_\w+|cubictcp_\w+|bictcp_\w+|tcp_options_write|tcp_established_options|tcp_v4_send_check|__tcp_v4_send_check|tcp_mstamp_refresh|tcp_schedule_loss_probe|tcp_rearm_rto|tcp_check_space|tcp_new_space|tcp_build_frag|skb_entail|tcp_gso_\w+|tcp4_gso_\w+|inet_gso_\w+|skb_segment\w*|__skb_gso_\w+|skb_mac_gso_segment|ip_queue_xmit|__ip_queue_xmit|ip_output|ip_finish_output\w*|__ip_finish_output|ip_local_out|__ip_local_out|ip_send_check|neigh_\w+|__neigh_\w+|sk_stream_\w+|sk_forced_mem_schedule|__sk_mem_\w+|sk_page_frag_refill|inet_sendmsg|sock_sendmsg\w*|__sys_sendto|sock_write_iter|__sock_sendmsg)$/;
const MEMORY =
  /^(kmem_cache_\w+|kfree\w*|__kmalloc\w*|kmalloc\w*|__alloc_skb|alloc_skb\w*|__build_skb\w*|build_skb\w*|skb_release_\w+|__kfree_skb\w*|kfree_skb\w*|sk_skb_reason_drop|consume_skb|napi_consume_skb|skb_free_head|__skb_clone|skb_clone|pskb_expand_head|__pskb_pull_tail|skb_attempt_defer_free|__slab_free|slab_\w+|___slab_alloc|__alloc_pages\w*|__alloc_frozen_pages\w*|alloc_pages\w*|get_page_from_freelist|free_unref_\w+|__free_pages\w*|free_frozen_pages|__free_frozen_pages|page_frag_\w+|__page_frag_\w+|skb_page_frag_refill|__put_page|put_page|__folio_put|folio_\w+|clear_page\w*|rmqueue\w*|__rmqueue\w*|memcg_\w+|mem_cgroup_\w+|__mod_memcg\w*|obj_cgroup_\w+|refill_obj_stock|__memcg_\w+|skb_free_frag|kmalloc_reserve|kmalloc_size_roundup)$/;
// Without a hardware PMU (this VM) perf samples on a timer interrupt: a tick
// that falls while interrupts are off is taken where they are enabled again.
const IRQ_ON = /^(_raw_spin_unlock_irqrestore|_raw_spin_unlock_irq|_raw_spin_unlock_bh|handle_softirqs|__do_softirq|__local_bh_enable_ip|local_bh_enable|irq_exit_rcu|__irq_exit_rcu|native_irq_enable|arch_local_irq_restore)$/;
const SCHED =
  /^(schedule\w*|__schedule|finish_task_switch\w*|try_to_wake_up|ttwu_\w+|pick_next_\w+|__pick_next_\w+|enqueue_task\w*|dequeue_task\w*|enqueue_entity|dequeue_entity|update_curr\w*|update_load_avg|__update_load_avg\w*|__wake_up\w*|autoremove_wake_function|woken_wake_function|sock_def_readable|sock_def_write_space|sk_wait_data|wait_woken|__switch_to\w*|switch_mm\w*|psi_\w+|select_task_rq\w*|set_next_entity|put_prev_\w+|resched_curr|check_preempt\w*|wakeup_preempt\w*|raw_spin_rq_\w+|native_queued_spin_lock_slowpath|queued_spin_lock_slowpath|ep_poll_callback|__x64_sys_select|do_select|core_sys_select|pselect\w*)$/;

/** Is any frame of the chain one of these? */
function chainHas(stack: readonly Frame[], names: ReadonlySet<string>): boolean {
  for (const f of stack) if (names.has(f.sym)) return true;
  return false;
}

const RECV_CALLS = new Set(['tcp_recvmsg', 'tcp_recvmsg_locked', 'skb_copy_datagram_iter', 'sock_recvmsg', 'inet_recvmsg', '__sys_recvfrom', 'sock_read_iter']);
const SEND_CALLS = new Set(['tcp_sendmsg', 'tcp_sendmsg_locked', 'sock_sendmsg', '__sock_sendmsg', 'inet_sendmsg', '__sys_sendto', 'sock_write_iter', 'skb_do_copy_data_nocache']);

/** The bucket of a sample: by its leaf's name, the copies by their caller. */
export function bucketOf(s: PerfSample): BucketId {
  const leaf = s.stack[0];
  if (!leaf) return 'otherKernel';
  if (!leaf.kernel) return 'user';
  // GCC's clones keep their function's bucket: finish_task_switch.isra.0
  const sym = leaf.sym.replace(/(\.(isra|constprop|part|cold|lto_priv|llvm)(\.\d+)?)+$/, '');
  if (IDLE.test(sym)) return 'idle';
  if (IRQ_ON.test(sym)) return 'irqOn';
  if (COPY.test(sym)) {
    if (/to_(user|iter)|copyout|datagram/.test(sym) || chainHas(s.stack, RECV_CALLS)) return 'copyToUser';
    if (/from_(user|iter)|copyin|nocache/.test(sym) || chainHas(s.stack, SEND_CALLS)) return 'copyFromUser';
    return 'otherKernel';
  }
  if (BPF.test(sym)) return 'bpf';
  if (BRIDGE.test(sym)) return 'bridge';
  if (TCP_RX.test(sym)) return 'tcpRx';
  if (TCP_TX.test(sym)) return 'tcpTx';
  if (BACKLOG.test(sym)) return 'backlog';
  if (MEMORY.test(sym)) return 'memory';
  if (SCHED.test(sym)) return 'sched';
  return 'otherKernel';
}

// ---- per CPU: softirq, the receiver ----

const SOFTIRQ = new Set(['handle_softirqs', '__do_softirq', 'do_softirq', 'net_rx_action', '__irq_exit_rcu', 'irq_exit_rcu', 'run_ksoftirqd']);
/** The receiving side's TCP: the data segment queued, or the reader's recvmsg (an ACK-only segment at the sender goes through tcp_ack and none of these). */
const RECEIVER = new Set(['tcp_recvmsg', 'tcp_recvmsg_locked', 'tcp_queue_rcv', 'tcp_data_queue', 'tcp_ofo_queue', 'tcp_data_queue_ofo', 'tcp_event_data_recv', 'skb_copy_datagram_iter']);

export interface CpuProfile {
  /** share of the whole profile's samples on this CPU, % */
  pct: number;
  /** of this CPU's samples, % */
  idle: number;
  /** under a softirq (handle_softirqs / net_rx_action anywhere in the chain), % */
  softirq: number;
  /** the receiver's TCP work (data queued, recvmsg, copy to user) in any context, % */
  receiver: number;
  /** … of which in softirq, % */
  receiverSoftirq: number;
  buckets: Record<BucketId, number>;
  /** the commands whose context the samples interrupted, with their share of this CPU, % (≥ 1 %) */
  comms: Array<{ comm: string; pct: number }>;
}

export interface PerfSummary {
  samples: number;
  /** the most frequent kernel leaves (eBPF programs included), % of all samples */
  top: Array<{ sym: string; pct: number }>;
  /** % of all samples */
  buckets: Record<BucketId, number>;
  perCpu: Record<string, CpuProfile>;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function emptyBuckets(): Record<BucketId, number> {
  return Object.fromEntries(BUCKETS.map((b) => [b, 0])) as Record<BucketId, number>;
}

/** The shares of a window's samples: top kernel symbols, buckets, and per CPU. */
export function summarizePerf(samples: readonly PerfSample[], topN = 25): PerfSummary {
  const total = samples.reduce((x, s) => x + s.period, 0);
  const bySym = new Map<string, number>();
  const buckets = emptyBuckets();
  const cpus = new Map<number, { w: number; idle: number; softirq: number; receiver: number; receiverSoftirq: number; buckets: Record<BucketId, number>; comms: Map<string, number> }>();
  for (const s of samples) {
    const w = s.period;
    const b = bucketOf(s);
    buckets[b] += w;
    const leaf = s.stack[0];
    if (leaf?.kernel) bySym.set(leaf.sym, (bySym.get(leaf.sym) ?? 0) + w);
    let c = cpus.get(s.cpu);
    if (!c) cpus.set(s.cpu, (c = { w: 0, idle: 0, softirq: 0, receiver: 0, receiverSoftirq: 0, buckets: emptyBuckets(), comms: new Map() }));
    c.w += w;
    c.buckets[b] += w;
    if (b === 'idle') c.idle += w;
    const inSoftirq = chainHas(s.stack, SOFTIRQ);
    if (inSoftirq) c.softirq += w;
    if (b === 'copyToUser' || chainHas(s.stack, RECEIVER)) {
      c.receiver += w;
      if (inSoftirq) c.receiverSoftirq += w;
    }
    c.comms.set(s.comm, (c.comms.get(s.comm) ?? 0) + w);
  }
  const pctOf = (x: number, of: number): number => (of > 0 ? round2((100 * x) / of) : 0);
  const top = [...bySym.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, topN)
    .map(([sym, w]) => ({ sym, pct: pctOf(w, total) }));
  const perCpu: Record<string, CpuProfile> = {};
  for (const [cpu, c] of [...cpus.entries()].sort((a, b) => a[0] - b[0])) {
    perCpu[`cpu${cpu}`] = {
      pct: pctOf(c.w, total),
      idle: pctOf(c.idle, c.w),
      softirq: pctOf(c.softirq, c.w),
      receiver: pctOf(c.receiver, c.w),
      receiverSoftirq: pctOf(c.receiverSoftirq, c.w),
      buckets: Object.fromEntries(BUCKETS.map((b) => [b, pctOf(c.buckets[b], c.w)])) as Record<BucketId, number>,
      comms: [...c.comms.entries()]
        .map(([comm, w]) => ({ comm, pct: pctOf(w, c.w) }))
        .filter((x) => x.pct >= 1)
        .sort((a, b) => b.pct - a.pct),
    };
  }
  return {
    samples: samples.length,
    top,
    buckets: Object.fromEntries(BUCKETS.map((b) => [b, pctOf(buckets[b], total)])) as Record<BucketId, number>,
    perCpu,
  };
}

/** The chains as folded stacks (root first, `;`-joined, a count per line): flame graph tools' input. */
export function foldedStacks(samples: readonly PerfSample[]): string {
  const counts = new Map<string, number>();
  for (const s of samples) {
    const key = [s.comm, ...s.stack.map((f) => f.sym).reverse()].join(';');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join('\n');
}

// ---- the comparison across switches ----

/** One profiled window: what the summary needs to print it. */
export interface ProfiledWindow {
  switch: string;
  /** the TCP case (tcp1, tcp4, tcp1.rev, tcp4.rev) and its label */
  caseId: string;
  caseLabel: string;
  summary: PerfSummary;
  /** /proc/stat over perf's recording, per CPU, % of the window */
  cpuSplit?: Record<string, { softirq: number; idle: number; system: number; user: number }>;
  /** the same offsets of the same case in the compared (unprofiled) rounds, mean over them, per CPU */
  unprofiledCpuSplit?: Record<string, { softirq: number; idle: number; system: number; user: number }>;
  /** what the profiled window's iperf3 gave (perturbed by perf: not a figure to compare) */
  gbps?: number;
  retransmits?: number;
}

const num = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1));

/**
 * The short comparison: a row per bucket and per CPU figure, a column per
 * switch and TCP case (the cases' switches side by side), % of samples.
 */
export function perfComparisonTable(ws: readonly ProfiledWindow[], shortCase: (id: string) => string): string {
  const cols = [...ws]; // in the caller's order: each case's switches side by side
  if (cols.length === 0) return '';
  const head = `| % of the window's samples | ${cols.map((w) => `${w.switch} ${shortCase(w.caseId)}`).join(' | ')} |`;
  const sep = `|---|${cols.map(() => '---:').join('|')}|`;
  const rows: string[] = [];
  for (const b of BUCKETS) rows.push(`| ${BUCKET_LABELS[b]} | ${cols.map((w) => num(w.summary.buckets[b])).join(' | ')} |`);
  const cpuIds = [...new Set(cols.flatMap((w) => Object.keys(w.summary.perCpu)))].sort();
  for (const cpu of cpuIds) {
    rows.push(`| ${cpu}: softirq (perf: a softirq in the chain), % of ${cpu} | ${cols.map((w) => num(w.summary.perCpu[cpu]?.softirq)).join(' | ')} |`);
    rows.push(`| ${cpu}: softirq (/proc/stat, profiled window), % of ${cpu} | ${cols.map((w) => num(w.cpuSplit?.[cpu]?.softirq)).join(' | ')} |`);
    if (cols.some((w) => w.unprofiledCpuSplit))
      rows.push(`| ${cpu}: softirq (/proc/stat, compared rounds, mean), % of ${cpu} | ${cols.map((w) => num(w.unprofiledCpuSplit?.[cpu]?.softirq)).join(' | ')} |`);
    rows.push(`| ${cpu}: receiver's TCP work (all / in softirq), % of ${cpu} | ${cols.map((w) => `${num(w.summary.perCpu[cpu]?.receiver)} / ${num(w.summary.perCpu[cpu]?.receiverSoftirq)}`).join(' | ')} |`);
    rows.push(`| ${cpu}: idle (perf), % of ${cpu} | ${cols.map((w) => num(w.summary.perCpu[cpu]?.idle)).join(' | ')} |`);
  }
  rows.push(`| samples | ${cols.map((w) => String(w.summary.samples)).join(' | ')} |`);
  rows.push(`| profiled window's Gbit/s, retransmits (perf running: not compared) | ${cols.map((w) => `${num(w.gbps)}, ${w.retransmits ?? '—'}`).join(' | ')} |`);
  return [head, sep, ...rows].join('\n');
}

/** The readable file: the comparison, then each window's top symbols and its CPUs. */
export function perfText(ws: readonly ProfiledWindow[], shortCase: (id: string) => string, intro: string): string {
  const out: string[] = [intro, '', perfComparisonTable(ws, shortCase), ''];
  for (const w of ws) {
    out.push(`## ${w.switch}, ${w.caseLabel}: ${w.summary.samples} samples`, '');
    out.push('top kernel symbols (self, % of all samples):');
    for (const t of w.summary.top) out.push(`  ${t.pct.toFixed(2).padStart(6)} %  ${t.sym}`);
    out.push('', 'per CPU (% of that CPU):');
    for (const [cpu, c] of Object.entries(w.summary.perCpu)) {
      const split = w.cpuSplit?.[cpu];
      out.push(
        `  ${cpu}: ${c.pct.toFixed(1)} % of the samples; idle ${c.idle.toFixed(1)}, softirq ${c.softirq.toFixed(1)}` +
          `${split ? ` (/proc/stat: softirq ${split.softirq}, system ${split.system}, user ${split.user}, idle ${split.idle})` : ''}` +
          `, receiver ${c.receiver.toFixed(1)} (in softirq ${c.receiverSoftirq.toFixed(1)})`,
      );
      out.push(`    buckets: ${BUCKETS.filter((b) => c.buckets[b] >= 0.5).map((b) => `${b} ${c.buckets[b].toFixed(1)}`).join(', ')}`);
      out.push(`    interrupted: ${c.comms.map((x) => `${x.comm} ${x.pct.toFixed(1)}`).join(', ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}
