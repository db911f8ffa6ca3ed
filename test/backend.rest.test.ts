import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openBackend } from '../src/backend/location.js';
import { ArcaError } from '../src/errors.js';
import { backendContract, nameOf } from './support/backend-contract.js';
import { type RestServer, startRestServer } from './support/rest-server.js';
import { skipUnless } from './support/tools.js';

const skip = skipUnless('rclone', 'rclone');
const user = 'arca user';
// Characters that must be percent-encoded in a URL, to prove they are decoded.
const password = 'pa:ss/w@rd %wört';
const encodedCredentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;

function freshPath(): string {
  return `${randomBytes(6).toString('hex')}/`;
}

backendContract(
  'rest (rclone serve restic)',
  async () => {
    const server = await startRestServer();
    return {
      freshLocation: () => `rest:${server.url}${freshPath()}`,
      open: (location) => openBackend(location, { env: {} }),
      stop: () => server.stop(),
    };
  },
  { skip },
);

backendContract(
  'rest with basic auth (rclone serve restic --user --pass)',
  async () => {
    const server = await startRestServer({ user, password });
    const host = new URL(server.url).host;
    return {
      freshLocation: () => `rest:http://${encodedCredentials}@${host}/${freshPath()}`,
      // A location as printed has no password: a second client finds it in the environment.
      open: (location) => openBackend(location, { env: { ARCA_REST_PASSWORD: password } }),
      stop: () => server.stop(),
    };
  },
  { skip, manyFiles: 500 },
);

function assertNoPassword(text: string): void {
  assert.ok(!text.includes(password), `the password in ${JSON.stringify(text)}`);
  assert.ok(!text.includes(encodeURIComponent(password)), `the encoded password in ${JSON.stringify(text)}`);
}

describe('rest credentials against rclone serve restic', { skip }, () => {
  let server: RestServer;
  let host: string;
  before(async () => {
    server = await startRestServer({ user, password });
    host = new URL(server.url).host;
  });
  after(() => server?.stop());

  it('refuses a wrong password with a permanent error that does not repeat it', async () => {
    const wrong = 'not-the-Secret-42';
    const repo = freshPath();
    const b = openBackend(`rest:http://${encodeURIComponent(user)}:${wrong}@${host}/${repo}`);
    try {
      assert.equal(b.location, `rest:http://${encodeURIComponent(user)}@${host}/${repo}`);
      await assert.rejects(b.create(), (err: unknown) => {
        assert.ok(err instanceof ArcaError);
        assert.equal(err.transient, false);
        assert.match(err.message, /authentication failed/);
        assert.ok(!err.message.includes(wrong), err.message);
        return true;
      });
    } finally {
      await b.close();
    }
  });

  it('takes user and password from ARCA_REST_USERNAME / ARCA_REST_PASSWORD', async () => {
    const repo = freshPath();
    const b = openBackend(`rest:http://${host}/${repo}`, {
      env: { ARCA_REST_USERNAME: user, ARCA_REST_PASSWORD: password },
    });
    try {
      await b.create();
      const data = randomBytes(100);
      await b.save({ type: 'keys', name: nameOf(data) }, data);
      assert.deepEqual(await b.load({ type: 'keys', name: nameOf(data) }), data);
      assert.equal(b.location, `rest:http://${host}/${repo}`);
    } finally {
      await b.close();
    }
  });

  it('prefers the credentials in the URL over the environment', async () => {
    const b = openBackend(`rest:http://${encodedCredentials}@${host}/${freshPath()}`, {
      env: { ARCA_REST_USERNAME: 'someone else', ARCA_REST_PASSWORD: 'wrong' },
    });
    try {
      await b.create();
      assertNoPassword(b.location);
    } finally {
      await b.close();
    }
  });

  it('never shows the password, in the location or in errors', async () => {
    const b = openBackend(`rest:http://${encodedCredentials}@${host}/${freshPath()}`);
    try {
      assertNoPassword(b.location);
      await assert.rejects(b.load({ type: 'data', name: nameOf(Buffer.from('x')) }), (err: unknown) => {
        assert.ok(err instanceof ArcaError);
        assert.equal(err.code, 'not-found');
        assertNoPassword(err.message);
        return true;
      });
    } finally {
      await b.close();
    }
    // Nothing listens on the server's port once it is stopped; the error must not leak either.
    const closed = await startRestServer();
    const gone = new URL(closed.url).host;
    await closed.stop();
    const down = openBackend(`rest:http://${encodedCredentials}@${gone}/${freshPath()}`);
    try {
      await assert.rejects(down.stat({ type: 'config', name: '' }), (err: unknown) => {
        assert.ok(err instanceof ArcaError);
        assert.equal(err.transient, true, err.message);
        assertNoPassword(err.message);
        assertNoPassword(String((err.cause as Error | undefined)?.message));
        return true;
      });
    } finally {
      await down.close();
    }
  });
});

describe('rest against an append-only rclone serve restic', { skip }, () => {
  let server: RestServer;
  before(async () => {
    server = await startRestServer({ appendOnly: true });
  });
  after(() => server?.stop());

  it('refuses deletions with a permanent error, and treats re-saving a stored file as done', async () => {
    const b = openBackend(`rest:${server.url}${freshPath()}`);
    try {
      await b.create();
      const data = randomBytes(2000);
      const h = { type: 'data' as const, name: nameOf(data) };
      await b.save(h, data);
      await b.save(h, data);
      await assert.rejects(b.remove(h), (err: unknown) => {
        assert.ok(err instanceof ArcaError);
        assert.equal(err.transient, false);
        assert.match(err.message, /access denied/);
        return true;
      });
      assert.deepEqual(await b.load(h), data);
    } finally {
      await b.close();
    }
  });
});
