import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.js';
import { Journal } from '../journal/journal.js';
import type { JournalResult } from '../journal/record.js';
import { actionScope, closes, closingDrill, openActions, recordClosed, recordOpened } from './corrective.js';
import type { DrillDetails } from './record.js';

/** The parts of a drill's details that opening and closing read. */
function details(
  o: {
    repo?: string;
    scope?: 'full' | 'sample';
    rule?: 'latest' | 'random' | 'named';
    stage?: DrillDetails['failure']['stage'];
    rto?: boolean | null;
    rpo?: boolean | null;
    simulated?: boolean;
  } = {},
): DrillDetails {
  return {
    simulated: o.simulated ?? false,
    selection: { repository_name: o.repo ?? 'local', snapshot_rule: o.rule ?? 'latest' },
    scope: o.scope ?? 'full',
    measurements: {
      rto_met: o.rto === undefined ? true : o.rto,
      rpo_met: o.rpo === undefined ? true : o.rpo,
    },
    failure: { stage: o.stage ?? null, reason: o.stage ? 'broken' : null },
  } as unknown as DrillDetails;
}

const drill = (d: DrillDetails, result: JournalResult = 'success', dataset = 'files') => ({
  dataset,
  result,
  details: d,
});

async function opened(t: Parameters<typeof tempDir>[0], failed: DrillDetails) {
  const journal = Journal.open(path.join(await tempDir(t, 'corrective'), 'journal.db'));
  t.after(() => journal.close());
  recordOpened(
    journal,
    { id: 'CA-1-files', dataset: 'files', drillId: 'DRL-1-files', description: 'x', ...actionScope(failed) },
    null,
    new Date('2026-01-01T00:00:00Z'),
  );
  const [a] = openActions(journal.list({ operation: 'corrective-action' }), 'files');
  assert.ok(a);
  return { journal, a };
}

test('the open record keeps the repository, scope, snapshot rule, stage and objectives missed', async (t) => {
  const { a } = await opened(t, details({ repo: 'local', scope: 'sample', rule: 'random', stage: 'verify' }));
  assert.deepEqual(
    { ...a },
    {
      id: 'CA-1-files',
      dataset: 'files',
      drill_id: 'DRL-1-files',
      opened_at: '2026-01-01T00:00:00.000Z',
      repository_name: 'local',
      scope: 'sample',
      snapshot_rule: 'random',
      stage: 'verify',
      rto_missed: false,
      rpo_missed: false,
    },
  );
  assert.equal(closingDrill(a), 'a passing drill from repository local, of every file');
});

test('a restore failure is closed only by a passing full drill from the same repository', async (t) => {
  const { journal, a } = await opened(t, details({ repo: 'local', stage: 'restore' }));
  assert.equal(closes(a, drill(details({ repo: 'offsite' }))), false, 'another copy');
  assert.equal(closes(a, drill(details({ repo: 'local', scope: 'sample' }))), false, 'a sample');
  assert.equal(closes(a, drill(details({ repo: 'local' }), 'partial')), false, 'not passed');
  assert.equal(closes(a, drill(details({ repo: 'local', rto: false }))), false, 'RTO missed');
  assert.equal(closes(a, drill(details({ repo: 'local', simulated: true }))), false, 'simulated');
  assert.equal(closes(a, drill(details({ repo: 'local' }), 'success', 'db')), false, 'another dataset');
  assert.equal(closes(a, drill(details({ repo: 'local' }))), true);
  // A random snapshot's RPO is not judged (null): it does not stop a full drill from closing a restore failure.
  assert.equal(closes(a, drill(details({ repo: 'local', rule: 'random', rpo: null }))), true);
  recordClosed(journal, { id: a.id, dataset: 'files', drillId: 'DRL-2-files' }, null, new Date());
  assert.deepEqual(openActions(journal.list({ operation: 'corrective-action' })), []);
});

test('an RPO miss is closed only by a drill of the newest snapshot that meets the RPO', async (t) => {
  const { a } = await opened(t, details({ repo: 'offsite', rpo: false }));
  assert.equal(a.rpo_missed, true);
  assert.equal(a.stage, null);
  assert.equal(closingDrill(a), 'a passing drill from repository offsite, of the newest snapshot');
  assert.equal(closes(a, drill(details({ repo: 'offsite', rule: 'random', rpo: null }))), false);
  assert.equal(closes(a, drill(details({ repo: 'offsite', rule: 'named', rpo: null }))), false);
  assert.equal(closes(a, drill(details({ repo: 'local' }))), false);
  // The RPO is not about the files restored: a sample of the newest snapshot will do.
  assert.equal(closes(a, drill(details({ repo: 'offsite', scope: 'sample' }))), true);
});

test('an RTO miss or a failure outside the data needs the same repository only', async (t) => {
  const rto = await opened(t, details({ repo: 'local', scope: 'sample', rto: false }));
  assert.equal(rto.a.rto_missed, true);
  assert.equal(
    closes(rto.a, drill(details({ repo: 'local', scope: 'sample', rule: 'random', rpo: null }))),
    true,
  );
  assert.equal(closes(rto.a, drill(details({ repo: 'offsite' }))), false);
  const open = await opened(t, details({ repo: 'local', stage: 'open' }));
  assert.equal(closes(open.a, drill(details({ repo: 'local', scope: 'sample' }))), true);
});

test('an action opened before the scope was kept is closed by any passing drill of the dataset', () => {
  const legacy = {
    id: 'CA-0',
    dataset: 'files',
    drill_id: 'DRL-0',
    opened_at: '2026-01-01T00:00:00Z',
    repository_name: null,
    scope: null,
    snapshot_rule: null,
    stage: null,
    rto_missed: false,
    rpo_missed: false,
  };
  assert.equal(closes(legacy, drill(details({ repo: 'offsite', scope: 'sample' }))), true);
  assert.equal(closingDrill(legacy), 'a passing drill from any copy');
});
