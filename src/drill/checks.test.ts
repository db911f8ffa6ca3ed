import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.js';
import { runChecks } from './checks.js';

test('checks run inside the sandbox: a scratch file and a temporary file leave nothing outside it', async (t) => {
  const root = await tempDir(t, 'drill-checks');
  const sandbox = path.join(root, 'arca-drill-x');
  mkdirSync(sandbox, { mode: 0o700 });
  const events: string[] = [];
  const ctx = {
    // The caller's own TMPDIR is replaced, not kept.
    env: { ...process.env, TMPDIR: root },
    signal: new AbortController().signal,
    report: (e: { text: string }) => events.push(e.text),
  };
  const results = await runChecks(
    ctx,
    [
      { name: 'scratch', command: 'touch scratch.db && pwd && echo "tmp=$TMPDIR" && mktemp' },
      { name: 'fails', command: 'echo nope >&2; exit 4' },
      { name: 'still runs', command: 'test -f scratch.db' },
    ],
    sandbox,
    { ARCA_DATASET: 'files' },
  );
  assert.deepEqual(
    results.map((r) => [r.check, r.passed]),
    [
      ['scratch', true],
      ['fails', false],
      ['still runs', true],
    ],
  );
  const [cwd, tmp, made] = results[0]!.output.split('\n');
  assert.equal(cwd, sandbox);
  assert.equal(tmp, `tmp=${path.join(sandbox, '.tmp')}`);
  assert.equal(path.dirname(made!), path.join(sandbox, '.tmp'));
  assert.match(results[1]!.output, /nope\ncheck "fails" failed \(exit code 4\)/);
  assert.deepEqual(readdirSync(sandbox).sort(), ['.tmp', 'scratch.db']);
  // Nothing beside the sandbox, in the caller's TMPDIR (root) or in arca's working directory.
  assert.deepEqual(readdirSync(root), ['arca-drill-x']);
  assert.equal(existsSync(path.join(process.cwd(), 'scratch.db')), false);
  assert.deepEqual(events, [
    'files: drill: check "scratch" passed',
    'files: drill: check "fails" FAILED',
    'files: drill: check "still runs" passed',
  ]);
});

test('no checks: no temporary directory is made', async (t) => {
  const sandbox = await tempDir(t, 'drill-checks-none');
  const ctx = { env: process.env, signal: new AbortController().signal, report: () => {} };
  assert.deepEqual(await runChecks(ctx, [], sandbox, { ARCA_DATASET: 'files' }), []);
  assert.deepEqual(readdirSync(sandbox), []);
});
