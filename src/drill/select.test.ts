import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JournalRecord } from '../journal/record.js';
import type { Snapshot } from '../repo/snapshot.js';
import { drillSchemaName } from './record.js';
import { drillCount, pickRepository, pickSnapshot, sampleFiles, seededUnit } from './select.js';

function drill(dataset: string, simulated = false): JournalRecord {
  return {
    operation: 'drill',
    dataset,
    started_at: '2026-01-01T00:00:00.000Z',
    details: { schema: drillSchemaName, simulated },
  } as unknown as JournalRecord;
}

const snaps = Array.from({ length: 12 }, (_, i) => ({
  id: `${String(i).padStart(2, '0')}${'a'.repeat(62)}`,
  time: `2026-01-${String(i + 1).padStart(2, '0')}T00:00:00Z`,
  tree: 't',
  paths: ['/data'],
})) as Snapshot[];

test('the repository rotates through the copies by the count of real drills; simulated ones do not count', () => {
  const copies = ['local', 'offsite'];
  const records = [drill('files'), drill('files', true), drill('db')];
  assert.equal(drillCount(records, 'files'), 1);
  assert.equal(pickRepository(copies, 0).name, 'local');
  assert.equal(pickRepository(copies, drillCount(records, 'files')).name, 'offsite');
  assert.equal(pickRepository(copies, 2).name, 'local');
  assert.deepEqual(pickRepository(copies, 0, 'offsite'), { name: 'offsite', method: 'named' });
  assert.throws(() => pickRepository(copies, 0, 'tape'), /holds no copy of the dataset/);
});

test('a seeded random snapshot is reproducible, and different seeds spread over the population', () => {
  const a = pickSnapshot(snaps, 'random', 'c0ffee');
  assert.equal(pickSnapshot(snaps, 'random', 'c0ffee').id, a.id);
  const seen = new Set(Array.from({ length: 40 }, (_, i) => pickSnapshot(snaps, 'random', `seed${i}`).id));
  assert.ok(seen.size > 3);
  assert.equal(pickSnapshot(snaps, 'latest', 'x').id, snaps[11]!.id);
  assert.equal(pickSnapshot(snaps, 'named', 'x', '03').id, snaps[3]!.id);
  assert.throws(() => pickSnapshot(snaps, 'named', 'x', 'ff'), /no snapshot ff/);
  assert.throws(() => pickSnapshot([], 'latest', 'x'), /no snapshot of the dataset/);
});

test('a sample takes the share asked for, at least one file, the same for the same seed in any order', () => {
  const paths = Array.from({ length: 50 }, (_, i) => Buffer.from(`/data/f${i}`));
  const s = sampleFiles(paths, 10, 'abc');
  assert.equal(s.size, 5);
  assert.deepEqual([...sampleFiles([...paths].reverse(), 10, 'abc')].sort(), [...s].sort());
  assert.notDeepEqual([...sampleFiles(paths, 10, 'abd')].sort(), [...s].sort());
  assert.equal(sampleFiles(paths.slice(0, 3), 1, 'abc').size, 1);
  assert.equal(sampleFiles([], 50, 'abc').size, 0);
  const u = seededUnit('s', 'k');
  assert.ok(u >= 0 && u < 1);
});
