import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.js';
import type { Policy } from '../policy/schema.js';
import {
  checkSandbox,
  createSandbox,
  keepSandbox,
  protectedPaths,
  removeSandbox,
  sweepSandboxes,
} from './sandbox.js';

function policy(root: string): Policy {
  return {
    repositories: {
      local: { location: path.join(root, 'repo') },
      remote: { location: 's3:https://s3.example.org/b' },
    },
    datasets: {
      files: {
        sources: { paths: [path.join(root, 'data')], sqlite: [{ path: path.join(root, 'db', 'app.db') }] },
      },
    },
  } as unknown as Policy;
}

test('a sandbox that is, contains or lies inside a source, a repository or the journal is refused', async (t) => {
  const root = await tempDir(t, 'drill-sandbox');
  mkdirSync(path.join(root, 'data'));
  const protect = protectedPaths(policy(root), {
    journalFile: path.join(root, 'state', 'journal.db'),
    stateDir: path.join(root, 'state'),
  });
  const refused = (dir: string, how: RegExp) =>
    assert.throws(
      () => checkSandbox(dir, protect),
      (err: Error & { code?: string }) => err.code === 'unsafe-path' && how.test(err.message),
    );
  refused(path.join(root, 'data'), /it is a source path of dataset files/);
  refused(path.join(root, 'data', 'sub'), /it lies inside a source path/);
  refused(root, /it contains a source path/);
  refused(path.join(root, 'repo'), /repository local/);
  refused(path.join(root, 'repo', 'x'), /lies inside repository local/);
  refused(path.join(root, 'db', 'app.db'), /SQLite source/);
  refused(path.join(root, 'state'), /contains arca's journal/);
  refused(path.join(root, 'state', 'staging', 'files'), /dump staging/);
  // A symbolic link does not smuggle the sandbox into a source.
  symlinkSync(path.join(root, 'data'), path.join(root, 'link'));
  refused(path.join(root, 'link', 'inner'), /lies inside a source path/);
  checkSandbox(path.join(root, 'state', 'drills'), protect);
  checkSandbox(path.join(root, 'elsewhere'), protect);
  // Nothing is created for a refused base.
  assert.throws(() => createSandbox(path.join(root, 'data', 'new'), protect), /refusing drill sandbox/);
  assert.equal(existsSync(path.join(root, 'data', 'new')), false);
  assert.deepEqual(readdirSync(path.join(root, 'data')), []);
});

test('a sandbox is private and removed with everything in it, read-only directories too', async (t) => {
  const root = await tempDir(t, 'drill-sandbox');
  const dir = createSandbox(path.join(root, 'drills'), []);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  mkdirSync(path.join(dir, 'ro'));
  writeFileSync(path.join(dir, 'ro', 'f'), 'x');
  const { chmodSync } = await import('node:fs');
  chmodSync(path.join(dir, 'ro'), 0o500);
  removeSandbox(dir);
  assert.equal(existsSync(dir), false);
});

test('the next drill removes sandboxes whose drill is gone, and leaves live and kept ones', async (t) => {
  const base = await tempDir(t, 'sandbox-sweep');
  const mine = createSandbox(base, []);
  const [, boot] = readFileSync(`${mine}.owner`, 'utf8').trim().split(' ');
  // A drill killed earlier: its process has ended.
  const dead = createSandbox(base, []);
  mkdirSync(path.join(dead, 'srv', 'data'), { recursive: true });
  writeFileSync(path.join(dead, 'srv', 'data', 'secret.txt'), 'restored data');
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  writeFileSync(`${dead}.owner`, `${child.pid} ${boot}\n`);
  // One from before the last reboot.
  const rebooted = createSandbox(base, []);
  writeFileSync(`${rebooted}.owner`, `${process.pid} another-boot\n`);
  // One kept on purpose for inspection.
  const kept = createSandbox(base, []);
  keepSandbox(kept);
  assert.deepEqual(sweepSandboxes(base).sort(), [dead, rebooted].sort());
  assert.equal(existsSync(dead), false);
  assert.equal(existsSync(`${dead}.owner`), false);
  assert.equal(existsSync(rebooted), false);
  assert.equal(existsSync(mine), true, 'a live drill keeps its sandbox');
  assert.equal(existsSync(kept), true, 'a kept sandbox is the user’s');
  removeSandbox(mine);
  assert.equal(existsSync(`${mine}.owner`), false);
  assert.deepEqual(sweepSandboxes(path.join(base, 'missing')), []);
});
