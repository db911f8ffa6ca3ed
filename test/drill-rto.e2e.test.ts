/**
 * A drill whose measured restore time exceeds the RTO is reported as missed: the restore is
 * slowed with --limit-download (which applies to every repository of the policy), so the
 * measured time is bounded below by the limit, whatever the machine. The limiter lets a
 * read through at once and makes the next ones wait for it, so the data spans at least two
 * full packs (16 MiB or more each): the later waits at least 16 MiB / 4 MiB/s = 4 s, over
 * the 2 s RTO.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { arca, arcaOk } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { readJournal } from './support/journal.js';
import { writePasswordFile } from './support/restic.js';
import { tempDir } from './support/tmp.js';

test('a measured restore time over the RTO is a missed objective (exit 3), recorded as measured', async (t) => {
  const root = await tempDir(t, 'drill-rto');
  const password = 'rto drill password';
  const pw = await writePasswordFile(root, password);
  const repo = path.join(root, 'repo');
  const data = path.join(root, 'data');
  await mkdir(data);
  // 36 MiB that do not compress: two full packs and a rest.
  for (const name of ['a', 'b', 'c', 'd'])
    await writeFile(path.join(data, `${name}.bin`), randomBytes(9 << 20));
  const journal = path.join(root, 'journal.db');
  const env = { ARCA_JOURNAL: journal, XDG_STATE_HOME: path.join(root, 'state') };
  await arcaOk(['init'], { repo, passwordFile: pw, env });
  await useCheapKey(repo, password);
  const today = new Date().toISOString().slice(0, 10);
  const policy = path.join(root, 'arca.yaml');
  await writeFile(
    policy,
    `metadata:
  id: POL-RTO
  version: "1"
  owner: tests
  approved_by: tests
  approved_on: ${today}
  next_review: ${Number(today.slice(0, 4)) + 1}${today.slice(4, 8)}01
repositories:
  local:
    location: ${JSON.stringify(repo)}
    site: main
    media: disk
    offsite: false
    immutable: false
    password: {file: ${JSON.stringify(pw)}}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 1
    rpo: 24h
    rto: 2s
    mtd: 1h
    sources:
      paths: [${JSON.stringify(data)}]
    schedule:
      full: {every: 1d}
    copies: [local]
    retention:
      keep: {last: 3}
    drill: {every: 30d}
`,
  );
  const opts = { env: { ...env, ARCA_POLICY: policy } };
  await arcaOk(['run'], opts);
  const slow = await arca(['--limit-download', '4096', 'drill', '--dataset', 'files', '--full'], opts);
  assert.equal(slow.code, 3, slow.out + slow.err);
  const record = readJournal(journal)
    .filter((r) => r.operation === 'drill')
    .at(-1)!;
  const m = record.details.measurements as Record<string, unknown>;
  assert.equal(record.result, 'partial');
  assert.equal(m.restore_time_kind, 'measured');
  assert.equal(m.rto_seconds, 2);
  assert.equal(m.rto_met, false);
  assert.ok((m.restore_seconds as number) > 2, JSON.stringify(m));
  assert.notEqual(record.details.corrective_action, null, 'a missed RTO opens a corrective action');
});
