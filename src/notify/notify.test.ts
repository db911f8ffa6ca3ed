import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import type { Notifications } from '../policy/notifications.js';
import { version } from '../version.js';
import type { ArcaEvent } from './event.js';
import { notify, pingHealthchecks } from './notify.js';

const failure: ArcaEvent = {
  event: 'failure',
  time: '2030-01-10T02:00:00.000Z',
  who: 'backup@db1',
  policy: 'POL-BKP-001',
  dataset: 'files',
  level: 'full',
  summary: 'full backup of files failed after 3 attempts: repository nas is locked',
  error: 'repository nas is locked by host db2 since 2030-01-10T01:00:00Z',
  attempts: 3,
  repositories: ['nas'],
};
const success: ArcaEvent = {
  ...failure,
  event: 'success',
  summary: 'full backup of files saved snapshot 1a2b3c4d',
  error: undefined,
  attempts: 1,
  snapshot_id: '1a2b3c4d'.repeat(8),
};
const breach: ArcaEvent = {
  event: 'rpo-breach',
  time: '2030-01-10T05:00:00.000Z',
  who: 'backup@db1',
  policy: 'POL-BKP-001',
  dataset: 'files',
  summary: 'files: newest good snapshot is 5h old, RPO is 1h',
  rpo: '1h',
  newest_snapshot_at: '2030-01-10T00:00:00.000Z',
};

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A node:http server on 127.0.0.1 for the length of test `t`, answering every request with
 * `status` (or never, for 'hang'); returns its base URL (ending in `/`) and what it received.
 */
