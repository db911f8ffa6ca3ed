import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Backend, Handle } from '../src/backend/backend.js';
import { openBackend } from '../src/backend/location.js';
import { ArcaError } from '../src/errors.js';
import { backendContract, nameOf } from './support/backend-contract.js';
import { type S3TestServer, startS3Server } from './support/s3server.js';

/** A bucket name nobody has used yet (s3rver wants 3–63 characters). */
const freshBucket = (): string => `arca-${randomBytes(6).toString('hex')}`;

/** A port of 127.0.0.1 that nothing listens on (one that was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function contractOn(locationFor: (endpoint: string) => string) {
  return async () => {
    const server = await startS3Server();
    return {
      freshLocation: () => locationFor(server.endpoint),
      open: (location: string) => openBackend(location, { env: server.env }),
      stop: () => server.stop(),
    };
  };
}

backendContract(
  's3',
  contractOn((endpoint) => `s3:${endpoint}/${freshBucket()}/${randomBytes(4).toString('hex')}/repo`),
);

backendContract(
  's3 (repository at the root of a bucket)',
  contractOn((endpoint) => `s3:${endpoint}/${freshBucket()}`),
  { manyFiles: 100 },
);

describe('s3 backend against a real server', () => {
  let server: S3TestServer;
  const opened: Backend[] = [];
  const open = (location: string, env: NodeJS.ProcessEnv): Backend => {
    const b = openBackend(location, { env });
    opened.push(b);
    return b;
  };

  /** A plain SDK client, to look at the bucket behind arca's back. */
  let raw: S3Client;

  before(async () => {
    server = await startS3Server();
    raw = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
  });
  after(async () => {
    for (const b of opened) await b.close();
    raw?.destroy();
    await server?.stop();
  });

  const isPermanent = (code: string, pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.transient, false, err.message);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };

  it('refuses unknown credentials with a clear, permanent error that does not show the secret', async () => {
    const b = open(`s3:${server.endpoint}/${freshBucket()}/repo`, {
      AWS_ACCESS_KEY_ID: 'NOBODY',
      AWS_SECRET_ACCESS_KEY: 'very-secret-value',
    });
    // A HEAD answer has no body to say why: only that access was denied.
    await assert.rejects(b.create(), isPermanent('io', /access denied.*check the credentials/));
    await assert.rejects(
      b.load({ type: 'config', name: '' }),
      isPermanent('io', /does not know the access key \(check AWS_ACCESS_KEY_ID\)/),
    );
    await assert.rejects(b.list('keys')[Symbol.asyncIterator]().next(), (err: unknown) => {
      assert.ok(err instanceof ArcaError && !err.transient, String(err));
      assert.doesNotMatch(err.message, /very-secret-value/);
      return true;
    });
  });

  it('says so when the bucket does not exist, and lists nothing there', async () => {
    const bucket = freshBucket();
    const b = open(`s3:${server.endpoint}/${bucket}/repo`, server.env);
    const h: Handle = { type: 'data', name: nameOf(Buffer.from('x')) };
    await assert.rejects(
      b.load(h),
      isPermanent('no-repository', new RegExp(`bucket ${bucket} does not exist`)),
    );
    await assert.rejects(
      b.stat({ type: 'config', name: '' }),
      isPermanent('no-repository', new RegExp(`bucket ${bucket} does not exist`)),
    );
    // Nothing is there yet, as in a directory that does not exist: init lists keys first.
    for await (const fi of b.list('keys')) assert.fail(`listed ${fi.name}`);
  });

  it('reports a server that cannot be reached as transient', async () => {
    const b = open(`s3:http://127.0.0.1:${await closedPort()}/${freshBucket()}`, server.env);
    await assert.rejects(b.stat({ type: 'keys', name: nameOf(Buffer.from('k')) }), (err: unknown) => {
      assert.ok(err instanceof ArcaError, String(err));
      assert.equal(err.transient, true, err.message);
      return true;
    });
  });

  it('lays files out as restic does: data/<2 hex>/<id> under the prefix', async () => {
    const bucket = freshBucket();
    const b = open(`s3:${server.endpoint}/${bucket}/some/prefix`, server.env);
    await b.create();
    const data = randomBytes(100);
    await b.save({ type: 'data', name: nameOf(data) }, data);
    await b.save({ type: 'config', name: '' }, data);
    const res = await raw.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (res.Contents ?? []).map((o) => o.Key).sort();
    assert.deepEqual(keys, [
      'some/prefix/config',
      `some/prefix/data/${nameOf(data).slice(0, 2)}/${nameOf(data)}`,
    ]);
  });

  it('stores data files in the storage class asked for, and only data files', async () => {
    const bucket = freshBucket();
    const b = openBackend(`s3:${server.endpoint}/${bucket}`, {
      env: server.env,
      extended: { 's3.storage-class': 'STANDARD_IA' },
    });
    opened.push(b);
    await b.create();
    const pack = randomBytes(10);
    const index = randomBytes(11);
    await b.save({ type: 'data', name: nameOf(pack) }, pack);
    await b.save({ type: 'index', name: nameOf(index) }, index);
    const classOf = async (key: string) =>
      (await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).StorageClass;
    assert.equal(await classOf(`data/${nameOf(pack).slice(0, 2)}/${nameOf(pack)}`), 'STANDARD_IA');
    assert.equal(await classOf(`index/${nameOf(index)}`), undefined);
  });

  it('the test server refuses a body whose Content-MD5 does not match (so the contract proves arca sends right ones)', async () => {
    const bucket = freshBucket();
    await open(`s3:${server.endpoint}/${bucket}`, server.env).create();
    const wrong = createHash('md5').update('something else').digest('base64');
    await assert.rejects(
      raw.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'x', Body: Buffer.from('body'), ContentMD5: wrong }),
      ),
      (err: unknown) => (err as Error).name === 'BadDigest',
    );
  });

  it('saves and loads 64 MiB (throughput on loopback, printed for the record)', async () => {
    const b = open(`s3:${server.endpoint}/${freshBucket()}/big`, server.env);
    await b.create();
    const data = randomBytes(64 * 1024 * 1024);
    const h: Handle = { type: 'data', name: nameOf(data) };
    const t0 = performance.now();
    await b.save(h, data);
    const t1 = performance.now();
    const back = await b.load(h);
    const t2 = performance.now();
    assert.equal(nameOf(back), h.name);
    const mbs = (ms: number) => (data.length / 1e6 / (ms / 1000)).toFixed(0);
    console.log(`# s3 64 MiB: save ${mbs(t1 - t0)} MB/s, load ${mbs(t2 - t1)} MB/s`);
  });
});
