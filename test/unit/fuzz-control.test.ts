// Property tests of the control socket with fast-check: request lines that
// are wrong by construction — a valid request of each command with one field
// of the wrong type, a huge or fractional number, an unknown field, a field
// left out, nested a thousand deep, cut in the middle of a UTF-8 sequence,
// random bytes, a line of a megabyte — each get exactly one reply, an error
// naming what was wrong (never an internal error), and the switch behind the
// socket (the real Switch and ControlServer over the FakeDatapath) is alive
// and unchanged: no change reached the datapath, `show` lists the same ports.
// fast-check prints the seed on failure; VSWITCH_FUZZ_SEED=N replays it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ask, exchange, startTestSwitch, type TestSwitch } from '../helpers/fake-datapath.js';

const seed = process.env.VSWITCH_FUZZ_SEED === undefined ? undefined : Number(process.env.VSWITCH_FUZZ_SEED);
const RUNS = { numRuns: 200, ...(seed === undefined ? {} : { seed }) };

/** One valid request of each command, against a switch holding port veth1 and nothing else. */
const VALID: Array<Record<string, unknown>> = [
  { cmd: 'add', ifname: 'veth2' },
  { cmd: 'delete', ifname: 'veth1' },
  { cmd: 'show' },
  { cmd: 'fdb' },
  { cmd: 'stats' },
  { cmd: 'vlan', ifname: 'veth1', mode: 'trunk', tag: 0, trunks: [[10, 20]] },
  { cmd: 'acl-add', priority: 100, in: 'veth1', src: '02:00:00:00:00:01', type: 2048, vlan: 10, action: 'drop' },
  { cmd: 'acl-del', rule: 1 },
  { cmd: 'acl-show' },
  { cmd: 'mirror-add', name: 'span', output: 'veth1', selectIngress: ['veth1'], selectVlans: [[1, 5]] },
  { cmd: 'mirror-del', name: 'span' },
  { cmd: 'mirror-show' },
  { cmd: 'trace', in: 'veth1', src: '02:00:00:00:00:01', vlan: 10, type: 2048 },
  { cmd: 'tunnel-add', name: 'vx1', vni: 100, remotes: ['10.0.0.2'], dstport: 4789 },
  { cmd: 'tunnel-del', name: 'vx1' },
  { cmd: 'tunnel-show' },
];

/** A value of another JSON type than `v` (never one the field could take). */
function otherType(key: string, v: unknown): fc.Arbitrary<unknown> {
  const all: fc.Arbitrary<unknown>[] = [
    fc.constant(key === 'trunks' ? false : null), // trunks: null is "every VLAN"
    fc.boolean(),
    fc.object({ maxDepth: 2 }),
    fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  ];
  if (typeof v !== 'string') all.push(fc.string({ maxLength: 20 }).filter((s) => s !== 'untagged'));
  if (typeof v !== 'number') all.push(fc.double({ noNaN: false }));
  return fc.oneof(...all);
}

