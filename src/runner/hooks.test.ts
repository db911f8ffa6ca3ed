import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArcaError } from '../errors.js';
import { runHook } from './hooks.js';

const vars = { ARCA_DATASET: 'orders-db', ARCA_LEVEL: 'full', ARCA_POLICY_ID: 'POL-BKP-001' };

test('a hook sees the run in its environment, and its output is returned', async () => {
  const result = await runHook(
    'after',
    'echo "$ARCA_DATASET $ARCA_LEVEL $ARCA_POLICY_ID $ARCA_SNAPSHOT_ID"; echo "from env: $FROM_ENV" >&2',
    { env: { PATH: process.env['PATH'], FROM_ENV: 'yes' }, vars: { ...vars, ARCA_SNAPSHOT_ID: 'ab12cd34' } },
  );
  assert.equal(result.output, 'orders-db full POL-BKP-001 ab12cd34\nfrom env: yes\n');
  assert.ok(result.ms >= 0);
});

test('vars override the environment the hook starts from', async () => {
  const result = await runHook('before', 'printf %s "$ARCA_DATASET"', {
    env: { ARCA_DATASET: 'stale' },
    vars,
  });
  assert.equal(result.output, 'orders-db');
});

test('only the last 4 KB of output are kept', async () => {
  const result = await runHook('before', 'yes 0123456789 | head -c 110000; printf END', { vars });
  assert.equal(result.output.length, 4096);
  assert.ok(result.output.endsWith('0123456789\nEND'));
});

test('a failing hook names itself, its exit code and its last line of stderr, never the command', async () => {
  await assert.rejects(
    runHook(
      'before',
      "TOKEN=hunter2; echo out; echo 'stopping' >&2; echo 'service did not stop' >&2; exit 3",
      {
        vars,
      },
    ),
    (err) => {
      assert.ok(err instanceof ArcaError);
      assert.equal(err.code, 'io');
      assert.equal(err.message, 'before hook failed (exit code 3): service did not stop');
      return true;
    },
  );
});

test('a failing hook that writes nothing to stderr is explained by its last line of output', async () => {
  await assert.rejects(runHook('on_failure', 'echo "paging failed"; exit 1', { vars }), {
    code: 'io',
    message: 'on_failure hook failed (exit code 1): paging failed',
  });
  await assert.rejects(runHook('on_failure', 'exit 4', { vars }), {
    code: 'io',
    message: 'on_failure hook failed (exit code 4)',
  });
});

test('a hook that runs out of time is killed and fails', async () => {
  await assert.rejects(runHook('after', 'echo waiting; sleep 60; echo never', { vars, timeoutMs: 300 }), {
    code: 'io',
    message: 'after hook failed (timed out after 300ms): waiting',
  });
});

test('aborting stops the hook', async () => {
  const controller = new AbortController();
  const running = runHook('before', 'sleep 60', { vars, signal: controller.signal });
  controller.abort();
  await assert.rejects(running, { code: 'interrupted', message: 'before hook interrupted' });
  await assert.rejects(runHook('before', 'true', { vars, signal: controller.signal }), {
    code: 'interrupted',
  });
});
