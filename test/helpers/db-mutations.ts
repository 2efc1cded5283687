// Random mutations of a valid configuration file (--db), for the property
// tests of the file on its own (test/unit/fuzz-db.test.ts) and of vswitchd
// starting on one (test/integration/db.test.ts).

import fc from 'fast-check';

/** A file with every section used: ports in each VLAN mode, rules, a mirror, a tunnel. */
export const VALID_DB = {
  version: 1,
  ports: [
    { ifname: 'veth1', vlan: { mode: 'access', tag: 10, trunks: null } },
    { ifname: 'vx1', vlan: { mode: 'default', tag: 0, trunks: null } },
    { ifname: 'veth2', vlan: { mode: 'native-untagged', tag: 20, trunks: [[10, 10], [100, 199]] } },
    { ifname: 'veth3', vlan: { mode: 'trunk', tag: 0, trunks: null } },
  ],
  acl: {
    nextId: 5,
    rules: [
      { id: 4, priority: 40000, in: 'veth2', src: '02:00:00:00:00:00/ff:ff:ff:00:00:00', dst: null, type: 2054, vlan: 'untagged', action: 'allow' },
      { id: 1, priority: 32768, in: null, src: '02:00:00:00:00:01', dst: null, type: null, vlan: 10, action: 'drop' },
    ],
  },
  mirrors: [{ name: 'span', output: 'veth3', selectIngress: ['veth1'], selectEgress: ['veth2'], selectVlans: [[10, 10]] }],
  tunnels: [{ name: 'vx1', vni: 1000, remotes: ['10.0.0.2'], local: null, dstport: 4789, vlan: null }],
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value in `v`, as lists of keys and indexes. */
function paths(v: Json, at: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

const ALL_PATHS = paths(VALID_DB as unknown as Json).filter((p) => p.length > 0);

/** A value that is wrong almost anywhere: another type, a number out of every range, junk text. */
const junk: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(-1, 0, 0.5, 4095, 4096, 65536, 2 ** 53, -1e300, 1e300, 16777216),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', 'veth1', 'veth9', 'x'.repeat(40), '02:00:00:00:00:01', 'untagged', 'drop', 'bogus', '10.0.0.999', 'fd00::1'),
  fc.constant<Json>([]),
  fc.constant<Json>({}),
  fc.array(fc.integer({ min: -5, max: 5000 }), { maxLength: 3 }),
);

/** One mutation of a deep copy of VALID_DB, applied at `path`. */
type Mutation = { kind: 'set'; value: Json } | { kind: 'delete' } | { kind: 'add' } | { kind: 'duplicate' };

function apply(doc: Json, path: Array<string | number>, m: Mutation): void {
  let parent = doc as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (m.kind === 'set') parent[last] = structuredClone(m.value);
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (m.kind === 'add') {
    if (Array.isArray(parent)) parent.push(structuredClone(parent[last]!));
    else parent[`${String(last)}X`] = 1;
  } else if (Array.isArray(parent)) parent.splice(last as number, 0, structuredClone(parent[last]!));
}

/** A mutated file: one to three tree mutations, then maybe the text cut or a byte changed. */
export const mutatedDb: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.constantFrom(...ALL_PATHS),
        fc.oneof(
          junk.map((value): Mutation => ({ kind: 'set', value })),
          fc.constant<Mutation>({ kind: 'delete' }),
          fc.constant<Mutation>({ kind: 'add' }),
          fc.constant<Mutation>({ kind: 'duplicate' }),
        ),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    fc.oneof(
      fc.constant<null>(null),
      fc.constant<null>(null),
      fc.tuple(fc.constantFrom('cut' as const, 'byte' as const), fc.nat(), fc.integer({ min: 0, max: 255 })),
    ),
  )
  .map(([muts, text]) => {
    const doc = structuredClone(VALID_DB) as unknown as Json;
    for (const [path, m] of muts) {
      try {
        apply(doc, path, m);
      } catch {
        // an earlier mutation removed the path: this one does nothing
      }
    }
    let s = JSON.stringify(doc, null, 2);
    if (text !== null) {
      const [how, at, byte] = text;
      const i = at % Math.max(1, s.length);
      s = how === 'cut' ? s.slice(0, i) : s.slice(0, i) + String.fromCharCode(byte) + s.slice(i + 1);
    }
    return s;
  });
