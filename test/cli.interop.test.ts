/**
 * The command line as users meet it: password sources, locks shared with restic, damaged
 * repositories during restore, dry runs, version-1 repositories, and the progress display.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalBackend } from '../src/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { arca, projectRoot } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { restic, resticBackup, resticInit, writePasswordFile } from './support/restic.js';
import { run } from './support/run.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { hasTool, skipUnless } from './support/tools.js';

const skip = skipUnless('restic', 'restic');

function listRepo(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      if (n.isDirectory()) walk(path.join(d, n.name));
      else out.push(path.relative(dir, path.join(d, n.name)));
    }
  };
  walk(dir);
  return out.sort();
}

describe('command line', { skip }, () => {
  let dir: string;
  let repo: string;
  let pw: string;
  const o = (): { repo: string; passwordFile: string; cwd: string } => ({ repo, passwordFile: pw, cwd: dir });

  before(async () => {
    dir = await makeTempDir('cli');
    repo = path.join(dir, 'repo');
    pw = await writePasswordFile(dir, 's3cret-pass');
    mkdirSync(path.join(dir, 'src'));
    for (let i = 0; i < 5; i++)
      writeFileSync(path.join(dir, 'src', `f${i}.txt`), `file ${i}\n`.repeat(50_000 * (i + 1)));
    await resticInit(repo, pw);
    await useCheapKey(repo, 's3cret-pass');
    await resticBackup(repo, pw, ['src'], { cwd: dir });
  });
  after(() => removeTree(dir));

  test('every password source works, and none is ever echoed', async () => {
    const base = { repo, cwd: dir };
    const viaEnv = await arca(['snapshots', '--json'], { ...base, env: { ARCA_PASSWORD: 's3cret-pass' } });
    assert.equal(viaEnv.code, 0, viaEnv.err);
    const viaFlag = await arca(['--password-file', pw, 'snapshots', '--json'], base);
    assert.equal(viaFlag.code, 0, viaFlag.err);
    const viaCommand = await arca(['--password-command', `cat ${pw}`, 'snapshots', '--json'], base);
    assert.equal(viaCommand.code, 0, viaCommand.err);
    const viaCommandEnv = await arca(['snapshots', '--json'], {
      ...base,
      env: { ARCA_PASSWORD_COMMAND: `cat ${pw}` },
    });
    assert.equal(viaCommandEnv.code, 0, viaCommandEnv.err);
    const failing = await arca(['--password-command', 'echo s3cret-pass; exit 3', 'snapshots'], base);
    assert.equal(failing.code, 1);
    const none = await arca(['snapshots'], base);
    assert.equal(none.code, 1);
    assert.match(none.err, /no password given/);
    for (const r of [viaEnv, viaFlag, viaCommand, viaCommandEnv, failing, none]) {
      assert.ok(!(r.out + r.err).includes('s3cret-pass'), 'a password was printed');
    }
  });

  test('an exclusive restic lock stops arca (exit 11), and arca leaves no lock behind', async () => {
    const lockRepo = await Repository.open(new LocalBackend(repo), 's3cret-pass');
    const held = await lockRepo.lock(true);
    try {
      const r = await arca(['backup', 'src'], o());
      assert.equal(r.code, 11, r.err);
      assert.match(r.err, /locked/);
    } finally {
      await held.release();
    }
    assert.equal((await arca(['backup', 'src'], o())).code, 0);
    assert.deepEqual(readdirSync(path.join(repo, 'locks')), []);
    const prune = await restic(['prune', '--dry-run'], { repo, passwordFile: pw });
    assert.equal(prune.code, 0, prune.stderr);
  });

  test('--dry-run writes nothing', async () => {
    writeFileSync(path.join(dir, 'src', 'new.bin'), Buffer.alloc(900_000, 3));
    const before = listRepo(repo);
    const r = await arca(['backup', '--dry-run', '--json', 'src'], o());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"dry_run":true/);
    assert.deepEqual(listRepo(repo), before);
  });

  test('restore from a damaged pack names it, restores the rest, and exits 1', async () => {
    const copy = path.join(dir, 'damaged');
    await run('cp', ['-a', repo, copy]);
    // The largest pack holds file data; damage one byte in its middle.
    const packs = listRepo(path.join(copy, 'data')).map((p) => path.join(copy, 'data', p));
    const sizes = packs.map((p) => readFileSync(p).length);
    const victim = packs[sizes.indexOf(Math.max(...sizes))]!;
    chmodSync(victim, 0o600);
    const buf = readFileSync(victim);
    buf[Math.floor(buf.length / 3)]! ^= 0xff;
    writeFileSync(victim, buf);
    const target = path.join(dir, 'damaged-out');
    const r = await arca(['restore', 'latest', '--target', target], { ...o(), repo: copy });
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`pack ${path.basename(victim).slice(0, 8)}`));
    assert.match(r.err, /MAC verification failed|does not match/);
    assert.ok(existsSync(path.join(target, 'src')), 'what is intact is restored');
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.startsWith('damaged'))
        .sort(),
      ['damaged', 'damaged-out'],
    );
  });

  test('a version 1 repository restores as well', async () => {
    const v1 = path.join(dir, 'repo-v1');
    await resticInit(v1, pw, { repositoryVersion: 1 });
    await useCheapKey(v1, 's3cret-pass');
    await resticBackup(v1, pw, ['src'], { cwd: dir });
    const target = path.join(dir, 'v1-out');
    const r = await arca(['restore', 'latest', '--target', target, '--verify'], { ...o(), repo: v1 });
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(path.join(target, 'src', 'f4.txt'), 'utf8'), 'file 4\n'.repeat(250_000));
    const b = await arca(['backup', 'src'], { ...o(), repo: v1 });
    assert.equal(b.code, 0, b.err);
    const c = await restic(['check', '--read-data'], { repo: v1, passwordFile: pw, allowFail: true });
    assert.equal(c.code, 0, c.stdout + c.stderr);
  });

  test('progress is drawn on a terminal and never into a pipe', async (t) => {
    if (!hasTool('script')) {
      t.skip('script is not installed (apt-get install bsdutils)');
      return;
    }
    const piped = await arca(['restore', 'latest', '--target', path.join(dir, 'pipe-out')], o());
    assert.doesNotMatch(piped.out + piped.err, /ETA/);
    const cmd = [
      process.execPath,
      path.join(projectRoot, 'bin', 'arca.js'),
      'restore',
      'latest',
      '--target',
      path.join(dir, 'tty-out'),
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const tty = await run('script', ['-qec', cmd, '/dev/null'], {
      cwd: dir,
      env: { ...process.env, ARCA_REPOSITORY: repo, ARCA_PASSWORD_FILE: pw, COLUMNS: '160' },
    });
    assert.equal(tty.code, 0, tty.stdout.toString());
    assert.match(tty.stdout.toString(), /restore \[/);
  });
});
