import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { journalWithRecords } from '../../test/support/journal.js';
import { parsePolicy } from '../policy/load.js';
import { gatherRunbook } from './gather.js';

const policyText = `
metadata: {id: POL-G, version: "1", owner: CISO, approved_by: board, approved_on: 2026-01-01, next_review: 2026-12-01}
repositories:
  local: {location: /srv/repo, site: main, media: disk, offsite: false, immutable: false, password: {file: /etc/pw}}
datasets:
  db:
    owner: ops
    classification: internal
    tier: 1
    rpo: 1h
    rto: 4h
    mtd: 1d
    sources:
      sqlite: [{path: /var/lib/app.db}]
      postgres: [{database: shop}]
    schedule: {full: "0 3 * * *"}
    copies: [local]
    drill: {every: 30d, validate: [{name: rows, command: "true"}]}
`;
const loaded = {
  file: '/etc/arca.yaml',
  policy: parsePolicy(policyText, 'arca.yaml'),
  sha256: 'ab'.repeat(32),
};

describe('gatherRunbook', () => {
  it('takes the last real drill, the last backup and the open corrective actions from the journal', async (t) => {
    const { journal, file } = await journalWithRecords(t, 0);
    const at = (m: number) => new Date(Date.UTC(2026, 10, 1, 0, m)).toISOString();
    journal.append({
      operation: 'backup',
      result: 'success',
      started_at: at(0),
      ended_at: at(1),
      dataset: 'db',
      repository: '/srv/repo',
      snapshot_id: 'aa'.repeat(32),
    });
    const drill = (m: number, simulated: boolean, seconds: number) =>
      journal.append({
        operation: 'drill',
        result: 'success',
        started_at: at(m),
        dataset: 'db',
        repository: '/srv/repo',
        details: {
          schema: 'restore-drill/v1',
          drill_id: `DRL-${m}`,
          simulated,
          source: { repository_name: 'local' },
          measurements: { restore_time_kind: 'measured', restore_time_seconds: seconds, rto_met: true },
        },
      });
    drill(2, false, 12);
    drill(3, true, 99);
    for (const [id, status, m] of [
      ['CA-1', 'open', 4],
      ['CA-2', 'open', 5],
      ['CA-1', 'closed', 6],
    ] as const) {
      journal.append({
        operation: 'corrective-action',
        result: status === 'open' ? 'failed' : 'success',
        started_at: at(m),
        dataset: 'db',
        details: { id, status, stage: 'restore', description: 'restore failed' },
      });
    }
    const data = gatherRunbook({
      loaded,
      journal,
      journalSource: { file, state: 'read' },
      env: { XDG_STATE_HOME: '/var/state' },
      arcaVersion: '0.1.0',
    });
    const d = data.datasets[0]!;
    assert.equal(d.lastDrill?.drillId, 'DRL-2', 'a simulated drill is no evidence');
    assert.equal(d.lastDrill?.restoreTimeSeconds, 12);
    assert.equal(d.lastDrill?.repositoryName, 'local');
    assert.deepEqual(
      d.openActions.map((a) => a.id),
      ['CA-2'],
    );
    assert.equal(d.lastBackup?.snapshotId, 'aa'.repeat(32));
    assert.deepEqual(
      d.dumps.map((x) => x.snapshotPath),
      ['/var/state/arca/staging/db/postgres/shop.sql', '/var/state/arca/staging/db/sqlite/app.db'],
    );
    assert.deepEqual(d.checks, [{ name: 'rows', command: 'true' }]);
    assert.equal(data.policy.id, 'POL-G');
  });

  it('works without a journal and refuses an unknown dataset', () => {
    const source = { file: '/nowhere/journal.db', state: 'missing' as const };
    const data = gatherRunbook({ loaded, journal: undefined, journalSource: source, arcaVersion: '0' });
    assert.equal(data.datasets[0]?.lastDrill, null);
    assert.throws(
      () =>
        gatherRunbook({
          loaded,
          journal: undefined,
          journalSource: source,
          dataset: 'nope',
          arcaVersion: '0',
        }),
      { code: 'usage', message: /no dataset "nope" \(datasets: db\)/ },
    );
  });
});
