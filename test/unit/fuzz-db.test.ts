// Property test of the configuration file (--db) with fast-check: a valid
// file mutated at random — a value anywhere replaced by one of another type or
// out of range, a key removed or added, an entry duplicated, the text cut or
// a byte flipped — either still loads (the mutation kept it valid) or is
// refused with a DbError of one line, `PATH: field: problem` where a field is
// to blame. Nothing else is ever thrown. fast-check prints the seed on
// failure; VSWITCH_FUZZ_SEED=N replays it. (test/integration/db.test.ts runs
// vswitchd itself on mutated files.)

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { Db, DbError } from '../../src/daemon/db.js';
import { mutatedDb, VALID_DB } from '../helpers/db-mutations.js';

const seed = process.env.VSWITCH_FUZZ_SEED === undefined ? undefined : Number(process.env.VSWITCH_FUZZ_SEED);
const RUNS = { numRuns: 400, ...(seed === undefined ? {} : { seed }) };
const dir = mkdtempSync(join(tmpdir(), 'vsw-fuzz-db-'));
const path = join(dir, 'db.json');

describe('fuzz: the configuration file', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the valid file loads', () => {
    writeFileSync(path, JSON.stringify(VALID_DB));
    new Db(path).load();
  });

  it('a mutated file loads or is refused with one line naming the file (and the field); nothing else is thrown', () => {
    let refused = 0;
    fc.assert(
      fc.property(mutatedDb, (text) => {
        writeFileSync(path, text);
        try {
          new Db(path).load();
        } catch (err) {
          assert.ok(err instanceof DbError, `not a DbError: ${(err as Error)?.stack ?? String(err)}`);
          assert.ok(err.message.startsWith(`${path}: `) && !err.message.includes('\n'), err.message);
          // A field to blame is named by its path, as ports[1].vlan.tag.
          assert.match(err.problem, /^(not valid JSON|not a JSON object|cannot read|([A-Za-z_]\w*|\[\d+\]|\["([^"\\]|\\.)*"\]|\.[A-Za-z_]\w*)+: )/, err.message);
          refused++;
        }
      }),
      RUNS,
    );
    assert.ok(refused > RUNS.numRuns / 2, `most mutations are refused (${refused})`);
  });
});
