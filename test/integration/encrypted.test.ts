// The encrypted set-up of scripts/construct-encrypted-hosts.sh, run with names
// unique to the run (VSW_PREFIX: its namespaces, WireGuard interfaces and state
// directory) and this run's datapath, and removed by its destruct- twin (also
// from after(), so that a failure leaves nothing either).
//
// - construct: each host's WireGuard peer is the other's underlay address, the
//   tunnel rides on the WireGuard interface at MTU 1500 - 60 - 50 = 1390;
// - tenants ping both ways, a 1390-byte packet crosses, TCP (iperf3) runs across;
// - during that traffic, the underlay link carries only WireGuard's UDP between
//   the underlay addresses (and ARP): no VXLAN, no tenant address or MAC in the
//   `tcpdump -nn -e` lines, and none of their bytes (tenant MACs, a tenant's
//   address pair, the VXLAN header) anywhere in the captured packets; the same
//   byte search finds them all on the WireGuard interface, where they are clear;
// - destruct leaves no namespace, process, WireGuard socket or state, and is
//   idempotent.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Capture, Lab, ROOT, TEST_DATAPATH, assertOk, run, waitUntil, type RunResult } from '../helpers/lab.js';

const lab = new Lab();
const P = lab.prefix;
const STATE = `/run/vswitch/${P}encrypted-hosts`;
const WG_PORT = 51820;
const VNI = 4200;
const UL = { A: '192.168.200.1', B: '192.168.200.2' };
const TENANT = { A1: '10.201.0.11', A2: '10.201.0.12', B1: '10.201.0.21', B2: '10.201.0.22' };
const HOST = { A: `${P}HOSTA`, B: `${P}HOSTB` };
const WG = { A: `${P}wgA`, B: `${P}wgB` };
const wgSocket = (name: string): string => `/var/run/wireguard/${name}.sock`;
const tenantNs = (t: keyof typeof TENANT): string => `${P}T${t}`;

