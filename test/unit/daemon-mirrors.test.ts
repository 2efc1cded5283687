// The rules a new mirror keeps with the others (src/daemon/mirror-rules.ts), and
// what a port leaving the switch does to the mirrors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIRROR_MAX, mirrorTable } from '../../src/core/mirror.js';
import { type Mirror, mirrorConflict, mirrorsWithoutPort, selectsNothing } from '../../src/daemon/mirror-rules.js';

const name = (s: number): string => `p${s}`;
const m = (x: Partial<Mirror> & Pick<Mirror, 'name' | 'output'>): Mirror => ({
  selectAll: false,
  selectIngress: [],
  selectEgress: [],
  selectVlans: null,
  leftIngress: [],
  leftEgress: [],
  ...x,
});
const span = m({ name: 'span', output: 4, selectIngress: [1], selectEgress: [2] });

test('mirrors: a mirror that keeps the rules is accepted', () => {
  assert.equal(mirrorConflict(m({ name: 'b', output: 5, selectIngress: [1, 2, 3] }), [span], name), null);
});

test('mirrors: each broken rule is named', () => {
  const cases: Array<[Mirror, string]> = [
    [m({ name: 'span', output: 5 }), 'mirror span exists'],
    [m({ name: 'b', output: 4 }), 'p4 is already the output of mirror span'],
    [m({ name: 'b', output: 1 }), 'p1 is selected by mirror span: it cannot be an output'],
    [m({ name: 'b', output: 2 }), 'p2 is selected by mirror span: it cannot be an output'],
    [m({ name: 'b', output: 5, selectEgress: [4] }), 'p4 is the output of mirror span: it cannot be selected'],
    [m({ name: 'b', output: 5, selectIngress: [5] }), 'p5 cannot be both the output of mirror b and selected by it'],
  ];
  for (const [mirror, problem] of cases) assert.equal(mirrorConflict(mirror, [span], name), problem);
  const full = Array.from({ length: MIRROR_MAX }, (_, k) => m({ name: `m${k}`, output: 100 + k }));
  assert.equal(mirrorConflict(m({ name: 'one-more', output: 5 }), full, name), `the switch holds at most ${MIRROR_MAX} mirrors`);
});

test('mirrors: a port leaving takes itself out of every selection (named as left), and the mirror whose output it was goes', () => {
  const other = m({ name: 'b', output: 5, selectIngress: [1, 4 + 10], selectEgress: [1] });
  assert.deepEqual(mirrorsWithoutPort([span, other], 1, 'p1'), {
    kept: [
      m({ name: 'span', output: 4, selectEgress: [2], leftIngress: ['p1'] }),
      m({ name: 'b', output: 5, selectIngress: [14], leftIngress: ['p1'], leftEgress: ['p1'] }),
    ],
    dropped: [],
    emptied: [],
  });
  assert.deepEqual(mirrorsWithoutPort([span, other], 4, 'p4'), { kept: [other], dropped: ['span'], emptied: [] });
});

test('mirrors: a selection that empties selects nothing, never every frame; a mirror of every frame stays so', () => {
  const one = m({ name: 'one', output: 5, selectIngress: [1] });
  const all = m({ name: 'all', output: 6, selectAll: true });
  const { kept, emptied } = mirrorsWithoutPort([one, all], 1, 'p1');
  assert.deepEqual(emptied, ['one']);
  assert.deepEqual(kept[0], m({ name: 'one', output: 5, leftIngress: ['p1'] }));
  assert.ok(selectsNothing(kept[0]!) && !kept[0]!.selectAll);
  assert.deepEqual(kept[1], all);
  const t = mirrorTable(kept, 8);
  for (let p = 0; p < 8; p++) {
    assert.equal(t.ingressMask[p]! & 1, 0, `port ${p}: the emptied mirror selects no ingress`);
    assert.equal(t.egressMask[p]! & 1, 0, `port ${p}: nor egress`);
    assert.equal((t.ingressMask[p]! >> 1) & 1, p === 5 || p === 6 ? 0 : 1, `port ${p}: the mirror of every frame still selects it (but mirror outputs)`);
  }
});
