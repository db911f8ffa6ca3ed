import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JournalRecord } from '../journal/record.js';
import type { Snapshot } from '../repo/snapshot.js';
import { drillSchemaName } from './record.js';
import { copyDrillTimes, pickRepository, pickSnapshot, sampleFiles, seededUnit } from './select.js';

function drill(
  dataset: string,
  repo: string,
  started: string,
  fields: { simulated?: boolean; result?: string } = {},
): JournalRecord {
  return {
    operation: 'drill',
    dataset,
    result: fields.result ?? 'success',
    started_at: started,
    details: {
      schema: drillSchemaName,
      simulated: fields.simulated ?? false,
      selection: { repository_name: repo },
    },
  } as unknown as JournalRecord;
}

const snaps = Array.from({ length: 12 }, (_, i) => ({
  id: `${String(i).padStart(2, '0')}${'a'.repeat(62)}`,
  time: `2026-01-${String(i + 1).padStart(2, '0')}T00:00:00Z`,
  tree: 't',
  paths: ['/data'],
})) as Snapshot[];

test('the rotation picks the copy drilled least recently, never-drilled copies first, ties in copies order', () => {
  const copies = ['local', 'offsite'];
  const pick = (records: JournalRecord[]) => pickRepository(copies, copyDrillTimes(records, 'files'));
  assert.deepEqual(pick([]), { name: 'local', method: 'least-recently-drilled-copy' });
  assert.equal(pick([drill('files', 'local', '2026-01-01T00:00:00Z')]).name, 'offsite');
  assert.equal(
    pick([drill('files', 'local', '2026-01-01T00:00:00Z'), drill('files', 'offsite', '2026-01-02T00:00:00Z')])
      .name,
    'local',
  );
  // Ties (the same moment) go to the earlier copy in `copies`.
  assert.equal(
    pick([drill('files', 'offsite', '2026-01-01T00:00:00Z'), drill('files', 'local', '2026-01-01T00:00:00Z')])
      .name,
    'local',
  );
  // Another dataset's drills, copies no longer in the list, simulated and interrupted drills do not count.
  assert.equal(
    pick([
      drill('db', 'local', '2026-01-01T00:00:00Z'),
      drill('files', 'tape', '2026-01-01T00:00:00Z'),
      drill('files', 'local', '2026-01-02T00:00:00Z', { simulated: true }),
      drill('files', 'local', '2026-01-03T00:00:00Z', { result: 'interrupted' }),
    ]).name,
    'local',
  );
  // A failed drill did drill the copy: it counts.
  assert.equal(pick([drill('files', 'local', '2026-01-01T00:00:00Z', { result: 'failed' })]).name, 'offsite');
  assert.deepEqual(pickRepository(copies, new Map(), 'offsite'), { name: 'offsite', method: 'named' });
  assert.throws(() => pickRepository(copies, new Map(), 'tape'), /holds no copy of the dataset/);
});

test('a pinned drill does not push the offsite copy out of the rotation', () => {
  const copies = ['local', 'offsite'];
  // local rotated to, then pinned to local by hand, repeatedly: a count-based rotation
  // would land on local every other time and could skip offsite for ever.
  const records = [
    drill('files', 'local', '2026-01-01T00:00:00Z'),
    drill('files', 'local', '2026-01-02T00:00:00Z'),
    drill('files', 'local', '2026-01-03T00:00:00Z', { result: 'failed' }),
  ];
  assert.equal(pickRepository(copies, copyDrillTimes(records, 'files')).name, 'offsite');
  records.push(drill('files', 'offsite', '2026-01-04T00:00:00Z'));
  records.push(drill('files', 'offsite', '2026-01-05T00:00:00Z'));
  assert.equal(pickRepository(copies, copyDrillTimes(records, 'files')).name, 'local');
  // Three copies: each in turn, whatever was pinned between.
  const three = ['local', 'offsite', 'vault'];
  assert.equal(pickRepository(three, copyDrillTimes(records, 'files')).name, 'vault');
  records.push(drill('files', 'vault', '2026-01-06T00:00:00Z'));
  assert.equal(pickRepository(three, copyDrillTimes(records, 'files')).name, 'local');
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