async function serve(
  t: TestContext,
  status: number | 'hang' = 200,
): Promise<{ base: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (status !== 'hang') res.writeHead(status, { 'content-type': 'text/plain' }).end('answer');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, received };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('notify: webhook', () => {
  it('POSTs the event as JSON with arca’s user agent', async (t) => {
    const { base, received } = await serve(t);
    const deliveries = await notify({ webhook: { url: `${base}hook/abc` } }, failure, { env: {} });
    assert.deepEqual(deliveries, [{ channel: 'webhook', ok: true }]);
    assert.equal(received.length, 1);
    const [req] = received;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.path, '/hook/abc');
    assert.equal(req!.headers['content-type'], 'application/json');
    assert.equal(req!.headers['user-agent'], `arca/${version}`);
    assert.deepEqual(JSON.parse(req!.body), JSON.parse(JSON.stringify(failure)));
  });

  it('receives all three events by default', async (t) => {
    const { base, received } = await serve(t);
    for (const event of [failure, breach, success]) {
      assert.deepEqual(await notify({ webhook: { url: base } }, event, { env: {} }), [
        { channel: 'webhook', ok: true },
      ]);
    }
    assert.deepEqual(
      received.map((r) => (JSON.parse(r.body) as ArcaEvent).event),
      ['failure', 'rpo-breach', 'success'],
    );
  });

  it('receives only the events its list names', async (t) => {
    const { base, received } = await serve(t);
    const config: Notifications = { webhook: { url: base, events: ['rpo-breach'] } };
    assert.deepEqual(await notify(config, failure, { env: {} }), []);
    assert.deepEqual(await notify(config, success, { env: {} }), []);
    assert.deepEqual(await notify(config, breach, { env: {} }), [{ channel: 'webhook', ok: true }]);
    assert.equal(received.length, 1);
  });

  it('counts a non-2xx answer as a failed delivery, without the URL in the error', async (t) => {
    const { base } = await serve(t, 503);
    const url = `${base}hook/secret-token-123`;
    const [delivery] = await notify({ webhook: { url } }, failure, { env: {} });
    assert.deepEqual(delivery, { channel: 'webhook', ok: false, error: 'webhook: HTTP 503' });
  });

  it('takes its URL from an {env} reference', async (t) => {
    const { base, received } = await serve(t);
    const env = { HOOK_URL: `${base}hook/token-from-env` };
    const deliveries = await notify({ webhook: { url: { env: 'HOOK_URL' } } }, failure, { env });
    assert.deepEqual(deliveries, [{ channel: 'webhook', ok: true }]);
    assert.equal(received[0]!.path, '/hook/token-from-env');
  });

  it('reports an unset reference and a referenced value that is not a URL', async () => {
    const config: Notifications = { webhook: { url: { env: 'HOOK_URL' } } };
    const [unset] = await notify(config, failure, { env: {} });
    assert.deepEqual(unset, {
      channel: 'webhook',
      ok: false,
      error: 'webhook: url: environment variable HOOK_URL is not set',
    });
    const [bad] = await notify(config, failure, { env: { HOOK_URL: 'ftp://host/token-xyz' } });
    assert.equal(bad!.error, 'webhook: url is not an http:// or https:// URL');
  });

  it('sends user:password in the URL as basic authentication', async (t) => {
    const { base, received } = await serve(t);
    const url = base.replace('http://', 'http://arca:p%40ss@');
    assert.deepEqual(await notify({ webhook: { url } }, failure, { env: {} }), [
      { channel: 'webhook', ok: true },
    ]);
    assert.equal(received[0]!.headers.authorization, `Basic ${Buffer.from('arca:p@ss').toString('base64')}`);
  });

  it('gives up on a server that never answers after timeoutMs', async (t) => {
    const { base } = await serve(t, 'hang');
    const [delivery] = await notify({ webhook: { url: `${base}slow` } }, failure, {
      env: {},
      timeoutMs: 300,
    });
    assert.deepEqual(delivery, { channel: 'webhook', ok: false, error: 'webhook: timed out after 300 ms' });
  });

  it('says “connection refused” when nothing listens', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/hook/token-456`;
    const [delivery] = await notify({ webhook: { url } }, failure, { env: {} });
    assert.deepEqual(delivery, { channel: 'webhook', ok: false, error: 'webhook: connection refused' });
  });
});

describe('healthchecks', () => {
  it('GETs the start and success URLs and POSTs the error to the fail URL', async (t) => {
    const { base, received } = await serve(t);
    const config: Notifications = {
      healthchecks: { start: `${base}uuid/start`, success: `${base}uuid`, fail: `${base}uuid/fail` },
    };
    assert.deepEqual(await pingHealthchecks(config, 'start', undefined, { env: {} }), {
      channel: 'healthchecks',
      ok: true,
    });
    assert.deepEqual(await pingHealthchecks(config, 'success', undefined, { env: {} }), {
      channel: 'healthchecks',
      ok: true,
    });
    assert.deepEqual(await pingHealthchecks(config, 'fail', 'repository nas is locked', { env: {} }), {
      channel: 'healthchecks',
      ok: true,
    });
    assert.deepEqual(
      received.map((r) => [r.method, r.path, r.body]),
      [
        ['GET', '/uuid/start', ''],
        ['GET', '/uuid', ''],
        ['POST', '/uuid/fail', 'repository nas is locked'],
      ],
    );
    assert.equal(received[2]!.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(received[0]!.headers['user-agent'], `arca/${version}`);
  });

  it('cuts a fail body to 10 KB without splitting a character', async (t) => {
    const { base, received } = await serve(t);
    const config: Notifications = { healthchecks: { success: base, fail: `${base}fail` } };
    const body = 'é'.repeat(8000); // 16,000 bytes of UTF-8
    assert.equal((await pingHealthchecks(config, 'fail', body, { env: {} }))?.ok, true);
    const got = received[0]!.body;
    assert.equal(Buffer.byteLength(got), 10_000);
    assert.equal(got, 'é'.repeat(5000));
  });

  it('pings nothing when the policy names no URL for the kind', async () => {
    assert.equal(await pingHealthchecks(undefined, 'success'), undefined);
    assert.equal(await pingHealthchecks({}, 'success'), undefined);
    const config: Notifications = { healthchecks: { success: 'http://127.0.0.1:9/never' } };
    assert.equal(await pingHealthchecks(config, 'start'), undefined);
    assert.equal(await pingHealthchecks(config, 'fail', 'error'), undefined);
  });

  it('takes the URL from a reference and reports failures without it', async (t) => {
    const { base, received } = await serve(t, 404);
    const env = { HC_URL: `${base}ping/uuid-secret` };
    const delivery = await pingHealthchecks(
      { healthchecks: { success: { env: 'HC_URL' } } },
      'success',
      undefined,
      {
        env,
      },
    );
    assert.deepEqual(delivery, { channel: 'healthchecks', ok: false, error: 'healthchecks: HTTP 404' });
    assert.equal(received[0]!.path, '/ping/uuid-secret');
  });

  it('gives up on a server that never answers after timeoutMs', async (t) => {
    const { base } = await serve(t, 'hang');
    const delivery = await pingHealthchecks({ healthchecks: { success: base } }, 'success', undefined, {
      env: {},
      timeoutMs: 300,
    });
    assert.deepEqual(delivery, {
      channel: 'healthchecks',
      ok: false,
      error: 'healthchecks: timed out after 300 ms',
    });
  });

  it('is pinged by notify only for an RPO breach, at the fail URL, with the event', async (t) => {
    const { base, received } = await serve(t);
    const config: Notifications = {
      healthchecks: { start: `${base}start`, success: base, fail: `${base}fail` },
    };
    assert.deepEqual(await notify(config, failure, { env: {} }), []);
    assert.deepEqual(await notify(config, success, { env: {} }), []);
    assert.deepEqual(await notify(config, breach, { env: {} }), [{ channel: 'healthchecks', ok: true }]);
    assert.equal(received.length, 1);
    assert.equal(received[0]!.method, 'POST');
    assert.equal(received[0]!.path, '/fail');
    assert.deepEqual(JSON.parse(received[0]!.body), breach);
    // Without a fail URL an RPO breach has nothing to ping.
    assert.deepEqual(await notify({ healthchecks: { success: base } }, breach, { env: {} }), []);
  });
});

describe('notify', () => {
  it('sends nothing without a notifications section', async () => {
    assert.deepEqual(await notify(undefined, failure), []);
    assert.deepEqual(await notify({}, failure), []);
  });

  it('tries every channel when one of them fails', async (t) => {
    const good = await serve(t);
    const refused = `http://127.0.0.1:${await closedPort()}/`;
    const config: Notifications = {
      webhook: { url: refused },
      healthchecks: { success: good.base, fail: `${good.base}fail` },
      command: 'exit 4',
    };
    const deliveries = await notify(config, breach, { env: { PATH: process.env['PATH'] } });
    assert.deepEqual(deliveries, [
      { channel: 'webhook', ok: false, error: 'webhook: connection refused' },
      { channel: 'healthchecks', ok: true },
      { channel: 'command', ok: false, error: 'command: exit code 4' },
    ]);
    assert.equal(good.received.length, 1);
  });
});
