/** `npm start` (arca quickstart): a backup and a verified restore test on embedded defaults. */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { arca } from './support/arca.js';
import { restic } from './support/restic.js';
import { tempDir } from './support/tmp.js';
import { hasTool } from './support/tools.js';

test('quickstart creates a repository, backs up and proves the restore', async (t) => {
  const dir = await tempDir(t, 'quickstart');
  const env = { XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  mkdirSync(path.join(dir, 'docs'));
  writeFileSync(path.join(dir, 'docs', 'a.txt'), 'hello\n');
  writeFileSync(path.join(dir, 'docs', 'b.bin'), Buffer.alloc(700_000, 7));

  const r = await arca(['quickstart', 'docs'], { cwd: dir, env });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /created repository/);
  assert.match(r.out, /restore test: 2 files, .* restored and verified .* \(passed\)/);
  const pwFile = path.join(dir, 'config', 'arca', 'password');
  assert.equal(statSync(pwFile).mode & 0o777, 0o600);
  assert.ok(!r.out.includes(readFileSync(pwFile, 'utf8').trim()), 'the password is never printed');

  const again = await arca(['--json', 'quickstart', 'docs'], { cwd: dir, env });
  assert.equal(again.code, 0, again.err);
  const j = JSON.parse(again.out.trim().split('\n').pop()!) as { restore_ok: boolean; files: number };
  assert.deepEqual([j.restore_ok, j.files], [true, 2]);

  if (hasTool('restic')) {
    const repo = path.join(dir, 'data', 'arca', 'repository');
    const s = await restic(['snapshots', '--json'], { repo, passwordFile: pwFile });
    assert.equal((JSON.parse(s.stdout) as unknown[]).length, 2);
  }
});

test('quickstart refuses a path that does not exist', async (t) => {
  const dir = await tempDir(t, 'quickstart-bad');
  const env = { XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  const r = await arca(['quickstart', 'nope'], { cwd: dir, env });
  assert.equal(r.code, 2);
  assert.match(r.err, /^arca: nope does not exist\n$/);
});
