import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArcaError } from '../errors.js';
import { openS3Backend, parseS3Location, resolveS3Settings, type S3Location, s3Failure } from './s3.js';

const usage = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ArcaError, String(err));
  assert.equal(err.code, 'usage');
  assert.match(err.message, pattern);
  return true;
};

describe('parseS3Location', () => {
  it('reads the URL form: scheme, host with port, bucket and prefix', () => {
    assert.deepEqual(parseS3Location('s3:http://127.0.0.1:9000/bucket/some/prefix'), {
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'bucket',
      prefix: 'some/prefix',
      display: 's3:http://127.0.0.1:9000/bucket/some/prefix',
    });
    assert.deepEqual(parseS3Location('s3:https://s3.eu-west-1.amazonaws.com/bucket'), {
      endpoint: 'https://s3.eu-west-1.amazonaws.com',
      bucket: 'bucket',
      prefix: '',
      display: 's3:https://s3.eu-west-1.amazonaws.com/bucket',
    });
  });

  it('reads the host form with https implied, as restic does', () => {
    assert.deepEqual(parseS3Location('s3:s3.amazonaws.com/bucket/restic/repo'), {
      endpoint: 'https://s3.amazonaws.com',
      bucket: 'bucket',
      prefix: 'restic/repo',
      display: 's3:s3.amazonaws.com/bucket/restic/repo',
    });
    assert.equal(parseS3Location('s3:minio.lan:9000/b1').endpoint, 'https://minio.lan:9000');
    assert.equal(parseS3Location('s3://s3.amazonaws.com/bucket').bucket, 'bucket');
  });

  it('normalises slashes in the prefix', () => {
    const loc = parseS3Location('s3:https://host/bucket//a/./b/');
    assert.equal(loc.prefix, 'a/b');
    assert.equal(loc.display, 's3:https://host/bucket/a/b');
    assert.equal(parseS3Location('s3:https://host/bucket/').prefix, '');
  });

  it('never prints credentials written into the URL', () => {
    const loc = parseS3Location('s3:https://AKIA:s3cr3t@host/bucket/p');
    assert.equal(loc.display, 's3:https://host/bucket/p');
    assert.equal(loc.endpoint, 'https://host');
  });

  it('refuses locations without a bucket or with ".."', () => {
    assert.throws(() => parseS3Location('s3:https://host'), usage(/no bucket/));
    assert.throws(() => parseS3Location('s3:https://host/'), usage(/no bucket/));
    assert.throws(() => parseS3Location('s3:host'), usage(/no bucket/));
    assert.throws(() => parseS3Location('s3:/bucket'), usage(/no host/));
    assert.throws(() => parseS3Location('s3:https://host/bucket/a/../../b'), usage(/\.\./));
    assert.throws(() => parseS3Location('s3:http://[bad/bucket'), usage(/not a valid URL/));
  });

  it('keeps a password out of the message of a location it refuses', () => {
    assert.throws(
      () => parseS3Location('s3:https://AKIA:s3cr3t@host'),
      (err: unknown) => err instanceof ArcaError && !err.message.includes('s3cr3t'),
    );
  });
});

describe('resolveS3Settings', () => {
  const aws = parseS3Location('s3:s3.amazonaws.com/my-bucket/repo');
  const local = parseS3Location('s3:http://127.0.0.1:9000/my-bucket/repo');

  it('chooses virtual-host style only for AWS-like endpoints with DNS-compatible bucket names', () => {
    const pathStyle = (loc: S3Location, lookup?: string) =>
      resolveS3Settings(loc, {
        env: {},
        extended: lookup === undefined ? {} : { 's3.bucket-lookup': lookup },
      }).forcePathStyle;
    assert.equal(pathStyle(aws), false);
    assert.equal(pathStyle(parseS3Location('s3:https://s3.eu-central-1.amazonaws.com/b-1')), false);
    assert.equal(pathStyle(parseS3Location('s3:https://storage.googleapis.com/bucket')), false);
    assert.equal(pathStyle(local), true);
    assert.equal(pathStyle(parseS3Location('s3:minio.example.org/bucket')), true);
    // Not a host name, or a dotted one the wildcard certificate would not cover.
    assert.equal(pathStyle(parseS3Location('s3:s3.amazonaws.com/My_Bucket')), true);
    assert.equal(pathStyle(parseS3Location('s3:s3.amazonaws.com/my.bucket')), true);
    assert.equal(pathStyle(parseS3Location('s3:http://s3.amazonaws.com/my.bucket')), false);
    assert.equal(pathStyle(aws, 'path'), true);
    assert.equal(pathStyle(local, 'dns'), false);
    assert.equal(pathStyle(local, 'auto'), true);
  });

  it('takes the region from -o s3.region, then AWS_DEFAULT_REGION, then AWS_REGION, else us-east-1', () => {
    const region = (extended: Record<string, string>, env: NodeJS.ProcessEnv) =>
      resolveS3Settings(aws, { extended, env }).region;
    assert.equal(region({}, {}), 'us-east-1');
    assert.equal(region({}, { AWS_REGION: 'eu-west-3' }), 'eu-west-3');
    assert.equal(region({}, { AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'eu-west-2' }), 'eu-west-2');
    assert.equal(region({ 's3.region': 'ap-south-1' }, { AWS_DEFAULT_REGION: 'eu-west-2' }), 'ap-south-1');
  });

  it('takes a storage class', () => {
    assert.equal(resolveS3Settings(aws, { env: {} }).storageClass, undefined);
    assert.equal(
      resolveS3Settings(aws, { env: {}, extended: { 's3.storage-class': 'STANDARD_IA' } }).storageClass,
      'STANDARD_IA',
    );
  });

  it('refuses unknown s3.* options and bad lookups, and leaves other backends’ options alone', () => {
    assert.throws(
      () => resolveS3Settings(aws, { env: {}, extended: { 's3.regoin': 'x' } }),
      usage(/s3\.regoin.*s3\.region, s3\.bucket-lookup, s3\.storage-class/),
    );
    assert.throws(
      () => resolveS3Settings(aws, { env: {}, extended: { 's3.bucket-lookup': 'vhost' } }),
      usage(/auto, dns or path/),
    );
    assert.doesNotThrow(() =>
      resolveS3Settings(aws, { env: {}, extended: { 'sftp.command': 'x', 's3.connections': '8' } }),
    );
  });
});

