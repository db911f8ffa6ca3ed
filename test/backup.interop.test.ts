/**
 * restic reads what arca writes: arca backs up the fixture tree, restic checks the
 * repository and restores it exactly; both programs produce the same data blob IDs for the
 * same bytes; change detection, exclusion, stdin and partial failures behave as restic's.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { arca, projectRoot } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { compareTrees } from './support/compare-trees.js';
import { type FixtureInfo, makeFixtureTree } from './support/fixture-tree.js';
import { backupSummary } from './support/json-lines.js';
import {
  restic,
  resticBackup,
  resticCheck,
  resticInit,
  resticRestore,
  writePasswordFile,
} from './support/restic.js';
import { run } from './support/run.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { isRoot, skipUnless } from './support/tools.js';

const skip = skipUnless('restic', 'restic');

interface Summary {
  message_type: string;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  snapshot_id?: string;
  errors: { path: string; message: string }[];
}

describe('backup written by arca, read by restic', {
  skip,
}, () => {
  let dir: string;
  let repo: string;
  let pw: string;
  let fixture: FixtureInfo;
  let first: Summary;
  const opts = (): { repo: string; passwordFile: string; cwd: string } => ({
    repo,
    passwordFile: pw,
    cwd: dir,
  });
  // restic 0.14 cannot restore a symlink target that is not UTF-8 (arca stores it for newer
  // restic versions), arca leaves xattrs of symlinks out, and restic skips sockets.
  const notRestorableByRestic = (rel: Buffer): boolean =>
    [...fixture.cases.socket, ...fixture.cases.nonUtf8SymlinkTarget, ...fixture.cases.symlinkXattr].some(
      (p) => p.equals(rel),
    );

  before(async () => {
    dir = await makeTempDir('backup');
    repo = path.join(dir, 'repo');
    pw = await writePasswordFile(dir, 'arca writes, restic reads');
    fixture = await makeFixtureTree(path.join(dir, 'src'), { large: true });
    const init = await arca(['init'], opts());
    assert.equal(init.code, 0, init.err);
    await useCheapKey(repo, 'arca writes, restic reads');
    const r = await arca(['backup', '--json', '--tag', 'first', 'src'], opts());
    assert.equal(r.code, 0, r.err);
    first = backupSummary<Summary>(r.out);
  });
  after(async () => {
    await removeTree(dir);
  });

  test('restic check --read-data accepts the repository', async () => {
    const c = await resticCheck(repo, pw, true);
    assert.ok(c.ok, c.output);
    assert.match(c.output, /no errors were found/);
  });

  test('restic restore reproduces content and metadata exactly', async () => {
    const target = path.join(dir, 'restic-out');
    await resticRestore(repo, pw, first.snapshot_id!, target);
    const diffs = await compareTrees(fixture.root, path.join(target, 'src'), {
      ignore: notRestorableByRestic,
    });
    assert.deepEqual(diffs, []);
  });

  test('arca restore reproduces what arca stored, non-UTF-8 link targets included', async () => {
    const target = path.join(dir, 'arca-out');
    const r = await arca(['restore', 'latest', '--target', target, '--verify'], opts());
    assert.equal(r.code, 0, r.err);
    const skip = (rel: Buffer): boolean =>
      [...fixture.cases.socket, ...fixture.cases.symlinkXattr].some((p) => p.equals(rel));
    assert.deepEqual(await compareTrees(fixture.root, path.join(target, 'src'), { ignore: skip }), []);
  });

  test('an unchanged tree is not read again; a changed file is', async () => {
    const again = backupSummary<Summary>((await arca(['backup', '--json', 'src'], opts())).out);
    assert.equal(again.files_new + again.files_changed, 0);
    assert.equal(again.files_unmodified, first.files_new);
    assert.equal(again.data_blobs, 0);
    const victim = path.join(dir, 'src', fixture.cases.sizeBoundary[0]!.toString('utf8'));
    writeFileSync(victim, Buffer.concat([readFileSync(victim), Buffer.from('one more line\n')]));
    const changed = backupSummary<Summary>((await arca(['backup', '--json', 'src'], opts())).out);
    assert.equal(changed.files_changed, 1);
    assert.ok(changed.data_blobs >= 1);
    const forced = backupSummary<Summary>((await arca(['backup', '--json', '--force', 'src'], opts())).out);
    assert.equal(forced.files_unmodified, 0);
    assert.equal(forced.data_blobs, 0, 'a forced re-read finds every blob already stored');
    const c = await resticCheck(repo, pw, false);
    assert.ok(c.ok, c.output);
  });

  test('restic backup of the same data adds no data blobs (same chunker, same IDs)', async () => {
    const r = await restic(['backup', '--json', 'src'], { repo, passwordFile: pw, cwd: dir });
    const summary = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { message_type: string; data_blobs: number })
      .find((j) => j.message_type === 'summary');
    assert.equal(summary?.data_blobs, 0);
  });

  test('--exclude, --exclude-file and --exclude-caches leave out what restic would', async () => {
    mkdirSync(path.join(dir, 'src2', 'cache'), { recursive: true });
    writeFileSync(
      path.join(dir, 'src2', 'cache', 'CACHEDIR.TAG'),
      'Signature: 8a477f597d28d172789f06886806bc55\n',
    );
    writeFileSync(path.join(dir, 'src2', 'cache', 'junk'), 'x');
    writeFileSync(path.join(dir, 'src2', 'keep.txt'), 'keep');
    writeFileSync(path.join(dir, 'src2', 'drop.tmp'), 'drop');
    writeFileSync(path.join(dir, 'src2', 'drop.log'), 'drop');
    writeFileSync(path.join(dir, 'excludes'), '# comment\n*.log\n');
    const r = await arca(
      ['backup', '--json', '--exclude', '*.tmp', '--exclude-file', 'excludes', '--exclude-caches', 'src2'],
      opts(),
    );
    assert.equal(r.code, 0, r.err);
    const ls = await restic(['ls', backupSummary<Summary>(r.out).snapshot_id!], { repo, passwordFile: pw });
    const listed = ls.stdout.split('\n').filter((l) => l.startsWith('/'));
    assert.deepEqual(listed.sort(), ['/src2', '/src2/keep.txt']);
  });

  test('--stdin stores a stream that restic dumps back', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 'pg_dump output ');
    const r = await arca(['backup', '--json', '--stdin', '--stdin-filename', 'db.sql', '--tag', 'dump'], {
      ...opts(),
      input: data,
    });
    assert.equal(r.code, 0, r.err);
    const id = backupSummary<Summary>(r.out).snapshot_id!;
    const dump = await restic(['dump', id, '/db.sql'], { repo, passwordFile: pw });
    assert.equal(dump.stdout.length, data.toString('utf8').length);
    assert.equal(dump.stdout, data.toString('utf8'));
  });

  test('a file that cannot be read is reported, the snapshot is still written, exit code 3', async (t) => {
    if (!isRoot()) {
      t.skip('needs root to switch to an unprivileged user');
      return;
    }
    // Root reads everything, so the backup runs as nobody against a file only root may read.
    const udir = path.join(dir, 'nobody');
    mkdirSync(path.join(udir, 'data'), { recursive: true });
    writeFileSync(path.join(udir, 'data', 'readable'), 'fine');
    writeFileSync(path.join(udir, 'data', 'secret'), 'root only');
    chmodSync(path.join(udir, 'data', 'secret'), 0o000);
    const upw = path.join(udir, 'pw');
    writeFileSync(upw, 'pw for nobody');
    chmodSync(dir, 0o755);
    chownSync(udir, 65534, 65534);
    chownSync(upw, 65534, 65534);
    const urepo = path.join(udir, 'repo');
    const node = process.execPath;
    const bin = path.join(projectRoot, 'bin', 'arca.js');
    const env = { ...process.env, ARCA_REPOSITORY: urepo, ARCA_PASSWORD_FILE: upw, HOME: udir };
    const setpriv = ['--reuid=65534', '--regid=65534', '--clear-groups', node, bin];
    assert.equal((await run('setpriv', [...setpriv, 'init'], { cwd: udir, env })).code, 0);
    const b = await run('setpriv', [...setpriv, 'backup', '--json', 'data'], { cwd: udir, env });
    assert.equal(b.code, 3, b.stderr.toString());
    assert.match(b.stderr.toString(), /secret.*EACCES/);
    const s = backupSummary<Summary>(b.stdout.toString());
    assert.ok(s.snapshot_id);
    const ls = await restic(['ls', s.snapshot_id!], { repo: urepo, passwordFile: upw });
    assert.match(ls.stdout, /\/data\/readable/);
    assert.doesNotMatch(ls.stdout, /secret/);
  });
});

describe('restic writes, arca adds nothing new', {
  skip,
}, () => {
  test('arca backup after restic backup of the same tree stores no data blob', async (t) => {
    const dir = await makeTempDir('samechunks');
    t.after(() => removeTree(dir));
    const repo = path.join(dir, 'repo');
    const pw = await writePasswordFile(dir, 'pw');
    await makeFixtureTree(path.join(dir, 'src'));
    await resticInit(repo, pw);
    await resticBackup(repo, pw, ['src'], { cwd: dir });
    const r = await arca(['backup', '--json', 'src'], { repo, passwordFile: pw, cwd: dir });
    assert.equal(r.code, 0, r.err);
    assert.equal(backupSummary<Summary>(r.out).data_blobs, 0);
  });
});
