// --fdb-port-limit on a real switch: one host floods 1,000 source MACs, its
// port keeps at most the limit, the refusals are counted in `vswconfig stats`,
// and two other hosts still reach each other and are learned.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fdbEntries, type Host, Lab, portStats, waitUntil } from '../helpers/lab.js';

const LIMIT = 100;
const BURST = 1000;
/** IEEE 802 local experimental ethertype: nothing in the hosts' stacks answers it. */
const EXP = 0x88b5;

const lab = new Lab();
let A: Host, B: Host, C: Host;

before(async () => {
  [A, B, C] = [1, 2, 3].map((n) => lab.addHost(n));
  await lab.startSwitch(['--fdb-port-limit', String(LIMIT)]);
  for (const h of lab.hosts) lab.ok('add', h.port);
});

after(async () => {
  await lab.cleanup();
});

/** The `fdb refused N` counter of `vswconfig stats`. */
function refused(): number {
  const r = lab.vswconfig('stats');
  assert.equal(r.code, 0, r.stderr);
  const m = /^fdb refused (\d+)$/m.exec(r.stdout);
  assert.ok(m, `no 'fdb refused' line in:\n${r.stdout}`);
  return Number(m[1]);
}

test(`--fdb-port-limit ${LIMIT}: a burst of ${BURST} source MACs leaves at most ${LIMIT} entries on that port; other hosts still ping and are learned`, async () => {
  const rxBefore = portStats(lab).get(A.port)!.rxFrames;
  // 02:aa:00:00:hh:ll, i = 0..999: distinct locally administered unicast sources, to a MAC nobody has.
  lab.sendFrames(
    A.ns,
    A.ifname,
    `[Ether(src='02:aa:00:00:%02x:%02x' % (i >> 8, i & 255), dst='02:de:ad:00:be:ef', type=${EXP})/Raw(b'x'*46) for i in range(${BURST})]`,
  );
  // The burst has been handled once the switch counted it all (or nearly: the kernel may drop a few from a full ring).
  const handled = await waitUntil(() => portStats(lab).get(A.port)!.rxFrames - rxBefore >= BURST * 0.9, 10_000, 100);
  assert.ok(handled, `only ${portStats(lab).get(A.port)!.rxFrames - rxBefore} of ${BURST} frames reached the switch`);

  const onA = fdbEntries(lab).filter((e) => e.port === A.port);
  assert.ok(onA.length <= LIMIT, `${onA.length} entries on ${A.port}`);
  assert.equal(onA.length, LIMIT, 'the port learned up to its limit');
  assert.ok(refused() >= BURST * 0.9 - LIMIT, `fdb refused ${refused()}`);

  assert.ok(lab.ping(B, C.ip), 'B pings C');
  const entries = fdbEntries(lab);
  assert.ok(entries.some((e) => e.mac === B.mac && e.port === B.port), `B learned on its port: ${JSON.stringify(entries.filter((e) => e.port !== A.port))}`);
  assert.ok(entries.some((e) => e.mac === C.mac && e.port === C.port), `C learned on its port: ${JSON.stringify(entries.filter((e) => e.port !== A.port))}`);
  assert.equal(entries.filter((e) => e.port === A.port).length, LIMIT, 'still the limit on the flooding port');
});