describe('openS3Backend', () => {
  it('does no I/O when opened and prints its location back', async () => {
    const b = openS3Backend('s3:https://AKIA:s3cr3t@192.0.2.1:1/bucket/repo', { env: {} });
    assert.equal(b.location, 's3:https://192.0.2.1:1/bucket/repo');
    await b.close();
    await b.close();
  });

  it('returns an empty buffer for a range of length 0 without asking the server', async () => {
    const b = openS3Backend('s3:http://192.0.2.1:1/bucket', { env: {} });
    assert.equal((await b.load({ type: 'data', name: 'ab' }, 10, 0)).length, 0);
    await b.close();
  });
});

describe('s3Failure', () => {
  const loc = parseS3Location('s3:https://host/bkt/repo');
  const sdkError = (name: string, status: number | undefined, message = name) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  const classify = (err: unknown) => s3Failure(err, 'load', 'data/ab12', loc, 'us-east-1');

  it('maps a missing object to not-found', () => {
    assert.equal(classify(sdkError('NoSuchKey', 404)).code, 'not-found');
    assert.equal(classify(sdkError('NotFound', 404)).code, 'not-found');
    assert.match(classify(sdkError('NotFound', 404)).message, /data\/ab12 does not exist/);
  });

  it('marks what may pass as transient', () => {
    for (const err of [
      sdkError('InternalError', 500),
      sdkError('ServiceUnavailable', 503),
      sdkError('SlowDown', 503),
      sdkError('TooManyRequests', 429),
      sdkError('RequestTimeout', 400),
      sdkError('TimeoutError', undefined),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      new Error('socket hang up'),
    ]) {
      const mapped = classify(err);
      assert.equal(mapped.transient, true, `${err.name}: ${err.message}`);
      assert.equal(mapped.code, 'io');
    }
  });

  it('gives permanent failures one clear line', () => {
    const cases: [Error, string, RegExp][] = [
      [sdkError('NoSuchBucket', 404), 'no-repository', /^s3: bucket bkt does not exist$/],
      [sdkError('AccessDenied', 403), 'io', /^s3: access denied to bucket bkt/],
      [sdkError('Forbidden', 403), 'io', /^s3: access denied to bucket bkt/],
      [sdkError('InvalidAccessKeyId', 403), 'io', /AWS_ACCESS_KEY_ID/],
      [sdkError('SignatureDoesNotMatch', 403), 'io', /AWS_SECRET_ACCESS_KEY/],
      [
        sdkError('CredentialsProviderError', undefined, 'Could not load\ncredentials'),
        'usage',
        /AWS_PROFILE/,
      ],
      [sdkError('PermanentRedirect', 301), 'io', /s3\.region/],
      [Object.assign(new Error('getaddrinfo ENOTFOUND host'), { code: 'ENOTFOUND' }), 'io', /resolve/],
      [sdkError('InvalidStorageClass', 400, 'The storage class\nyou specified'), 'io', /InvalidStorageClass/],
    ];
    for (const [err, code, pattern] of cases) {
      const mapped = classify(err);
      assert.equal(mapped.code, code, err.name);
      assert.equal(mapped.transient, false, err.name);
      assert.match(mapped.message, pattern);
      assert.doesNotMatch(mapped.message, /\n/);
    }
  });
});
