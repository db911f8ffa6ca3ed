/**
 * Every operation a person starts from the command line lands in the journal, exactly once:
 * init, backup (partial when a source cannot be read, failed when the repository is not
 * there), forget with --prune (two records), prune, check (failed when it finds errors),
 * restore, key add/remove/passwd and copy, each with the fields the command knows. Dry runs
 * and listings record nothing, the chain verifies, no password (the repository's, or one in
 * a REST URL) ever reaches the journal, a journal that cannot be written costs a warning,
 * not the backup, and a backup stopped with Ctrl-C is recorded as interrupted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import type { JournalRecord } from '../src/journal/record.js';
import { type ArcaOptions, type ArcaResult, arca, projectRoot } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { readJournal } from './support/journal.js';
import { tempDir } from './support/tmp.js';

const passwords = ['journal-pw-one-7c1f', 'journal-pw-two-93ab', 'journal-pw-three-5d2e'];
const restPassword = 'rest-secret-4f8a';

/** A temporary directory with a journal, password files and a source tree of two small files. */
async function setUp(t: TestContext) {
  const dir = await tempDir(t, 'journal-cli');
  const journal = path.join(dir, 'state', 'journal.db');
  const pw = await Promise.all(
    passwords.map(async (p, i) => {
      const file = path.join(dir, `pw${i + 1}`);
      await writeFile(file, `${p}\n`);
      return file;
    }),
  );
  const src = path.join(dir, 'src');
  await mkdir(src);
  await writeFile(path.join(src, 'a.bin'), randomBytes(50_000));
  await writeFile(path.join(src, 'b.txt'), 'hello journal\n');
  let seen = 0;
  /** Runs arca, checks its exit code and returns it with the records it added to the journal. */
  const step = async (
    args: string[],
    code: number,
    opts: ArcaOptions = {},
  ): Promise<{ r: ArcaResult; added: JournalRecord[] }> => {
    const r = await arca(args, {
      cwd: dir,
      passwordFile: pw[0],
      ...opts,
      env: { ...opts.env, ARCA_JOURNAL: journal },
    });
    assert.equal(r.code, code, `arca ${args.join(' ')}: ${r.err}`);
    const records = existsSync(journal) ? readJournal(journal) : [];
    const added = records.slice(seen);
    seen = records.length;
    return { r, added };
  };
  return { dir, journal, pw, src, step };
}

/** The one record `added` holds, checked for the operation, result and repository. */
function only(added: JournalRecord[], operation: string, result: string, repository: string): JournalRecord {
  assert.equal(added.length, 1, `one record, not ${JSON.stringify(added, null, 1)}`);
  const rec = added[0]!;
  assert.deepEqual([rec.operation, rec.result, rec.repository], [operation, result, repository]);
  assert.ok(Date.parse(rec.started_at) <= Date.parse(rec.ended_at!));
  return rec;
}

