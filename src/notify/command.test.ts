import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/tmp.js';
import type { ArcaEvent } from './event.js';
import { notify } from './notify.js';

const failure: ArcaEvent = {
  event: 'failure',
  time: '2030-01-10T02:00:00.000Z',
  who: 'backup@db1',
  policy: 'POL-BKP-001',
  dataset: 'files',
  summary: 'incremental backup of files failed after 3 attempts: connection refused',
  error: 'connection refused',
  attempts: 3,
};
const success: ArcaEvent = {
  ...failure,
  event: 'success',
  summary: 'backup of files succeeded',
  error: undefined,
};

const env = { PATH: process.env['PATH'] };

describe('notify: command', () => {
  it('runs with the event as JSON on stdin and ARCA_EVENT, ARCA_DATASET, ARCA_SUMMARY set', async (t) => {
    const dir = await tempDir(t, 'notify-command');
    const run =
      'cat > "$OUT/event.json"; printf "%s|%s|%s" "$ARCA_EVENT" "$ARCA_DATASET" "$ARCA_SUMMARY" > "$OUT/env"';
    const deliveries = await notify({ command: run }, failure, { env: { ...env, OUT: dir } });
    assert.deepEqual(deliveries, [{ channel: 'command', ok: true }]);
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'event.json'), 'utf8')), failure);
    assert.equal(await readFile(path.join(dir, 'env'), 'utf8'), `failure|files|${failure.summary}`);
  });

  it('receives every event by default, and only those {run, events} names', async (t) => {
    const dir = await tempDir(t, 'notify-command');
    const run = 'echo "$ARCA_EVENT" >> "$OUT/log"';
    const opts = { env: { ...env, OUT: dir } };
    assert.deepEqual(await notify({ command: run }, success, opts), [{ channel: 'command', ok: true }]);
    assert.deepEqual(await notify({ command: { run, events: ['failure'] } }, success, opts), []);
    assert.deepEqual(await notify({ command: { run, events: ['failure'] } }, failure, opts), [
      { channel: 'command', ok: true },
    ]);
    assert.equal(await readFile(path.join(dir, 'log'), 'utf8'), 'success\nfailure\n');
  });

  it('does not fail when the command ignores its input', async () => {
    assert.deepEqual(await notify({ command: 'true' }, failure, { env }), [{ channel: 'command', ok: true }]);
  });

  it('reports a non-zero exit with the end of stderr only', async () => {
    const run = `printf 'x%.0s' $(seq 1 500) >&2; echo ' the end' >&2; exit 3`;
    const [delivery] = await notify({ command: run }, failure, { env });
    assert.equal(delivery!.ok, false);
    const error = delivery!.error!;
    assert.match(error, /^command: exit code 3: x+ the end$/);
    assert.equal(error.length, 'command: exit code 3: '.length + 200);
  });

  it('reports a failing command without stderr by its exit code', async () => {
    assert.deepEqual(await notify({ command: 'exit 7' }, failure, { env }), [
      { channel: 'command', ok: false, error: 'command: exit code 7' },
    ]);
  });

  it('ends a command that outlives timeoutMs, with what it started', async (t) => {
    const dir = await tempDir(t, 'notify-command');
    // The shell waits for sleep; both are killed, so nothing keeps the test process alive.
    const [delivery] = await notify({ command: 'sleep 60; touch "$OUT/late"' }, failure, {
      env: { ...env, OUT: dir },
      timeoutMs: 300,
    });
    assert.deepEqual(delivery, { channel: 'command', ok: false, error: 'command: timed out after 300 ms' });
  });
});
