import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Repository as PolicyRepository } from '../policy/repositories.js';
import { findBlock, shellBlocks } from './blocks.js';
import type { RunbookData, RunbookDataset } from './data.js';
import { code, mdText } from './md.js';
import { renderDataset, renderIndex } from './render.js';

const secrets = ['hunter2-plain', 'rest-pw-inline', 'AKIAPLAINKEY', 'pg-secret-9', 'opt-secret-7'];

function repo(location: string, extra: Partial<PolicyRepository> = {}): PolicyRepository {
  return {
    location,
    site: 'site',
    media: 'disk',
    offsite: false,
    immutable: false,
    password: { file: '/etc/arca/pw' },
    ...extra,
  };
}

function dataset(copies: RunbookDataset['copies'], extra: Partial<RunbookDataset> = {}): RunbookDataset {
  return {
    name: 'orders',
    owner: 'sales ops',
    classification: 'confidential',
    tier: 1,
    rpo: '1h',
    rto: '4h',
    mtd: '1d',
    paths: ['/srv/orders'],
    exclude: ['*.tmp'],
    dumps: [
      {
        kind: 'postgres',
        source: 'shop',
        filename: 'postgres/shop.sql',
        snapshotPath: '/var/lib/arca/staging/orders/postgres/shop.sql',
        host: 'db.local',
        user: 'backup',
      },
      {
        kind: 'commands',
        source: 'PGPASSWORD=pg-secret-9 dumpit',
        filename: 'out.txt',
        snapshotPath: '/var/lib/arca/staging/orders/out.txt',
      },
    ],
    stagingDir: '/var/lib/arca/staging/orders',
    copies,
    drillEvery: '30d',
    checks: [{ name: 'row count', command: 'test "$(wc -l < "$ARCA_DUMP_DIR/out.txt")" -gt 0' }],
    lastBackup: null,
    lastDrill: null,
    openActions: [],
    ...extra,
  };
}

function data(d: RunbookDataset): RunbookData {
  return {
    generatedAt: '2026-11-27T10:00:00.000Z',
    arcaVersion: '0.1.0',
    policy: {
      file: '/etc/arca/arca.yaml',
      id: 'POL-BKP-001',
      version: '3',
      owner: 'CISO',
      approvedBy: 'board',
      approvedOn: '2026-01-01',
      sha256: 'ab'.repeat(32),
    },
    journal: { file: '/var/lib/arca/journal.db', state: 'read' },
    datasets: [d],
  };
}

const render = (d: RunbookDataset) => renderDataset(data(d), d);
/** The restore target of dataset orders, as the commands write it. */
const target = `"\${RESTORE_DIR:-$PWD/restore}/orders"`;