function script(name: string, args: string[] = []): RunResult {
  const r = spawnSync('bash', [join(ROOT, 'scripts', name), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, VSW_PREFIX: P },
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

after(async () => {
  script('destruct-encrypted-hosts.sh');
  await lab.cleanup();
});

function ping(from: keyof typeof TENANT, to: keyof typeof TENANT, args: string[] = []): boolean {
  return run('ip', ['netns', 'exec', tenantNs(from), 'ping', '-c', '1', '-W', '2', ...args, TENANT[to]]).code === 0;
}

function mac(ns: string, ifname: string): string {
  return lab.inNs(ns, `cat /sys/class/net/${ifname}/address`).trim();
}

/**
 * tcpdump writing the first 160 bytes of each packet (every header a VXLAN-in-IPv4 tenant packet
 * has) to a file; in immediate mode, so that stopping it loses no packet still in its buffer.
 */
async function captureToFile(ns: string, ifname: string, file: string, extra: string[] = []): Promise<Capture> {
  const cap = new Capture(lab.spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', ifname, '-s', '160', '--immediate-mode', '-U', '-w', file, ...extra]));
  await cap.listening();
  return cap;
}

/** What is wrong with a `tcpdump -nn -e` line of the underlay, or null when it is WireGuard's UDP between the hosts or ARP. */
function underlayLineProblem(line: string, underlayMacs: readonly string[]): string | null {
  const macs = line.match(/\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b/g) ?? [];
  const strange = macs.find((m) => !underlayMacs.includes(m) && m !== 'ff:ff:ff:ff:ff:ff');
  if (strange) return `MAC ${strange}`;
  for (const m of line.matchAll(/\b(\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?\b/g)) {
    if (m[1] !== UL.A && m[1] !== UL.B) return `address ${m[1]}`;
    if (m[2] !== undefined && Number(m[2]) !== WG_PORT) return `port ${m[2]}`;
  }
  if (/ethertype ARP \(0x0806\)/.test(line)) return null;
  const udp = new RegExp(`ethertype IPv4 \\(0x0800\\), length \\d+: [\\d.]+\\.${WG_PORT} > [\\d.]+\\.${WG_PORT}: UDP, length \\d+$`);
  return udp.test(line) ? null : 'not WireGuard UDP';
}

const macBytes = (m: string): Buffer => Buffer.from(m.replace(/:/g, ''), 'hex');
const ipBytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));

describe('encrypted hosts (construct-encrypted-hosts.sh): VXLAN between two vswitchd inside WireGuard', () => {
  const pcapUnderlay = join(lab.dir, 'underlay.pcap');
  const pcapWg = join(lab.dir, 'wg.pcap');
  let underlayCap: Capture | undefined;
  let wgCap: Capture | undefined;

  it('construct builds both hosts and a tenant on A pings one on B (exit 0)', () => {
    const r = script('construct-encrypted-hosts.sh', TEST_DATAPATH === '' ? [] : ['--datapath', TEST_DATAPATH]);
    assertOk(r, `construct-encrypted-hosts.sh\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`^# ping ${tenantNs('A1')} -> ${TENANT.B1}: answered$`, 'm'));
  });

  it("each WireGuard interface has the other host's underlay address as its peer's endpoint; the tunnel rides on it at MTU 1390", () => {
    for (const [h, o] of [['A', 'B'], ['B', 'A']] as const) {
      assert.match(lab.sh(`wg show ${WG[h]} endpoints`), new RegExp(`\t${UL[o]}:${WG_PORT}\n$`));
      assert.match(lab.sh(`wg show ${WG[h]} allowed-ips`), new RegExp(`\t10\\.200\\.0\\.${o === 'A' ? 1 : 2}/32\n$`));
      assert.match(lab.inNs(HOST[h], `ip link show ${WG[h]}`), / mtu 1440 /);
      const show = run(join(ROOT, 'bin', 'vswconfig'), ['--socket', `${STATE}/HOST${h}.sock`, 'tunnel', 'show']);
      assertOk(show, 'tunnel show');
      assert.match(show.stdout, new RegExp(`^vx0 +${VNI} +10\\.200\\.0\\.${h === 'A' ? 1 : 2} +10\\.200\\.0\\.${o === 'A' ? 1 : 2} +4789 +${WG[h]} +1390 `, 'm'));
    }
  });

  it('tenants ping both ways, and a 1390-byte packet crosses', async () => {
    underlayCap = await captureToFile(HOST.A, 'ul0', pcapUnderlay);
    wgCap = await captureToFile(HOST.A, WG.A, pcapWg, ['-c', '200']);
    for (const [a, b] of [['A1', 'B1'], ['B1', 'A1'], ['A2', 'B2'], ['B2', 'A2'], ['A1', 'B2']] as const) {
      assert.ok(ping(a, b), `${a} → ${b}`);
    }
    assert.ok(ping('A1', 'B1', ['-s', String(1390 - 28), '-M', 'do']), 'A1 → B1, 1390-byte packet');
    await wgCap.stop();
  });

  it('TCP runs across (iperf3, 2 s)', async () => {
    const server = lab.spawn('ip', ['netns', 'exec', tenantNs('B1'), 'iperf3', '-s', '-p', '5201']);
    assert.ok(await waitUntil(() => lab.inNs(tenantNs('B1'), 'ss -Hltn sport = :5201').trim() !== '', 10_000), 'iperf3 server did not start');
    const r = run('ip', ['netns', 'exec', tenantNs('A1'), 'iperf3', '-c', TENANT.B1, '-p', '5201', '-t', '2', '-J']);
    server.kill('SIGKILL');
    assertOk(r, 'iperf3');
    const bytes = (JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
    assert.ok(bytes > 1_000_000, `only ${bytes} bytes crossed`);
  });

  it("the underlay carried only WireGuard's UDP: no VXLAN, no tenant address or MAC in tcpdump's lines", async () => {
    assert.ok(underlayCap, 'no capture (the ping test failed)');
    await underlayCap.stop();
    const text = join(lab.dir, 'underlay.txt');
    lab.sh(`tcpdump -r ${pcapUnderlay} -nn -e > ${text} 2>/dev/null`);
    const lines = readFileSync(text, 'utf8').split('\n').filter((l) => l !== '');
    const underlayMacs = [mac(HOST.A, 'ul0'), mac(HOST.B, 'ul0')];
    const bad = lines.map((l) => [l, underlayLineProblem(l, underlayMacs)] as const).filter(([, p]) => p !== null);
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of ${lines.length} lines are not WireGuard`);
    // The pings and TCP crossed this link (as WireGuard).
    assert.ok(lines.filter((l) => / UDP, length /.test(l)).length > 1000, `only ${lines.length} lines captured`);
    assert.ok(!lines.some((l) => /\.4789[: ]|VXLAN/.test(l.replace(/^\S+ /, ''))), 'a VXLAN packet on the underlay');
  });

  it("none of the tenants' bytes are on the underlay, where the WireGuard interface shows them clear", () => {
    const underlay = readFileSync(pcapUnderlay);
    const clear = readFileSync(pcapWg);
    const vxlanHeader = Buffer.from([0x08, 0, 0, 0, (VNI >> 16) & 0xff, (VNI >> 8) & 0xff, VNI & 0xff, 0]);
    const needles: [string, Buffer][] = [
      ['the VXLAN header', vxlanHeader],
      ...(['A1', 'B1'] as const).map((t): [string, Buffer] => [`tenant ${t}'s MAC`, macBytes(mac(tenantNs(t), 'eth0'))]),
      ['the addresses A1 > B1', Buffer.concat([ipBytes(TENANT.A1), ipBytes(TENANT.B1)])],
      ['the addresses B1 > A1', Buffer.concat([ipBytes(TENANT.B1), ipBytes(TENANT.A1)])],
    ];
    for (const [what, bytes] of needles) {
      assert.equal(underlay.indexOf(bytes), -1, `${what} in cleartext on the underlay`);
      assert.ok(clear.includes(bytes), `${what} not found on ${WG.A}: the search cannot see cleartext`);
    }
  });

  it('destruct removes every namespace, process, WireGuard socket and the state; a second run does nothing', () => {
    const pids = [`${STATE}/HOSTA.sock.pid`, `${STATE}/HOSTB.sock.pid`, `${STATE}/${WG.A}.pid`, `${STATE}/${WG.B}.pid`].map((f) => Number(readFileSync(f, 'utf8')));
    const alive = (pid: number): boolean => existsSync(`/proc/${pid}/stat`) && !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    assert.ok(pids.every(alive), `not all of ${pids.join(' ')} run before destruct`);
    assertOk(script('destruct-encrypted-hosts.sh'), 'destruct-encrypted-hosts.sh');
    assert.deepEqual(pids.filter(alive), [], 'processes left');
    const namespaces = lab.sh('ip netns list').split('\n').filter((l) => l.startsWith(P));
    assert.deepEqual(namespaces, [], 'namespaces left');
    assert.equal(existsSync(wgSocket(WG.A)) || existsSync(wgSocket(WG.B)), false, 'a WireGuard socket is left');
    assert.equal(existsSync(STATE), false, `${STATE} is left`);
    const again = script('destruct-encrypted-hosts.sh');
    assertOk(again, 'destruct-encrypted-hosts.sh, again');
    assert.equal(again.stdout + again.stderr, '');
  });
});
