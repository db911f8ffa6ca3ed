/**
 * The policy runner end to end, as a user runs it: a policy with two datasets (files, and a
 * SQLite database through its online backup) and two repositories (a local one, and one on
 * S3 — s3rver on 127.0.0.1), then `arca run`, `arca run --dataset`, `arca plan`, and the
 * daemon on second-level cron schedules for a bounded time. restic is the judge of what
 * lands in the repositories: the levels as tags, the copies, retention exactly as restic's
 * own `forget` would keep, the journal's backup in each repository. A dataset whose source
 * fails is retried and reported to a webhook on 127.0.0.1; the journal verifies, and a
 * record changed behind arca's back is found.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { JournalRecord } from '../src/journal/record.js';
import { arca, arcaOk, projectRoot } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { readJournal, tamper } from './support/journal.js';
import { type RemoteTarget, s3Target } from './support/remote-target.js';
import { restic, resticCheck, resticSnapshotsJson, writePasswordFile } from './support/restic.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const password = 'runner test password';
const offsitePassword = 'offsite runner password';

interface Hook {
  url: string;
  events: Record<string, unknown>[];
  close(): Promise<void>;
}

async function webhookServer(): Promise<Hook> {
  const events: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        events.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      } catch {
        events.push({ unparsable: true });
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const today = new Date().toISOString().slice(0, 10);
const nextYear = `${Number(today.slice(0, 4)) + 1}${today.slice(4, 8)}01`;

describe('the policy runner, end to end', { skip: skipUnless('restic', 'restic') }, () => {
  let root: string;
  let s3: RemoteTarget;
  let hook: Hook;
  let pw: string;
  let offsitePw: string;
  let localRepo: string;
  let journalFile: string;
  let env: NodeJS.ProcessEnv;
  let dbFile: string;

  const repos = () => `
repositories:
  local:
    location: ${JSON.stringify(localRepo)}
    site: main
    media: disk
    offsite: false
    immutable: false
    password: {file: ${JSON.stringify(pw)}}
  offsite:
    location: ${JSON.stringify(s3.location('offsite'))}
    site: s3-test
    media: object-storage
    offsite: true
    immutable: false
    password: {env: OFFSITE_PASSWORD}
    env:
      AWS_ACCESS_KEY_ID: {env: TEST_S3_KEY}
      AWS_SECRET_ACCESS_KEY: {env: TEST_S3_SECRET}
`;
  const metadata = `
metadata:
  id: POL-E2E
  version: "1"
  owner: tests
  approved_by: tests
  approved_on: ${today}
  next_review: ${nextYear}
`;
  const resticLocal = (args: string[]) => restic(args, { repo: localRepo, passwordFile: pw });
  const resticOffsite = (args: string[]) =>
    restic([...s3.resticArgs, ...args], {
      repo: s3.resticRepo('offsite'),
      passwordFile: offsitePw,
      env: s3.resticEnv,
    });
  const snapshotsOf = async (which: 'local' | 'offsite', tag: string) =>
    JSON.parse(
      (which === 'local'
        ? await resticLocal(['snapshots', '--json', '--tag', tag])
        : await resticOffsite(['snapshots', '--json', '--tag', tag])
      ).stdout,
    ) as { id: string; tags?: string[]; paths: string[]; time: string }[];

  before(async () => {
    root = await makeTempDir('arca-runner-');
    s3 = await s3Target();
    hook = await webhookServer();
    pw = await writePasswordFile(root, password);
    offsitePw = path.join(root, 'offsite-password');
    await writeFile(offsitePw, offsitePassword, { mode: 0o600 });
    localRepo = path.join(root, 'repo-local');
    journalFile = path.join(root, 'state', 'journal.db');
    env = {
      ARCA_JOURNAL: journalFile,
      XDG_STATE_HOME: path.join(root, 'state-home'),
      XDG_CACHE_HOME: path.join(root, 'cache-home'),
      OFFSITE_PASSWORD: offsitePassword,
      TEST_S3_KEY: s3.arcaEnv.AWS_ACCESS_KEY_ID,
      TEST_S3_SECRET: s3.arcaEnv.AWS_SECRET_ACCESS_KEY,
    };
    await arcaOk(['init'], { repo: localRepo, passwordFile: pw, env });
    await useCheapKey(localRepo, password);
    await arcaOk(['init'], {
      repo: s3.location('offsite'),
      passwordFile: offsitePw,
      env: { ...env, ...s3.arcaEnv },
    });
    await useCheapKey(s3.open('offsite'), offsitePassword);
    await mkdir(path.join(root, 'data', 'docs'), { recursive: true });
    await writeFile(path.join(root, 'data', 'docs', 'a.txt'), 'alpha\n'.repeat(500));
    await writeFile(path.join(root, 'data', 'b.bin'), Buffer.alloc(100_000, 7));
    await writeFile(path.join(root, 'data', 'skip.tmp'), 'excluded');
    dbFile = path.join(root, 'app.db');
    const db = new Database(dbFile);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)');
    const insert = db.prepare('INSERT INTO orders (item) VALUES (?)');
    for (let i = 0; i < 250; i++) insert.run(`item ${i}`);
    db.close();
  });

  after(async () => {
    await hook?.close();
    await s3?.stop();
    if (root) await removeTree(root);
  });

  test('arca run backs up what is due, copies it offsite verified, applies retention and records it all', async () => {
    const policy = path.join(root, 'daily.yaml');
    await writeFile(
      policy,
      `${metadata}${repos()}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 2
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources:
      paths: [${JSON.stringify(path.join(root, 'data'))}]
      exclude: ["*.tmp"]
    schedule:
      full: "0 3 * * 0"
      incremental: "0 3 * * 1-6"
    copies: [local, offsite]
    retention:
      keep: {last: 5}
      archive: {tags: [archive]}
    drill: {every: 30d}
  orders-db:
    owner: sales
    classification: confidential
    tier: 1
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources:
      sqlite:
        - path: ${JSON.stringify(dbFile)}
    schedule:
      full: {every: 1d}
    copies: [local, offsite]
    retention:
      keep: {daily: 7}
    drill: {every: 30d}
scheduler:
  retry: {attempts: 1, delay: 1s}
notifications:
  webhook:
    url: ${JSON.stringify(hook.url)}
    events: [failure, rpo-breach]
`,
    );
    const opts = { env: { ...env, ARCA_POLICY: policy } };
    const first = await arca(['run'], opts);
    assert.equal(first.code, 0, first.err);
    // The most critical tier runs first.
    assert.ok(
      first.out.indexOf('orders-db: full backup') < first.out.indexOf('files: full backup'),
      first.out,
    );

    for (const which of ['local', 'offsite'] as const) {
      const files = await snapshotsOf(which, 'dataset:files');
      assert.equal(files.length, 1, `${which}: ${JSON.stringify(files)}`);
      assert.ok(files[0]!.tags?.includes('level:full'));
      const dbSnaps = await snapshotsOf(which, 'dataset:orders-db');
      assert.equal(dbSnaps.length, 1);
      assert.equal((await snapshotsOf(which, 'arca-journal')).length, 1, `${which} has the journal`);
    }
    // The excluded file is not in the snapshot; the SQLite dump is a complete database.
    const ls = await resticLocal(['ls', 'latest', '--tag', 'dataset:files']);
    assert.match(ls.stdout, /a\.txt/);
    assert.doesNotMatch(ls.stdout, /skip\.tmp/);
    const dbSnap = (await snapshotsOf('offsite', 'dataset:orders-db'))[0]!;
    const target = path.join(root, 'restored');
    await resticOffsite(['restore', dbSnap.id, '--target', target]);
    const restoredDb = new Database(path.join(target, dbSnap.paths[0]!, 'sqlite', 'app.db'), {
      readonly: true,
    });
    try {
      assert.equal((restoredDb.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n, 250);
      assert.equal(
        (restoredDb.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check,
        'ok',
      );
    } finally {
      restoredDb.close();
    }

    const records = readJournal(journalFile);
    const ops = records.map((r) => `${r.operation}:${r.dataset ?? ''}:${r.result}`);
    for (const expected of [
      'policy-change::success',
      'backup:orders-db:success',
      'copy:orders-db:success',
      'forget:orders-db:success',
      'backup:files:success',
      'copy:files:success',
      'forget:files:success',
    ])
      assert.ok(ops.includes(expected), `${expected} in ${ops.join(' ')}`);
    const backupRecord = records.find((r) => r.operation === 'backup' && r.dataset === 'files')!;
    assert.equal(backupRecord.level, 'full');
    assert.equal(backupRecord.policy_hash?.length, 64);
    assert.ok((backupRecord.files_read ?? 0) >= 2);
    // The journal's backup holds a verifiable export of the journal.
    const exportFile = path.join(root, 'journal-from-offsite.jsonl');
    const journalSnap = (await snapshotsOf('offsite', 'arca-journal'))[0]!;
    const exported = await resticOffsite(['dump', journalSnap.id, '/arca-journal.jsonl']);
    await writeFile(exportFile, exported.stdout);
    const verified = await arca(['journal', 'verify', exportFile], opts);
    assert.equal(verified.code, 0, verified.out + verified.err);
    // No secret reached the journal.
    const bytes = await readFile(journalFile);
    for (const secret of [password, offsitePassword, s3.arcaEnv.AWS_SECRET_ACCESS_KEY!])
      assert.equal(bytes.includes(secret), false);

    // Nothing is due now; naming a dataset runs it at once.
    const again = await arca(['run'], opts);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /nothing is due/);
    const incr = await arca(['run', '--dataset', 'files', '--level', 'incremental'], opts);
    assert.equal(incr.code, 0, incr.err);
    const incrRecord = readJournal(journalFile)
      .filter((r) => r.operation === 'backup' && r.dataset === 'files')
      .at(-1)!;
    assert.equal(incrRecord.level, 'incremental');
    assert.equal(incrRecord.details.parent, backupRecord.snapshot_id);
    assert.equal((await snapshotsOf('offsite', 'dataset:files')).length, 2);

    const plan = await arca(['plan', '--json'], opts);
    assert.equal(plan.code, 0, plan.err);
    const planned = JSON.parse(plan.out) as {
      datasets: { dataset: string; status: string; run: string | null }[];
    };
    assert.deepEqual(
      planned.datasets.map((d) => [d.dataset, d.status, d.run]),
      [
        ['files', 'ok', null],
        ['orders-db', 'ok', null],
      ],
    );
    assert.equal(hook.events.length, 0, 'no failure was reported');
  });

  test('the daemon runs each level at its moments, retries a failing source and reports it, and stops on SIGTERM', async () => {
    // Keep the first full forever: retention must leave it in place.
    const firstFull = (await snapshotsOf('local', 'dataset:files')).find((s) =>
      s.tags?.includes('level:full'),
    )!;
    await resticLocal(['tag', '--add', 'archive', firstFull.id]);
    const failedMarker = path.join(root, 'on-failure.txt');
    const policy = path.join(root, 'seconds.yaml');
    await writeFile(
      policy,
      `${metadata}${repos()}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 2
    rpo: 1m
    rto: 4h
    mtd: 1d
    sources:
      paths: [${JSON.stringify(path.join(root, 'data'))}]
      exclude: ["*.tmp"]
    schedule:
      full: "0,30 * * * * *"
      differential: "10,40 * * * * *"
      incremental: "5,15,20,25,35,45,50,55 * * * * *"
    copies: [local, offsite]
    retention:
      keep: {last: 3}
      archive: {tags: [archive]}
    drill: {every: 30d}
  broken:
    owner: ops
    classification: internal
    tier: 3
    rpo: 30s
    rto: 4h
    mtd: 1d
    sources:
      sqlite:
        - path: ${JSON.stringify(path.join(root, 'missing.db'))}
    schedule:
      full: {every: 20s}
    copies: [local]
    retention:
      keep: {last: 3}
    drill: {every: 30d}
    hooks:
      on_failure: 'printf "%s" "$ARCA_ERROR" > ${JSON.stringify(failedMarker)}'
scheduler:
  timezone: UTC
  retry: {attempts: 2, delay: 1s, max_delay: 2s}
notifications:
  webhook:
    url: ${JSON.stringify(hook.url)}
`,
    );
    const check = await arca(['policy', 'check', '--policy', policy]);
    assert.equal(check.code, 0, check.out + check.err);
    const started = new Date();
    const child: ChildProcess = spawn(
      process.execPath,
      [path.join(projectRoot, 'bin', 'arca.js'), 'daemon', '--json'],
      {
        env: { ...process.env, ...env, ARCA_POLICY: policy },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const since = (r: JournalRecord) => new Date(r.started_at) >= started;
      const enough = () => {
        const rs = readJournal(journalFile).filter(since);
        const ok = (level: string) =>
          rs.filter(
            (r) =>
              r.operation === 'backup' &&
              r.dataset === 'files' &&
              r.level === level &&
              r.result === 'success',
          ).length;
        return (
          ok('full') >= 1 &&
          ok('differential') >= 1 &&
          ok('incremental') >= 2 &&
          hook.events.some((e) => e.event === 'failure' && e.dataset === 'broken') &&
          hook.events.some((e) => e.event === 'rpo-breach' && e.dataset === 'broken')
        );
      };
      // Bounded: at most 150 s of schedule (a full minute holds every level twice).
      for (let i = 0; i < 300 && !enough(); i++) await new Promise((r) => setTimeout(r, 500));
      assert.ok(enough(), `the daemon did not run every level in time:\n${out}\n${err}`);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await exited;
    assert.ok(code === 0 || code === 130, `daemon exit code ${code}: ${err}`);
    assert.match(out, /daemon stopped|stopping after the current step/);

    const records = readJournal(journalFile).filter((r) => new Date(r.started_at) >= started);
    const backups = records.filter(
      (r) => r.operation === 'backup' && r.dataset === 'files' && r.result === 'success',
    );
    for (const b of backups) {
      if (b.level === 'full') assert.equal(b.details.parent, null, 'a full reads every file');
      if (b.level === 'differential')
        assert.equal(b.details.parent_level, 'full', 'a differential compares with a full');
      if (b.level === 'incremental')
        assert.notEqual(b.details.parent, null, 'an incremental compares with the last');
    }
    // The failing source: three attempts (one and two retries), then on_failure, a webhook, and
    // once the RPO has passed since the first attempt with no good backup, an RPO alert.
    const broken = records.filter((r) => r.operation === 'backup' && r.dataset === 'broken');
    assert.ok(broken.length >= 3 && broken.every((r) => r.result === 'failed'), JSON.stringify(broken));
    assert.ok(records.some((r) => r.operation === 'rpo-breach' && r.dataset === 'broken'));
    assert.match(broken[0]!.error ?? '', /missing\.db/);
    const failure = hook.events.find((e) => e.event === 'failure' && e.dataset === 'broken')!;
    assert.equal(failure.attempts, 3);
    assert.equal(failure.policy, 'POL-E2E');
    assert.match(await readFile(failedMarker, 'utf8'), /missing\.db/);
    assert.ok(hook.events.some((e) => e.event === 'rpo-breach' && e.dataset === 'broken'));
    assert.ok(
      records.some((r) => r.operation === 'notification' && r.dataset === 'broken' && r.result === 'success'),
    );
    assert.ok(
      records.some((r) => r.operation === 'policy-change'),
      'the new policy was recorded',
    );

    // One more run to completion, then retention is exactly what restic's forget would keep.
    const last = await arca(['run', '--dataset', 'files', '--level', 'incremental'], {
      env: { ...env, ARCA_POLICY: policy },
    });
    assert.equal(last.code, 0, last.err);
    const local = await snapshotsOf('local', 'dataset:files');
    assert.ok(
      local.some((s) => s.id !== firstFull.id && s.tags?.includes('archive')),
      'the archived full is kept',
    );
    assert.equal(local.filter((s) => !s.tags?.includes('archive')).length, 3);
    for (const which of ['local', 'offsite'] as const) {
      const args = [
        'forget',
        '--dry-run',
        '--json',
        '--tag',
        'dataset:files',
        '--group-by',
        'host',
        '--keep-last',
        '3',
        '--keep-tag',
        'archive',
      ];
      const r = which === 'local' ? await resticLocal(args) : await resticOffsite(args);
      const groups = JSON.parse(r.stdout) as { remove: unknown[] | null }[];
      assert.ok(
        groups.every((g) => (g.remove ?? []).length === 0),
        `${which}: restic would remove ${r.stdout}`,
      );
    }
    assert.equal((await snapshotsOf('offsite', 'dataset:files')).length, 3);
    // Both repositories are sound and unlocked.
    assert.ok((await resticCheck(localRepo, pw, false)).ok);
    const offsiteCheck = await resticOffsite(['check']);
    assert.equal(offsiteCheck.code, 0, offsiteCheck.stderr);
    assert.equal((await resticLocal(['list', 'locks'])).stdout.trim(), '');
    assert.ok((await resticSnapshotsJson(localRepo, pw, ['--tag', 'arca-journal'])).length >= 1);
  });

  test('SIGTERM during a step stops the daemon cleanly, records the run as interrupted, and it is due again', async () => {
    const marker = path.join(root, 'interrupted.txt');
    const started = path.join(root, 'hook-started');
    const policy = path.join(root, 'slow.yaml');
    await writeFile(
      policy,
      `${metadata}${repos()}
datasets:
  slow:
    owner: ops
    classification: internal
    tier: 1
    rpo: 1d
    rto: 4h
    mtd: 1d
    sources:
      paths: [${JSON.stringify(path.join(root, 'data'))}]
    schedule:
      full: {every: 12h}
    copies: [local]
    retention:
      keep: {last: 3}
    drill: {every: 30d}
    hooks:
      before: ${JSON.stringify(`touch ${started}; sleep 60`)}
      on_failure: ${JSON.stringify(`printf "%s" "$ARCA_ERROR" > ${marker}`)}
`,
    );
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'arca.js'), 'daemon'], {
      env: { ...process.env, ...env, ARCA_POLICY: policy },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 120; i++) {
        if (
          await readFile(started).then(
            () => true,
            () => false,
          )
        )
          break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      child.kill('SIGTERM');
    }
    // The hook is stopped at once; the daemon ends well before the hook's 60 s.
    assert.equal(await exited, 0, out);
    assert.match(out, /received SIGTERM/);
    const last = readJournal(journalFile).filter((r) => r.dataset === 'slow' && r.operation === 'backup');
    assert.equal(last.length, 1, JSON.stringify(last));
    assert.equal(last[0]!.result, 'interrupted');
    assert.equal(await readFile(marker, 'utf8'), 'interrupted', 'on_failure ran to undo what before did');
    assert.equal((await resticLocal(['list', 'locks'])).stdout.trim(), '', 'no lock left behind');
    const plan = await arca(['plan', '--json'], { env: { ...env, ARCA_POLICY: policy } });
    const slow = (JSON.parse(plan.out) as { datasets: { dataset: string; run: string | null }[] })
      .datasets[0]!;
    assert.equal(slow.run, 'full', 'an interrupted run is caught up at the next start');
  });

  test('the journal verifies, and a record changed behind its back is found', async () => {
    const ok = await arca(['journal', 'verify'], { env });
    assert.equal(ok.code, 0, ok.out + ok.err);
    const target = readJournal(journalFile).find((r) => r.dataset === 'broken' && r.operation === 'backup')!;
    tamper(journalFile, `UPDATE records SET result = 'success' WHERE seq = ${target.seq}`);
    const bad = await arca(['journal', 'verify'], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.out + bad.err, new RegExp(`\\b${target.seq}\\b`));
  });
});