describe('renderDataset', () => {
  it('never shows a secret, even one written into the policy by mistake', () => {
    const d = dataset([
      { name: 'local', repository: repo('/srv/repo', { password: 'hunter2-plain' }) },
      {
        name: 'offsite',
        repository: repo('s3:https://s3.example.com/bucket/arca', {
          password: { env: 'OFFSITE_PW' },
          env: { AWS_ACCESS_KEY_ID: 'AKIAPLAINKEY', AWS_SECRET_ACCESS_KEY: { file: '/etc/arca/s3' } },
        }),
      },
      {
        name: 'rest',
        repository: repo('rest:https://backup:rest-pw-inline@rest.example:8000/orders/', {
          options: { 'rest.password': 'opt-secret-7' } as PolicyRepository['options'],
        }),
      },
    ]);
    const md = render(d);
    for (const s of secrets) assert.ok(!md.includes(s), `${s} appears in the runbook`);
    assert.match(md, /written into the policy in plain text/);
    assert.match(md, /`rest:https:\/\/backup:\*\*\*@rest\.example:8000\/orders\/`/);
    assert.match(md, /environment variable `OFFSITE_PW`/);
    assert.match(md, /the first line of `\/etc\/arca\/s3`/);
    assert.match(md, /policy owner \(\*\*CISO\*\*\)/);
  });

  it('gives restic and arca commands for a local repository', () => {
    const md = render(dataset([{ name: 'local', repository: repo('/srv/backup repo') }]));
    assert.deepEqual(findBlock(md, 'env: credentials (repository local)').lines.slice(1), [
      'unset RESTIC_PASSWORD RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND ARCA_PASSWORD ARCA_PASSWORD_FILE ARCA_PASSWORD_COMMAND',
      'export RESTIC_PASSWORD_FILE=/etc/arca/pw ARCA_PASSWORD_FILE=/etc/arca/pw',
    ]);
    assert.deepEqual(
      findBlock(md, 'restic: snapshots (repository local)').lines[1],
      "restic -r '/srv/backup repo' snapshots --tag dataset:orders",
    );
    assert.equal(
      findBlock(md, 'restic: restore latest (repository local)').lines[1],
      `restic -r '/srv/backup repo' restore latest --tag dataset:orders --target ${target}`,
    );
    assert.equal(
      findBlock(md, 'restic: dump postgres/shop.sql (repository local)').lines[1],
      "restic -r '/srv/backup repo' dump latest --tag dataset:orders /var/lib/arca/staging/orders/postgres/shop.sql > shop.sql",
    );
    assert.ok(
      findBlock(md, 'arca: restore latest (repository local)').lines.includes(
        `arca -r '/srv/backup repo' restore latest --tag dataset:orders --target ${target} --verify`,
      ),
    );
    assert.deepEqual(findBlock(md, 'load: postgres/shop.sql').lines.slice(1), [
      'createdb -h db.local -U backup shop',
      `psql -h db.local -U backup -d shop -v ON_ERROR_STOP=1 -f "\${RESTORE_DIR:-$PWD/restore}/orders/var/lib/arca/staging/orders/postgres/shop.sql"`,
    ]);
    assert.match(
      findBlock(md, 'check: row count').lines.join('\n'),
      /ARCA_DUMP_DIR="\$\{RESTORE_DIR:-\$PWD\/restore\}\/orders\/var\/lib\/arca\/staging\/orders"/,
    );
  });

  it("spells arca's SFTP options as the ssh command restic runs", () => {
    const md = render(
      dataset([
        {
          name: 'box',
          repository: repo('sftp://backup@nas.example:2222//srv/restic', {
            password: { command: 'pass show arca/box' },
            options: {
              'sftp.identity': '/etc/arca/id_ed25519',
              'sftp.known-hosts': { env: 'KNOWN_HOSTS' },
              'sftp.host-key-policy': 'accept-new',
            },
          }),
        },
      ]),
    );
    assert.equal(
      findBlock(md, 'restic: snapshots (repository box)').lines[1],
      'restic -r sftp:backup@nas.example:/srv/restic -o "sftp.command=ssh -i /etc/arca/id_ed25519 -p 2222 ' +
        `-o UserKnownHostsFile=\${KNOWN_HOSTS} -o StrictHostKeyChecking=accept-new backup@nas.example -s sftp" ` +
        'snapshots --tag dataset:orders',
    );
    assert.equal(
      findBlock(md, 'arca: restore latest (repository box)').lines[1],
      'arca -r sftp://backup@nas.example:2222//srv/restic -o sftp.identity=/etc/arca/id_ed25519 ' +
        `-o "sftp.known-hosts=\${KNOWN_HOSTS}" -o sftp.host-key-policy=accept-new snapshots --tag dataset:orders`,
    );
    assert.deepEqual(findBlock(md, 'env: credentials (repository box)').lines.slice(2), [
      'RESTIC_PASSWORD="$(pass show arca/box)"',
      'export RESTIC_PASSWORD ARCA_PASSWORD="$RESTIC_PASSWORD"',
    ]);
  });

  it('sets the AWS variables by reference and keeps S3 options for restic', () => {
    const md = render(
      dataset([
        {
          name: 'offsite',
          repository: repo('s3:https://s3.example.com/bucket/arca', {
            password: { env: 'OFFSITE_PW' },
            env: {
              AWS_ACCESS_KEY_ID: { env: 'OFF_KEY' },
              AWS_SECRET_ACCESS_KEY: { file: '/etc/arca/s3 secret' },
              AWS_DEFAULT_REGION: 'eu-west-1',
            },
            options: { 's3.region': 'eu-west-1', 's3.bucket-lookup': 'path' },
          }),
        },
      ]),
    );
    assert.deepEqual(findBlock(md, 'env: credentials (repository offsite)').lines.slice(2), [
      `export RESTIC_PASSWORD="\${OFFSITE_PW:?set OFFSITE_PW to the password of repository offsite}"`,
      'export ARCA_PASSWORD="$RESTIC_PASSWORD"',
      `AWS_ACCESS_KEY_ID="\${OFF_KEY}"`,
      'export AWS_ACCESS_KEY_ID',
      `AWS_SECRET_ACCESS_KEY="$(head -n 1 '/etc/arca/s3 secret')"`,
      'export AWS_SECRET_ACCESS_KEY',
      'export AWS_DEFAULT_REGION=eu-west-1',
    ]);
    assert.equal(
      findBlock(md, 'restic: restore latest (repository offsite)').lines[1],
      'restic -r s3:https://s3.example.com/bucket/arca -o s3.region=eu-west-1 -o s3.bucket-lookup=path ' +
        `restore latest --tag dataset:orders --target ${target}`,
    );
  });

  it('builds the REST URL restic needs from the ARCA_REST_* variables', () => {
    const md = render(
      dataset([
        {
          name: 'rest',
          repository: repo('rest:https://rest.example:8000/orders/', {
            env: { ARCA_REST_USERNAME: { env: 'REST_USER' }, ARCA_REST_PASSWORD: { file: '/etc/arca/rest' } },
            options: { 'rest.timeout': 120 },
          }),
        },
      ]),
    );
    assert.equal(
      findBlock(md, 'restic: snapshots (repository rest)').lines[1],
      `restic -r "rest:https://\${ARCA_REST_USERNAME}:\${ARCA_REST_PASSWORD}@rest.example:8000/orders/" snapshots --tag dataset:orders`,
    );
    assert.equal(
      findBlock(md, 'arca: restore latest (repository rest)').lines[1],
      'arca -r rest:https://rest.example:8000/orders/ -o rest.timeout=120 snapshots --tag dataset:orders',
    );
    assert.match(md, /restic has no option `rest\.timeout`/);
  });

  it('shows the last drill against the RTO and the open corrective actions', () => {
    const md = render(
      dataset([{ name: 'local', repository: repo('/srv/repo') }], {
        lastDrill: {
          drillId: 'DRL-20261127T100000Z-orders',
          startedAt: '2026-11-27T10:00:00.000Z',
          result: 'partial',
          repository: '/srv/repo',
          repositoryName: 'local',
          snapshotId: 'cd'.repeat(32),
          scope: 'sample',
          restoreTimeKind: 'forecast',
          restoreTimeSeconds: 18_000,
          rtoSeconds: 14_400,
          rtoMet: false,
          rpoMet: true,
          recoveryPointAgeSeconds: 600,
          failureStage: null,
          error: null,
        },
        openActions: [
          {
            id: 'CA-1',
            openedAt: '2026-11-27T10:05:00.000Z',
            drillId: 'DRL-20261127T100000Z-orders',
            stage: 'restore',
            description: 'RTO missed',
          },
        ],
      }),
    );
    assert.match(md, /5h \(forecast from a sample, not measured\) against an RTO of 4h — \*\*RTO missed\*\*/);
    assert.match(
      md,
      /\| CA-1 \| 2026-11-27T10:05:00.000Z \| DRL-20261127T100000Z-orders \| restore \| RTO missed \|/,
    );
    assert.match(md, /SHA-256 `(ab){32}`/);
  });

  it('shows command references and checks exactly as the policy writes them', () => {
    const gcloud = 'gcloud secrets versions access latest --secret=arca-repo';
    const check = `PGPASSWORD="$DB_PW" psql -h db.local -d shop -c 'select count(*) from orders'`;
    const md = render(
      dataset(
        [
          {
            name: 'cloud',
            repository: repo('s3:https://s3.example.com/bucket/arca', {
              password: { command: gcloud },
              env: { AWS_SECRET_ACCESS_KEY: { command: 'pass show aws/secret_token=x' } },
            }),
          },
        ],
        { dumps: [], checks: [{ name: 'orders', command: check }] },
      ),
    );
    assert.deepEqual(findBlock(md, 'env: credentials (repository cloud)').lines.slice(2, 5), [
      `RESTIC_PASSWORD="$(${gcloud})"`,
      'export RESTIC_PASSWORD ARCA_PASSWORD="$RESTIC_PASSWORD"',
      'AWS_SECRET_ACCESS_KEY="$(pass show aws/secret_token=x)"',
    ]);
    assert.equal(findBlock(md, 'check: orders').lines.at(-1), check);
    assert.match(
      md,
      /the repository password is what `gcloud secrets versions access latest --secret=arca-repo` prints/,
    );
    assert.ok(!md.includes('***'), 'nothing is redacted');
  });

  it('escapes text from the journal and the policy, so that no markdown renderer runs it as HTML', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const md = render(
      dataset([{ name: 'local', repository: repo('/srv/repo', { site: `<b>site</b> & co` }) }], {
        owner: '<script>alert(2)</script>',
        paths: ['/srv/a`b'],
        lastDrill: {
          drillId: 'DRL-1',
          startedAt: '2026-11-27T10:00:00.000Z',
          result: 'failed',
          repository: '/srv/repo',
          repositoryName: 'local',
          snapshotId: null,
          scope: 'full',
          restoreTimeKind: null,
          restoreTimeSeconds: null,
          rtoSeconds: 14_400,
          rtoMet: null,
          rpoMet: null,
          recoveryPointAgeSeconds: null,
          failureStage: 'restore',
          error: `cannot restore /srv/orders/${evil}: permission denied`,
        },
        openActions: [
          {
            id: 'CA-1',
            openedAt: '2026-11-27T10:05:00.000Z',
            drillId: 'DRL-1',
            stage: 'restore',
            description: evil,
          },
        ],
      }),
    );
    // Outside the fenced shell blocks (where nothing is interpreted), no tag is left.
    const prose = md.replace(/^```sh\n[\s\S]*?^```$/gm, '');
    assert.ok(!/<[a-z]/i.test(prose), prose);
    assert.match(
      md,
      /\| Error \| cannot restore \/srv\/orders\/&lt;img src=x onerror=alert\(1\)&gt;: permission denied \|/,
    );
    assert.match(md, /\| CA-1 \| .* \| &lt;img src=x onerror=alert\(1\)&gt; \|/);
    assert.match(md, /\| &lt;b&gt;site&lt;\/b&gt; &amp; co \|/);
    assert.match(md, /owner \(&lt;script&gt;alert\(2\)&lt;\/script&gt;\)/);
    // A backtick in a value does not end its code span.
    assert.match(md, /^- ``\/srv\/a`b``$/m);
  });

  it('restores into the directory the operator sets, not one that needs root', () => {
    const md = render(dataset([{ name: 'local', repository: repo('/srv/repo') }]));
    assert.match(md, /set `RESTORE_DIR` to a directory you can write to \(no root needed\)/);
    assert.match(
      md,
      /restore into `\$RESTORE_DIR\/orders`; with `RESTORE_DIR` unset, into `restore\/orders`/,
    );
    for (const b of shellBlocks(md))
      assert.ok(!/(^|[\s'"])\/restore\//.test(b.lines.join('\n')), `${b.marker} restores under /restore`);
  });

  it('marks every command block so it can be found', () => {
    const md = render(dataset([{ name: 'local', repository: repo('/srv/repo') }]));
    const markers = shellBlocks(md).map((b) => b.marker);
    assert.equal(new Set(markers).size, markers.length, 'markers are unique');
    assert.ok(markers.includes('restic: compare with ls (repository local)'));
    assert.match(renderIndex(data(dataset([]))), /\| \[orders\]\(orders\.md\) \| 1 \| 1h \| 4h \|/);
  });
});

describe('markdown text', () => {
  it('escapes HTML outside code spans and fences code spans around backticks', () => {
    assert.equal(mdText('a <b> & c\nd'), 'a &lt;b&gt; &amp; c d');
    assert.equal(code('plain'), '`plain`');
    assert.equal(code('a `b` c'), '``a `b` c``');
    assert.equal(code('`x'), '`` `x ``');
    assert.equal(code('a <b>'), '`a <b>`');
  });
});