test('each CLI operation is one record with what the command knows; dry runs and listings record nothing', async (t) => {
  const { dir, journal, pw, src, step } = await setUp(t);
  const repo = path.join(dir, 'repo');
  const init = only((await step(['-r', repo, 'init'], 0)).added, 'init', 'success', repo);
  assert.match(String(init.details.repository_id), /^[0-9a-f]{64}$/);
  await useCheapKey(repo, passwords[0]!);

  // A source that cannot be read: the snapshot is written, the backup is partial.
  const missing = path.join(dir, 'not-there');
  const partial = await step(['-r', repo, 'backup', '--tag', 'one', 'src', missing], 3);
  const b1 = only(partial.added, 'backup', 'partial', repo);
  assert.match(b1.snapshot_id!, /^[0-9a-f]{64}$/);
  assert.deepEqual([b1.files_read, b1.files_added], [2, 2]);
  assert.equal(b1.bytes_read, 50_000 + 14);
  assert.ok(b1.bytes_added! > 0);
  assert.match(b1.error!, /not-there/);
  assert.deepEqual(b1.details.paths, [src, missing]);
  assert.deepEqual(b1.details.tags, ['one']);
  assert.equal(b1.details.problems, 1);
  assert.equal(b1.details.parent, null);
  assert.equal(typeof b1.details.host, 'string');

  // No repository there: a failed backup, with the error.
  const nowhere = path.join(dir, 'no-repo');
  const failed = only((await step(['-r', nowhere, 'backup', 'src'], 10)).added, 'backup', 'failed', nowhere);
  assert.match(failed.error!, /no repository/);
  assert.equal(failed.snapshot_id, null);

  // Dry runs and listings are not recorded.
  assert.equal((await step(['-r', repo, 'backup', '--dry-run', 'src'], 0)).added.length, 0);
  assert.equal((await step(['-r', repo, 'snapshots'], 0)).added.length, 0);
  assert.equal((await step(['-r', repo, 'ls', 'latest'], 0)).added.length, 0);

  await writeFile(path.join(src, 'a.bin'), randomBytes(50_000));
  const b2 = only((await step(['-r', repo, 'backup', 'src'], 0)).added, 'backup', 'success', repo);
  assert.deepEqual([b2.details.parent, b2.files_added, b2.error], [null, 2, null]);
  const b3 = only((await step(['-r', repo, 'backup', 'src'], 0)).added, 'backup', 'success', repo);
  assert.deepEqual([b3.details.parent, b3.files_added], [b2.snapshot_id, 0]);

  const forget = ['-r', repo, 'forget', '--keep-last', '1', '--group-by', 'host', '--prune'];
  assert.equal((await step([...forget, '--dry-run'], 0)).added.length, 0);
  const forgotten = (await step(forget, 0)).added;
  assert.deepEqual(
    forgotten.map((r) => [r.operation, r.result]),
    [
      ['forget', 'success'],
      ['prune', 'success'],
    ],
  );
  assert.deepEqual(
    (forgotten[0]!.details.removed as string[]).sort(),
    [b1.snapshot_id, b2.snapshot_id].sort(),
  );
  assert.equal(forgotten[0]!.details.policy, 'keep 1 latest snapshots');
  assert.deepEqual(forgotten[0]!.details.keep, { last: 1 });
  assert.equal(forgotten[0]!.details.group_by, 'host');
  assert.ok((forgotten[1]!.details.packs_deleted as number) >= 1);
  assert.ok((forgotten[1]!.details.bytes_freed as number) >= 50_000);

  const pruned = only((await step(['-r', repo, 'prune'], 0)).added, 'prune', 'success', repo);
  assert.equal(pruned.details.packs_deleted, 0);

  const checked = only(
    (await step(['-r', repo, 'check', '--read-data-subset', '1/1'], 0)).added,
    'check',
    'success',
    repo,
  );
  assert.deepEqual([checked.details.read_data, checked.details.errors], ['1/1', 0]);
  assert.ok(checked.bytes_read! > 50_000);

  const target = path.join(dir, 'restored');
  const restored = only(
    (await step(['-r', repo, 'restore', 'latest', '--target', target], 0)).added,
    'restore',
    'success',
    repo,
  );
  assert.deepEqual([restored.snapshot_id, restored.files_read], [b3.snapshot_id, 2]);
  assert.equal(restored.bytes_read, 50_000 + 14);
  assert.equal(restored.details.target, target);

  const keyEnv = (file: string) => ({ ARCA_NEW_PASSWORD_FILE: file });
  const added = only(
    (await step(['-r', repo, 'key', 'add', '--host', 'h2'], 0, { env: keyEnv(pw[1]!) })).added,
    'key-change',
    'success',
    repo,
  );
  assert.deepEqual([added.details.action, added.details.host], ['add', 'h2']);
  const newKey = String(added.details.key_id);
  assert.ok((await readdir(path.join(repo, 'keys'))).includes(newKey));
  const removed = only(
    (await step(['-r', repo, 'key', 'remove', newKey.slice(0, 8)], 0)).added,
    'key-change',
    'success',
    repo,
  );
  assert.deepEqual([removed.details.action, removed.details.removed_key_id], ['remove', newKey]);
  const oldKey = (await readdir(path.join(repo, 'keys')))[0];
  const passwd = only(
    (await step(['-r', repo, 'key', 'passwd'], 0, { env: keyEnv(pw[2]!) })).added,
    'key-change',
    'success',
    repo,
  );
  assert.equal(passwd.details.action, 'passwd');
  assert.equal(passwd.details.removed_key_id, oldKey);
  assert.deepEqual(await readdir(path.join(repo, 'keys')), [passwd.details.key_id]);
  await useCheapKey(repo, passwords[2]!);

  const dst = path.join(dir, 'dst');
  only((await step(['-r', dst, 'init'], 0)).added, 'init', 'success', dst);
  await useCheapKey(dst, passwords[0]!);
  const copyArgs = ['-r', dst, 'copy', '--from-repo', repo, '--from-password-file', pw[2]!];
  const copied = only((await step(copyArgs, 0)).added, 'copy', 'success', dst);
  assert.equal(copied.details.from, repo);
  const copies = copied.details.copied as { source: string; id: string }[];
  assert.deepEqual(
    copies.map((c) => c.source),
    [b3.snapshot_id],
  );
  assert.match(copies[0]!.id, /^[0-9a-f]{64}$/);
  assert.deepEqual(copied.details.skipped, []);
  assert.ok(copied.bytes_added! > 50_000);
  const again = only((await step(copyArgs, 0)).added, 'copy', 'success', dst);
  assert.deepEqual([again.details.copied, again.details.skipped], [[], [b3.snapshot_id]]);

  // A pack gone: check finds errors, exits 1, and the record says failed.
  const dataDir = path.join(dst, 'data');
  for (const sub of await readdir(dataDir)) {
    for (const pack of await readdir(path.join(dataDir, sub))) await rm(path.join(dataDir, sub, pack));
  }
  const broken = only((await step(['-r', dst, 'check'], 1)).added, 'check', 'failed', dst);
  assert.equal(broken.error, 'repository contains errors');
  assert.ok((broken.details.errors as number) > 0);
  assert.equal(broken.details.read_data, null);

  const records = readJournal(journal);
  const verify = await arca(['journal', 'verify', '--expect-count', String(records.length)], {
    env: { ARCA_JOURNAL: journal },
  });
  assert.equal(verify.code, 0, verify.out + verify.err);
  assert.match(verify.out, new RegExp(`${records.length} records checked, intact`));
  assert.equal((await arca(['journal'], { env: { ARCA_JOURNAL: journal } })).code, 0);
  assert.equal(readJournal(journal).length, records.length, 'the journal command does not record itself');
  await assertNoSecrets(journal, passwords);
});

