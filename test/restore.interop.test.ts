/**
 * arca reads what restic writes: restic backs up a fixture tree that covers every kind of
 * entry and metadata, then `arca restore` must reproduce it exactly, agree with
 * `restic restore`, and `arca ls`/`dump`/`snapshots` must agree with restic's views.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { arca } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { compareTrees } from './support/compare-trees.js';
import { type FixtureInfo, makeFixtureTree } from './support/fixture-tree.js';
import {
  restic,
  resticBackup,
  resticInit,
  resticRestore,
  resticSnapshotsJson,
  writePasswordFile,
} from './support/restic.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const skip = skipUnless('restic', 'restic');

describe('restore from a restic repository', {
  skip,
}, () => {
  let dir: string;
  let repo: string;
  let pw: string;
  let fixture: FixtureInfo;
  let snapshot: string;
  const opts = (): { repo: string; passwordFile: string } => ({ repo, passwordFile: pw });
  /**
   * What restic 0.14 does not store cannot come back: sockets, symlink targets that are not
   * UTF-8, and extended attributes of symlinks. `under` is the compared subdirectory.
   */
  const notStoredByRestic = (under: string): ((rel: Buffer) => boolean) => {
    const set = new Set(
      [...fixture.cases.socket, ...fixture.cases.nonUtf8SymlinkTarget, ...fixture.cases.symlinkXattr].map(
        (p) => p.toString('latin1'),
      ),
    );
    const prefix = under === '' ? '' : `${under}/`;
    return (rel) => set.has(prefix + rel.toString('latin1'));
  };

  before(async () => {
    dir = await makeTempDir('restore');
    repo = path.join(dir, 'repo');
    pw = await writePasswordFile(dir, 'correct horse battery staple');
    fixture = await makeFixtureTree(path.join(dir, 'src'), { large: true });
    await resticInit(repo, pw);
    await useCheapKey(repo, 'correct horse battery staple');
    snapshot = await resticBackup(repo, pw, ['src'], { cwd: dir, tags: ['fixture'] });
  });
  after(async () => {
    await removeTree(dir);
  });

  test('reproduces content and metadata exactly, and --verify passes', async () => {
    const target = path.join(dir, 'arca-out');
    const r = await arca(['restore', snapshot.slice(0, 10), '--target', target, '--verify'], opts());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /verified \d+ files/);
    const diffs = await compareTrees(fixture.root, path.join(target, 'src'), {
      ignore: notStoredByRestic(''),
    });
    assert.deepEqual(diffs, []);
  });

  test('agrees with restic restore', async () => {
    const a = path.join(dir, 'arca-out2');
    const b = path.join(dir, 'restic-out');
    assert.equal((await arca(['restore', 'latest', '--target', a], opts())).code, 0);
    await resticRestore(repo, pw, snapshot, b);
    // restic 0.14 cannot keep a symlink target that is not UTF-8; arca restores what restic stored.
    assert.deepEqual(await compareTrees(path.join(b, 'src'), path.join(a, 'src')), []);
  });

  test('leaves holes where the data is zeros', async () => {
    const target = path.join(dir, 'sparse-out');
    assert.equal((await arca(['restore', 'latest', '--target', target], opts())).code, 0);
    for (const rel of fixture.cases.sparseFile) {
      const st = lstatSync(Buffer.concat([Buffer.from(`${target}/src/`), rel]));
      assert.ok(
        st.blocks * 512 < st.size,
        `${rel} should be sparse (${st.blocks} blocks for ${st.size} bytes)`,
      );
    }
  });

  test('include and exclude select what restic selects', async () => {
    for (const flags of [
      ['--include', '*.txt'],
      ['--exclude', 'deep'],
      ['--include', '/src/symlinks'],
      ['--iexclude', '*.BIN'],
    ]) {
      const a = path.join(dir, `sel-arca-${flags.join('')}`.replace(/[^a-z0-9-]/gi, '_'));
      const b = path.join(dir, `sel-restic-${flags.join('')}`.replace(/[^a-z0-9-]/gi, '_'));
      assert.equal((await arca(['restore', 'latest', '--target', a, ...flags], opts())).code, 0);
      await restic(['restore', snapshot, '--target', b, ...flags], opts());
      assert.deepEqual(listTree(a), listTree(b), `selection differs for ${flags.join(' ')}`);
    }
  });

  test('restores a sub-path with ID:path', async () => {
    const target = path.join(dir, 'sub-out');
    const r = await arca(['restore', `${snapshot}:/src/symlinks`, '--target', target], opts());
    assert.equal(r.code, 0, r.err);
    const skip = notStoredByRestic('symlinks');
    const diffs = await compareTrees(path.join(fixture.root, 'symlinks'), target, { ignore: skip });
    // The target directory itself is the user's, not the snapshot's: its metadata is not restored.
    assert.deepEqual(
      diffs.filter((d) => !d.startsWith('".":')),
      [],
    );
  });

  test('never replaces existing files unless --overwrite', async () => {
    const target = path.join(dir, 'exists-out');
    mkdirSync(path.join(target, 'src'), { recursive: true });
    const rel = fixture.cases.emptyFile[0]!.toString('utf8');
    mkdirSync(path.dirname(path.join(target, 'src', rel)), { recursive: true });
    const victim = path.join(target, 'src', rel);
    writeFileSync(victim, 'keep me');
    const r = await arca(['restore', 'latest', '--target', target, '--include', `/src/${rel}`], opts());
    assert.equal(r.code, 1);
    assert.match(r.err, /already exists/);
    assert.equal(readFileSync(victim, 'utf8'), 'keep me');
    const r2 = await arca(
      ['restore', 'latest', '--target', target, '--include', `/src/${rel}`, '--overwrite'],
      opts(),
    );
    assert.equal(r2.code, 0, r2.err);
    assert.equal(readFileSync(victim, 'utf8'), '');
  });

  test('does not write through a symlink planted in the target', async () => {
    const target = path.join(dir, 'planted-out');
    const outside = path.join(dir, 'outside');
    mkdirSync(target, { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, path.join(target, 'src'));
    const r = await arca(['restore', 'latest', '--target', target], opts());
    assert.equal(r.code, 1);
    assert.deepEqual(readdirSync(outside), []);
    const r2 = await arca(['restore', 'latest', '--target', target, '--overwrite'], opts());
    assert.equal(r2.code, 0, r2.err);
    assert.deepEqual(readdirSync(outside), []);
    assert.ok(lstatSync(path.join(target, 'src')).isDirectory());
  });

  test('snapshots, ls and dump agree with restic', async () => {
    const ours = JSON.parse((await arca(['snapshots', '--json'], opts())).out) as {
      id: string;
      tree: string;
      tags: string[];
    }[];
    const theirs = await resticSnapshotsJson(repo, pw);
    assert.deepEqual(
      ours.map((s) => [s.id, s.tree, s.tags]),
      theirs.map((s) => [s.id, s.tree, s.tags]),
    );
    const table = await arca(['snapshots', '--tag', 'fixture'], opts());
    assert.match(table.out, new RegExp(snapshot.slice(0, 8)));
    assert.match(table.out, /1 snapshots/);

    const paths = (text: string): string[] =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { struct_type: string; path?: string })
        .filter((j) => j.struct_type === 'node')
        .map((j) => j.path!)
        .sort();
    const lsOurs = await arca(['ls', '--json', 'latest'], opts());
    assert.equal(lsOurs.code, 0, lsOurs.err);
    const lsTheirs = await restic(['ls', '--json', 'latest'], opts());
    assert.deepEqual(paths(lsOurs.out), paths(lsTheirs.stdout));

    const big = fixture.cases.mixedContent[0]!;
    const dump = await arca(['dump', 'latest', `/src/${big.toString('utf8')}`], opts());
    assert.equal(dump.code, 0, dump.err);
    const want = readFileSync(Buffer.concat([Buffer.from(`${fixture.root}/`), big]));
    assert.equal(
      createHash('sha256').update(dump.stdout).digest('hex'),
      createHash('sha256').update(want).digest('hex'),
    );
  });

  test('bad input: wrong password, no repository, unknown snapshot', async () => {
    mkdirSync(path.join(dir, 'wrongpw'));
    const wrong = await writePasswordFile(path.join(dir, 'wrongpw'), 'wrong');
    const r1 = await arca(['snapshots'], { repo, passwordFile: wrong });
    assert.equal(r1.code, 12);
    assert.equal(r1.err.trim().split('\n').length, 1);
    assert.ok(!r1.err.includes('wrong\n') && !r1.err.includes('correct horse'));
    const r2 = await arca(['snapshots'], { repo: path.join(dir, 'nope'), passwordFile: pw });
    assert.equal(r2.code, 10);
    const r3 = await arca(['restore', 'deadbeef', '--target', path.join(dir, 'x')], opts());
    assert.equal(r3.code, 1);
    assert.match(r3.err, /no snapshot matches/);
    assert.ok(!existsSync(path.join(dir, 'x')));
  });
});

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: Buffer, rel: string): void => {
    for (const n of readdirSync(d, { encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), n]);
      const r = `${rel}/${n.toString('latin1')}`;
      out.push(r);
      if (lstatSync(p).isDirectory()) walk(p, r);
    }
  };
  if (existsSync(root)) walk(Buffer.from(root), '');
  return out.sort();
}
