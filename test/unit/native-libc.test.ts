// The few libc calls of the control path that can run without root.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ifIndexToName } from '../../src/native/libc.js';

test('ifIndexToName: index 1 is the loopback of every network namespace; an unused index is null', () => {
  assert.equal(ifIndexToName(1), 'lo');
  assert.equal(ifIndexToName(0x7ffffff0), null);
});
