/**
 * `arca copy` between local repositories, with restic 0.14 as the judge: what arca copies
 * restic checks and restores byte-exactly; a second copy copies nothing; with copied
 * chunker parameters no data blob is stored twice; `restic copy` and `arca copy` each read
 * what the other wrote; a damaged destination pack is caught by `--verify-subset`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { arca, arcaOk } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { compareTrees } from './support/compare-trees.js';
import { jsonLines } from './support/json-lines.js';
import {
  restic,
  resticCheck,
  resticRestore,
  resticSnapshotsJson,
  writePasswordFile,
} from './support/restic.js';
import { makeTempDir, removeTree, tempDir } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const password = 'copy that';

interface CopySummary {
  message_type: 'summary';
  snapshots_copied: { source: string; id: string | null }[];
  snapshots_skipped: { source: string; existing: string }[];
  data_blobs: number;
  tree_blobs: number;
  packs_written: number;
  packs_adopted: number;
  verification: { trees: number; data_blobs: number; packs_read: number; problems: string[] } | null;
}

function copySummary(out: string): CopySummary {
  const s = jsonLines<CopySummary>(out).find((l) => l.message_type === 'summary');
  assert.ok(s, `no summary in ${out}`);
  return s;
}

async function makeSource(root: string): Promise<string> {
  const src = path.join(root, 'src');
  await mkdir(path.join(src, 'docs', 'deep'), { recursive: true });
  await writeFile(path.join(src, 'big.bin'), randomBytes(3 * 1024 * 1024 + 5));
  await writeFile(path.join(src, 'docs', 'readme.txt'), 'copy me\n'.repeat(1000));
  await writeFile(path.join(src, 'docs', 'deep', 'small.bin'), randomBytes(1234));
  await writeFile(path.join(src, 'empty'), '');
  return src;
}

async function initRepo(dir: string, pw: string, extra: string[] = []): Promise<void> {
  await arcaOk(['init', ...extra], { repo: dir, passwordFile: pw });
  await useCheapKey(dir, password);
}

describe('arca copy', { skip: skipUnless('restic', 'restic') }, () => {
  let root: string;
  let pw: string;
  let src: string;
  let from: string;

  after(() => removeTree(root));
  before(async () => {
    // One source repository with two snapshots, shared by the cases below (they only read it).
    root = await makeTempDir('copy');
    pw = await writePasswordFile(root, password);
    src = await makeSource(root);
    from = path.join(root, 'from');
    await initRepo(from, pw);
    await arcaOk(['backup', '--tag', 'first', src], { repo: from, passwordFile: pw });
    await writeFile(path.join(src, 'docs', 'new.txt'), 'added later\n');
    await arcaOk(['backup', '--tag', 'second', src], { repo: from, passwordFile: pw });
  });

  test('copies every snapshot; restic checks and restores the copy; a second run copies nothing', async (t) => {
    const dir = await tempDir(t, 'copy-dst');
    const to = path.join(dir, 'to');
    await initRepo(to, pw);
    const first = copySummary(
      (
        await arcaOk(['--json', 'copy', '--from-repo', from, '--from-password-file', pw], {
          repo: to,
          passwordFile: pw,
        })
      ).out,
    );
    assert.equal(first.snapshots_copied.length, 2);
    assert.ok(first.data_blobs > 0);
    assert.ok(first.verification !== null && first.verification.problems.length === 0);

    const source = await resticSnapshotsJson(from, pw);
    const copied = await resticSnapshotsJson(to, pw);
    assert.equal(copied.length, 2);
    for (const c of copied) {
      const s = source.find((x) => x.time === c.time);
      assert.ok(s, `copy ${c.id} has no source`);
      assert.equal(c.tree, s.tree, 'the tree keeps its ID');
      assert.deepEqual(c.tags, s.tags);
      assert.equal(c.parent, undefined, 'a copy has no parent');
      assert.equal((c as unknown as { original?: string }).original, s.id);
    }
    const check = await resticCheck(to, pw, true);
    assert.ok(check.ok, check.output);
    const latest = copied.find((c) => c.tags?.includes('second'));
    assert.ok(latest);
    const target = path.join(dir, 'restored');
    await resticRestore(to, pw, latest.id, target);
    assert.deepEqual(await compareTrees(src, path.join(target, src)), []);

    const again = copySummary(
      (
        await arcaOk(['--json', 'copy', '--from-repo', from, '--from-password-file', pw], {
          repo: to,
          passwordFile: pw,
        })
      ).out,
    );
    assert.equal(again.snapshots_copied.length, 0);
    assert.equal(again.snapshots_skipped.length, 2);
    assert.equal(again.packs_written, 0);
    assert.equal((await resticSnapshotsJson(to, pw)).length, 2);
  });

  test('selects snapshots by ID and by tag, and copies nothing in a dry run', async (t) => {
    const dir = await tempDir(t, 'copy-select');
    const to = path.join(dir, 'to');
    await initRepo(to, pw);
    const [oldest] = await resticSnapshotsJson(from, pw);
    assert.ok(oldest);
    const dry = copySummary(
      (
        await arcaOk(
          ['--json', 'copy', '--dry-run', '--from-repo', from, '--from-password-file', pw, oldest.short_id],
          {
            repo: to,
            passwordFile: pw,
          },
        )
      ).out,
    );
    assert.deepEqual(dry.snapshots_copied, [{ source: oldest.id, id: null }]);
    assert.deepEqual(await readdir(path.join(to, 'snapshots')), []);
    assert.deepEqual(await readdir(path.join(to, 'index')), []);

    await arcaOk(['copy', '--from-repo', from, '--from-password-file', pw, '--tag', 'second'], {
      repo: to,
      passwordFile: pw,
    });
    const copied = await resticSnapshotsJson(to, pw);
    assert.deepEqual(
      copied.map((c) => c.tags),
      [['second']],
    );
  });

  test('with copied chunker parameters, data already in the destination is not stored again', async (t) => {
    const dir = await tempDir(t, 'copy-dedup');
    const to = path.join(dir, 'to');
    await initRepo(to, pw, ['--copy-chunker-params', '--from-repo', from, '--from-password-file', pw]);
    // The destination backs up the same files itself first.
    await arcaOk(['backup', src], { repo: to, passwordFile: pw });
    const s = copySummary(
      (
        await arcaOk(['--json', 'copy', '--from-repo', from, '--from-password-file', pw], {
          repo: to,
          passwordFile: pw,
        })
      ).out,
    );
    assert.equal(s.snapshots_copied.length, 2);
    assert.equal(s.data_blobs, 0, 'every data blob was already there');
  });

  test('--to names the destination; restic copy reads what arca copied and the other way round', async (t) => {
    const dir = await tempDir(t, 'copy-restic');
    const arcaDst = path.join(dir, 'arca-dst');
    const resticDst = path.join(dir, 'restic-dst');
    await initRepo(arcaDst, pw);
    // restic copies arca's source repository into a repository of its own.
    await restic(['init'], { repo: resticDst, passwordFile: pw });
    await useCheapKey(resticDst, password);
    await restic(['copy', '--from-repo', from, '--from-password-file', pw], {
      repo: resticDst,
      passwordFile: pw,
    });
    // arca copies restic's copy onward, naming the destination with --to.
    await arcaOk(['copy', '--from-repo', resticDst, '--from-password-file', pw, '--to', arcaDst], {
      passwordFile: pw,
    });
    const check = await arca(['check', '--read-data'], { repo: arcaDst, passwordFile: pw });
    assert.equal(check.code, 0, check.err);
    const listed = await resticSnapshotsJson(arcaDst, pw);
    assert.equal(listed.length, 2);
    const target = path.join(dir, 'restored');
    const latest = listed.find((c) => c.tags?.includes('second'));
    assert.ok(latest);
    await arcaOk(['restore', latest.id, '--target', target], { repo: arcaDst, passwordFile: pw });
    assert.deepEqual(await compareTrees(src, path.join(target, src)), []);
    // restic copy over arca's copy recognises the snapshots as already copied.
    const again = await restic(['copy', '--from-repo', arcaDst, '--from-password-file', pw], {
      repo: resticDst,
      passwordFile: pw,
    });
    assert.equal((await resticSnapshotsJson(resticDst, pw)).length, 2, again.stdout);
  });

  test('--verify-subset reads back new packs and reports a damaged one', async (t) => {
    const dir = await tempDir(t, 'copy-verify');
    const to = path.join(dir, 'to');
    await initRepo(to, pw);
    const s = copySummary(
      (
        await arcaOk(
          ['--json', 'copy', '--verify-subset', '100%', '--from-repo', from, '--from-password-file', pw],
          {
            repo: to,
            passwordFile: pw,
          },
        )
      ).out,
    );
    assert.ok(s.verification);
    assert.equal(s.verification.packs_read, s.packs_written);
    assert.ok(s.packs_written > 0);

    const bad = await arca(
      ['copy', '--verify-subset', '150%', '--from-repo', from, '--from-password-file', pw],
      {
        repo: to,
        passwordFile: pw,
      },
    );
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--verify-subset/);
  });

  test('a copy killed after its first pack is finished by the next run, which indexes that pack', async (t) => {
    const dir = await tempDir(t, 'copy-killed');
    const to = path.join(dir, 'to');
    await initRepo(to, pw);
    const args = ['copy', '--from-repo', from, '--from-password-file', pw];
    const killed = await arca(args, {
      repo: to,
      passwordFile: pw,
      env: { ARCA_TEST_CRASH_AT: 'backup-after-first-pack' },
    });
    assert.notEqual(killed.code, 0, 'the copy was killed');
    assert.deepEqual(await readdir(path.join(to, 'snapshots')), []);
    assert.deepEqual(await readdir(path.join(to, 'index')), [], 'killed before any index was written');
    await arcaOk(['unlock'], { repo: to, passwordFile: pw });
    const s = copySummary((await arcaOk(['--json', ...args], { repo: to, passwordFile: pw })).out);
    assert.ok(s.packs_adopted >= 1, `packs adopted: ${s.packs_adopted}`);
    assert.equal(s.snapshots_copied.length, 2);
    const check = await resticCheck(to, pw, true);
    assert.ok(check.ok, check.output);
  });

  test('refuses without a source, or with a wrong source password, changing nothing', async (t) => {
    const dir = await tempDir(t, 'copy-bad');
    const to = path.join(dir, 'to');
    await initRepo(to, pw);
    const none = await arca(['copy'], { repo: to, passwordFile: pw });
    assert.equal(none.code, 2);
    assert.match(none.err, /--from-repo/);
    const wrong = await writePasswordFile(dir, 'not it');
    const r = await arca(['copy', '--from-repo', from, '--from-password-file', wrong], {
      repo: to,
      passwordFile: pw,
    });
    assert.equal(r.code, 12);
    assert.match(r.err, /source repository/);
    assert.deepEqual(await readdir(path.join(to, 'snapshots')), []);
  });
});
