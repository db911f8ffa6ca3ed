/**
 * `arca notify test` as a user runs it to try the policy's notification channels: the event
 * reaches a webhook on 127.0.0.1 and a command, each channel gets only the events it asked
 * for, every delivery is recorded in the journal, and a channel that cannot be reached
 * makes the command fail with exit code 1.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { arca } from './support/arca.js';
import { tempDir } from './support/tmp.js';

test('notify test sends a test event through each channel that takes it and records each delivery', async (t) => {
  const dir = await tempDir(t, 'notify-cli');
  const env = {
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    ARCA_JOURNAL: path.join(dir, 'journal.db'),
  };
  const received: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const stopServer = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.after(stopServer);
  const example = await arca(['policy', 'init', '--output', '-', '--no-init'], { cwd: dir, env });
  assert.equal(example.code, 0, example.err);
  const received2 = path.join(dir, 'command-got.json');
  const policy = path.join(dir, 'arca.yaml');
  await writeFile(
    policy,
    `${example.out}
notifications:
  webhook:
    url: http://127.0.0.1:${port}/hook
  command:
    run: ${JSON.stringify(`cat > ${received2}`)}
    events: [failure]
`,
  );
  const opts = { cwd: dir, env };
  const failure = await arca(['notify', 'test'], opts);
  assert.equal(failure.code, 0, failure.out + failure.err);
  assert.equal(received.length, 1);
  assert.equal(received[0]!.event, 'failure');
  assert.equal(received[0]!.dataset, 'files');
  assert.match(String(received[0]!.summary), /^TEST/);
  const fromCommand = JSON.parse(await readFile(received2, 'utf8')) as Record<string, unknown>;
  assert.equal(fromCommand.event, 'failure');

  // The command asked for failures only.
  await writeFile(received2, 'untouched');
  const success = await arca(['notify', 'test', '--event', 'success'], opts);
  assert.equal(success.code, 0, success.out + success.err);
  assert.equal(received.at(-1)!.event, 'success');
  assert.equal(await readFile(received2, 'utf8'), 'untouched');

  const journal = await arca(['journal', '--json', '--operation', 'notification'], opts);
  const records = journal.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { result: string; details: { channel: string; event: string } });
  assert.deepEqual(records.map((r) => `${r.details.channel}:${r.details.event}:${r.result}`).sort(), [
    'command:failure:success',
    'webhook:failure:success',
    'webhook:success:success',
  ]);

  await stopServer();
  const down = await arca(['notify', 'test', '--event', 'success'], opts);
  assert.equal(down.code, 1, down.out + down.err);
  assert.match(down.err, /1 notification channel failed/);
  assert.doesNotMatch(down.err, new RegExp(String(port)), 'the URL (which may hold a token) is not printed');
  const bad = await arca(['notify', 'test', '--event', 'bogus'], opts);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /invalid --event/);
});