/** A valid request made wrong in one way; each is a whole line to send, without its newline. */
const wrongText: fc.Arbitrary<string> = fc.oneof(
  // One field of the wrong type (the version and id included).
  fc
    .constantFrom(...VALID)
    .chain((r) => {
      const req = { v: 1, id: 7, ...r };
      const keys = Object.keys(req).filter((k) => k !== 'cmd');
      return fc.constantFrom(...keys).chain((k) => otherType(k, (req as Record<string, unknown>)[k]).map((x) => JSON.stringify({ ...req, [k]: x })));
    }),
  // A number far out of range, negative, or fractional in a numeric field.
  fc
    .constantFrom(...VALID.filter((r) => Object.values(r).some((x) => typeof x === 'number')))
    .chain((r) => {
      const keys = Object.keys(r).filter((k) => typeof r[k] === 'number');
      return fc
        .tuple(fc.constantFrom(...keys), fc.constantFrom(1e300, -1, 2 ** 53 + 2, 0.5, -1e308, 1e21))
        .map(([k, n]) => `{"v":1,"id":7,${JSON.stringify(r).slice(1).replace(`"${k}":${String(r[k])}`, `"${k}":${String(n)}`)}`);
    }),
  // An unknown field, or a required one left out.
  fc.constantFrom(...VALID).map((r) => JSON.stringify({ v: 1, id: 7, ...r, extra: 1 })),
  fc.constantFrom(...VALID).map((r) => JSON.stringify({ v: 1, ...r })),
  fc.constantFrom(...VALID).map((r) => JSON.stringify({ id: 7, ...r })),
  fc.constantFrom(...VALID).map((r) => JSON.stringify({ v: 2, id: 7, ...r })),
  fc.string({ maxLength: 20 }).filter((c) => !VALID.some((r) => r.cmd === c)).map((cmd) => JSON.stringify({ v: 1, id: 7, cmd })),
  // Nested deep, in a field or as the whole line.
  fc.integer({ min: 100, max: 5000 }).map((d) => `{"v":1,"id":7,"cmd":"show","x":${'['.repeat(d)}${']'.repeat(d)}}`),
  fc.integer({ min: 100, max: 5000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
  // Random text.
  fc.string({ maxLength: 200 }).map((s) => s.replace(/\n/g, ' ')),
);

/** The lines to send, as bytes: the above, requests cut short (inside a multibyte character too), random bytes. */
const wrongLine: fc.Arbitrary<Buffer> = fc.oneof(
  wrongText.map((s) => Buffer.from(s, 'utf8')),
  fc.constantFrom(...VALID).chain((r) => {
    const b = Buffer.from(JSON.stringify({ v: 1, id: 7, ...r, name: 'äöü€𝄞' }), 'utf8');
    return fc.integer({ min: 1, max: b.length - 1 }).map((n) => b.subarray(0, n));
  }),
  fc.constant(Buffer.from([...Buffer.from('{"v":1,"id":7,"cmd":"add","ifname":"'), 0xe2, 0x82, 0x22, 0x7d])),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b.map((x) => (x === 10 ? 32 : x)))),
);

function show(b: Buffer): string {
  return JSON.stringify(b.subarray(0, 200).toString('latin1'));
}

let t: TestSwitch;
const CHANGES = new Set(['addPort', 'removePort', 'setVlan', 'setAcl', 'setMirrors']);

describe('fuzz: the control socket', () => {
  before(async () => {
    t = await startTestSwitch();
    await t.sysfs.add('veth1', { ifindex: 41 });
    await t.sysfs.add('veth2', { ifindex: 42 });
    await t.sw.add('veth1');
  });
  after(async () => t.close());

  it('every wrong request line gets one error reply naming the problem; nothing changes and the daemon answers on', async () => {
    const callsBefore = t.datapath.calls.length;
    await fc.assert(
      fc.asyncProperty(wrongLine, async (line) => {
        const r = await exchange(t.path, Buffer.concat([line, Buffer.from('\n')]), { expectReplies: 2, timeoutMs: 1500 });
        assert.equal(r.replies.length, 1, `one reply to ${show(line)}: ${JSON.stringify(r.replies)}`);
        const reply = r.replies[0] as { ok?: boolean; error?: { code?: string; message?: string } };
        assert.equal(reply.ok, false, `an error for ${show(line)}`);
        assert.notEqual(reply.error?.code, 'EINTERNAL', reply.error?.message);
        assert.ok(typeof reply.error?.message === 'string' && reply.error.message.length > 0 && !reply.error.message.includes('\n'), 'one line');
      }),
      RUNS,
    );
    const changes = t.datapath.calls.slice(callsBefore).filter((c) => CHANGES.has(c.op));
    assert.deepEqual(changes, [], 'no change reached the datapath');
    assert.deepEqual((await ask(t.path, { cmd: 'show' })).result, { datapath: 'user', ports: ['veth1'] });
    assert.ok(!t.logs.some((l) => /internal error/.test(l)), t.logs.join('\n'));
  });

  it('a line of a megabyte gets one error reply and the connection is closed; the daemon answers the next client', async () => {
    const huge = `{"v":1,"id":7,"cmd":"add","ifname":"${'x'.repeat(1 << 20)}"}\n`;
    const r = await exchange(t.path, huge, { timeoutMs: 5000 });
    assert.equal(r.replies.length, 1);
    assert.match((r.replies[0] as { error: { message: string } }).error.message, /request line too long/);
    assert.ok(r.closed);
    assert.deepEqual((await ask(t.path, { cmd: 'show' })).result, { datapath: 'user', ports: ['veth1'] });
  });
});