test('a password in a REST URL never reaches the journal', async (t) => {
  const { dir, journal, step } = await setUp(t);
  // A server that refuses every request: the backup fails at once, without retries.
  const server = http.createServer((_req, res) => {
    res.statusCode = 401;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const url = `rest:http://backup:${restPassword}@127.0.0.1:${port}/repo`;
  const { r, added } = await step(['-r', url, 'backup', 'src'], 1);
  assert.ok(!r.err.includes(restPassword));
  const rec = only(added, 'backup', 'failed', `rest:http://backup:***@127.0.0.1:${port}/repo`);
  assert.match(rec.error!, /authentication failed/);
  await assertNoSecrets(journal, [restPassword]);
  assert.ok(existsSync(path.join(dir, 'state')));
});

test('a journal that cannot be written costs a warning, not the backup', async (t) => {
  const { dir, journal, step } = await setUp(t);
  const repo = path.join(dir, 'repo');
  await step(['-r', repo, 'init'], 0);
  await useCheapKey(repo, passwords[0]!);
  const blocked = path.join(dir, 'blocked');
  await mkdir(blocked);
  const r = await arca(['-r', repo, 'backup', 'src'], {
    cwd: dir,
    passwordFile: path.join(dir, 'pw1'),
    env: { ARCA_JOURNAL: blocked },
  });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /snapshot [0-9a-f]{8} saved/);
  const warnings = r.err.split('\n').filter((l) => l !== '');
  assert.equal(warnings.length, 1, r.err);
  assert.match(warnings[0]!, /^arca: warning: this backup was not recorded in the journal: .*blocked/);
  assert.equal(readJournal(journal).length, 1, 'only the init');
});

test('Ctrl-C during a backup records it as interrupted, after the lock is released', async (t) => {
  const { dir, journal, pw, step } = await setUp(t);
  const repo = path.join(dir, 'repo');
  await step(['-r', repo, 'init'], 0);
  await useCheapKey(repo, passwords[0]!);
  // A backup of standard input that never ends: it is surely running when the signal comes.
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'arca.js'), 'backup', '--stdin'], {
    cwd: dir,
    env: { ...process.env, ARCA_REPOSITORY: repo, ARCA_PASSWORD_FILE: pw[0], ARCA_JOURNAL: journal },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  child.stdin.on('error', () => {}); // the pipe breaks when arca exits
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  // A write larger than a pipe holds completes only once arca reads it, which the backup
  // does after it has opened and locked the repository.
  await new Promise<void>((resolve, reject) =>
    child.stdin.write(randomBytes(4 * 1024 * 1024), (err) => (err ? reject(err) : resolve())),
  );
  const locks = path.join(repo, 'locks');
  const lockFiles = async (): Promise<string[]> => (await readdir(locks)).filter((f) => !f.startsWith('.'));
  assert.equal((await lockFiles()).length, 1, 'the backup holds its lock');
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.deepEqual(await lockFiles(), [], 'the lock was released');
  const rec = only(readJournal(journal).slice(1), 'backup', 'interrupted', repo);
  assert.equal(rec.error, 'interrupted');
  assert.deepEqual(rec.details.paths, ['/stdin']);
});

/** Neither the journal database's bytes nor `arca journal --json` contain any of `secrets`. */
async function assertNoSecrets(journal: string, secrets: string[]): Promise<void> {
  const files = [journal, `${journal}-wal`].filter((f) => existsSync(f));
  const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
  const json = await arca(['journal', '--json'], { env: { ARCA_JOURNAL: journal } });
  assert.equal(json.code, 0, json.err);
  for (const secret of secrets) {
    assert.equal(bytes.indexOf(secret), -1, `${secret} is in the journal database`);
    assert.ok(!json.out.includes(secret), `${secret} is in arca journal --json`);
  }
}
