import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type {
  BucketLocationConstraint,
  GetObjectCommandOutput,
  PutObjectCommandInput,
  S3Client,
  S3ClientConfig,
  StorageClass,
} from '@aws-sdk/client-s3';
import { ArcaError } from '../errors.js';
import {
  type Backend,
  type BackendOptions,
  describeHandle,
  type FileInfo,
  type FileType,
  type Handle,
} from './backend.js';

/**
 * The AWS SDK, loaded on first use: it takes a few hundred milliseconds to load, which
 * every other command (local, SFTP, REST) would otherwise pay at start-up.
 */
const sdk = {} as {
  s3: typeof import('@aws-sdk/client-s3');
  storage: typeof import('@aws-sdk/lib-storage');
};
let sdkLoading: Promise<void> | undefined;

function loadSdk(): Promise<void> {
  sdkLoading ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(
    ([s3, storage]) => {
      sdk.s3 = s3;
      sdk.storage = storage;
    },
  );
  return sdkLoading;
}

/** Where a repository lives on an S3 server, as parsed from `s3:…`. */
export interface S3Location {
  /** `https://host[:port]` or `http://host:port`. */
  endpoint: string;
  bucket: string;
  /** Object key prefix without leading or trailing slash; empty for the bucket's root. */
  prefix: string;
  /** The location as it is printed: normalised, never with credentials. */
  display: string;
}

/** How bucket names go into request URLs (restic's `s3.bucket-lookup`). */
export type BucketLookup = 'auto' | 'dns' | 'path';

/** Everything besides the location that decides how the backend talks to the server. */
export interface S3Settings {
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`) rather than virtual-host ones (`bucket.endpoint/key`). */
  forcePathStyle: boolean;
  /** Storage class for data files (packs); the server's default when undefined. */
  storageClass: string | undefined;
}

const extendedKeys = ['s3.region', 's3.bucket-lookup', 's3.storage-class'];

/** Objects larger than this go up in parts, this large, several at once. */
const multipartThreshold = 16 * 1024 * 1024;
const partSize = 16 * 1024 * 1024;
const partsInFlight = 4;
/** ListObjectsV2's largest page. */
const pageSize = 1000;

/**
 * Parses a location as restic writes it: `s3:https://host[:port]/bucket[/prefix]`,
 * `s3:http://host:port/bucket[/prefix]`, or `s3:host/bucket[/prefix]` (https implied).
 */
export function parseS3Location(location: string): S3Location {
  const bad = (why: string): ArcaError =>
    new ArcaError(
      'usage',
      `repository location ${JSON.stringify(redact(location))}: ${why} ` +
        '(expected s3:https://host/bucket/prefix or s3:host/bucket/prefix)',
    );
  let scheme: 'http' | 'https';
  let host: string;
  let path: string;
  // Checked on the text: URL parsing would quietly resolve the dot segments.
  if (/\/(\.|%2e){2}(\/|$)/i.test(location)) throw bad('".." in the path');
  if (/^s3:https?:\/\//.test(location)) {
    let url: URL;
    try {
      url = new URL(location.slice('s3:'.length));
    } catch {
      throw bad('not a valid URL');
    }
    scheme = url.protocol === 'http:' ? 'http' : 'https';
    host = url.host;
    path = url.pathname
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');
  } else if (location.startsWith('s3:')) {
    // restic accepts `s3://host/bucket` as a synonym of `s3:host/bucket`.
    const rest = location.slice(location.startsWith('s3://') ? 's3://'.length : 's3:'.length);
    const slash = rest.indexOf('/');
    scheme = 'https';
    host = slash < 0 ? rest : rest.slice(0, slash);
    path = slash < 0 ? '' : rest.slice(slash);
  } else {
    throw bad('not an s3 location');
  }
  if (host === '' || host.includes('@')) throw bad('no host');
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  const bucket = segments.shift();
  if (bucket === undefined) throw bad('no bucket name');
  const prefix = segments.join('/');
  const hostForm = !/^s3:https?:\/\//.test(location);
  const tail = prefix === '' ? bucket : `${bucket}/${prefix}`;
  return {
    endpoint: `${scheme}://${host}`,
    bucket,
    prefix,
    display: hostForm ? `s3:${host}/${tail}` : `s3:${scheme}://${host}/${tail}`,
  };
}

/** Checks the `s3.*` extended options and works out region and addressing. */
export function resolveS3Settings(loc: S3Location, options: BackendOptions): S3Settings {
  const extended = options.extended ?? {};
  const env = options.env ?? process.env;
  for (const key of Object.keys(extended)) {
    // s3.connections belongs to the limiter around the backend (see stack.ts).
    if (!key.startsWith('s3.') || key === 's3.connections' || extendedKeys.includes(key)) continue;
    throw new ArcaError(
      'usage',
      `unknown option -o ${key} (the s3 backend knows ${extendedKeys.join(', ')})`,
    );
  }
  const lookup = extended['s3.bucket-lookup'] ?? 'auto';
  if (lookup !== 'auto' && lookup !== 'dns' && lookup !== 'path') {
    throw new ArcaError('usage', `-o s3.bucket-lookup=${lookup}: expected auto, dns or path`);
  }
  const region =
    nonEmpty(extended['s3.region']) ?? nonEmpty(env['AWS_DEFAULT_REGION']) ?? nonEmpty(env['AWS_REGION']);
  return {
    region: region ?? 'us-east-1',
    forcePathStyle: usePathStyle(lookup, loc),
    storageClass: nonEmpty(extended['s3.storage-class']),
  };
}

/**
 * restic's (minio-go's) rule for `auto`: virtual-host style only where the server is known
 * to serve it (AWS, Google) and the bucket name can be a host name, one without dots over
 * https, where a dotted name would not match the wildcard certificate.
 */
function usePathStyle(lookup: BucketLookup, loc: S3Location): boolean {
  if (lookup !== 'auto') return lookup === 'path';
  const url = new URL(loc.endpoint);
  const host = url.hostname.toLowerCase();
  const known = /(^|\.)amazonaws\.com(\.cn)?$/.test(host) || host === 'storage.googleapis.com';
  const dnsName =
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(loc.bucket) &&
    !loc.bucket.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(loc.bucket);
  const dotsOk = url.protocol === 'http:' || !loc.bucket.includes('.');
  return !(known && dnsName && dotsOk);
}

/** Opens an S3 repository location; nothing is sent until the first operation. */
export function openS3Backend(location: string, options: BackendOptions): Backend {
  const loc = parseS3Location(location);
  return new S3Backend(loc, resolveS3Settings(loc, options), options.env ?? process.env);
}

/** A repository in an S3 bucket, laid out exactly as restic lays it out there. */
export class S3Backend implements Backend {
  readonly location: string;
  private client: S3Client | undefined;
  private agents: { http: http.Agent; https: https.Agent } | undefined;

  constructor(
    private readonly loc: S3Location,
    private readonly settings: S3Settings,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.location = loc.display;
  }

  /** The object key of a file: packs go under `data/<first two hex digits>/`, as in restic's default layout. */
  key(h: Handle): string {
    if (h.type === 'config') return this.base('config');
    if (h.type === 'data') return this.base(`data/${h.name.slice(0, 2)}/${h.name}`);
    return this.base(`${h.type}/${h.name}`);
  }

  async create(): Promise<void> {
    const { bucket } = this.loc;
    try {
      await (await this.s3()).send(new sdk.s3.HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (statusOf(err) !== 404) throw this.failure(err, 'check bucket', bucket);
      await this.createBucket();
    }
    let exists = true;
    try {
      await this.stat({ type: 'config', name: '' });
    } catch (err) {
      if (!(err instanceof ArcaError && err.code === 'not-found')) throw err;
      exists = false;
    }
    if (exists)
      throw new ArcaError('exists', `repository ${this.location} already exists (it has a config file)`);
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const ranged = offset !== 0 || length !== undefined;
    const range = ranged ? `bytes=${offset}-${length === undefined ? '' : offset + length - 1}` : undefined;
    let res: GetObjectCommandOutput;
    try {
      res = await (await this.s3()).send(
        new sdk.s3.GetObjectCommand({ Bucket: this.loc.bucket, Key: this.key(h), Range: range }),
      );
    } catch (err) {
      if (nameOf(err) === 'InvalidRange' || statusOf(err) === 416) {
        // A range that starts at the end of the file is empty, not past it.
        if (length === undefined && (await this.stat(h)).size === offset) return Buffer.alloc(0);
        const short = `${describeHandle(h)} is shorter than ${offset + (length ?? 1)} bytes`;
        throw new ArcaError('corrupt', short, { cause: err });
      }
      throw this.failure(err, 'load', describeHandle(h));
    }
    let data = await this.readBody(h, res.Body as Readable | undefined, res.ContentLength);
    // A server that ignores Range sends the whole file.
    if (ranged && res.ContentRange === undefined) {
      data = data.subarray(offset, length === undefined ? undefined : offset + length);
    }
    if (length !== undefined && data.length < length) {
      throw new ArcaError(
        'corrupt',
        `${describeHandle(h)} is truncated: wanted ${length} bytes at ${offset}, got ${data.length}`,
      );
    }
    return data;
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    const params = {
      Bucket: this.loc.bucket,
      Key: this.key(h),
      ContentType: 'application/octet-stream',
      StorageClass: h.type === 'data' ? (this.settings.storageClass as StorageClass | undefined) : undefined,
    };
    try {
      if (data.length <= multipartThreshold) {
        await (await this.s3()).send(
          new sdk.s3.PutObjectCommand({ ...params, Body: data, ContentLength: data.length }),
        );
      } else {
        const client = await this.s3();
        const upload = new sdk.storage.Upload({
          client,
          params: { ...params, Body: data },
          partSize,
          queueSize: partsInFlight,
          leavePartsOnError: false,
        });
        await upload.done();
      }
    } catch (err) {
      throw this.failure(err, 'save', describeHandle(h));
    }
  }

  async stat(h: Handle): Promise<FileInfo> {
    try {
      const res = await (await this.s3()).send(
        new sdk.s3.HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.key(h) }),
      );
      return { name: h.name, size: res.ContentLength ?? 0 };
    } catch (err) {
      // A HEAD answer has no body, so a missing bucket looks like a missing file; the config
      // is what opening a repository asks for first, and there the difference matters.
      if (h.type === 'config' && statusOf(err) === 404) await this.checkBucket();
      throw this.failure(err, 'stat', describeHandle(h));
    }
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const prefix = this.base(`${type}/`);
    let token: string | undefined;
    for (;;) {
      let page: Awaited<ReturnType<S3Backend['listPage']>>;
      try {
        page = await this.listPage(prefix, type === 'data', token);
      } catch (err) {
        // Like a missing directory for the local backend: nothing there yet (init lists
        // keys before it creates the bucket). Opening a repository asks for the config
        // first, and that reports the missing bucket.
        if (nameOf(err) === 'NoSuchBucket') return;
        throw this.failure(err, 'list', type);
      }
      for (const obj of page.Contents ?? []) {
        const name = obj.Key?.slice(obj.Key.lastIndexOf('/') + 1) ?? '';
        if (name !== '') yield { name, size: obj.Size ?? 0 };
      }
      if (page.IsTruncated !== true) return;
      if (page.NextContinuationToken === undefined || page.NextContinuationToken === token) {
        throw new ArcaError(
          'io',
          `s3: list ${type}: the server said there is more but gave no way to get it`,
        );
      }
      token = page.NextContinuationToken;
    }
  }

  async remove(h: Handle): Promise<void> {
    try {
      await (await this.s3()).send(
        new sdk.s3.DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.key(h) }),
      );
    } catch (err) {
      if (statusOf(err) === 404 && nameOf(err) !== 'NoSuchBucket') return;
      throw this.failure(err, 'remove', describeHandle(h));
    }
  }

  async close(): Promise<void> {
    this.client?.destroy();
    this.agents?.http.destroy();
    this.agents?.https.destroy();
    this.client = undefined;
    this.agents = undefined;
  }

  private base(rest: string): string {
    return this.loc.prefix === '' ? rest : `${this.loc.prefix}/${rest}`;
  }

  private async listPage(prefix: string, recursive: boolean, token: string | undefined) {
    return (await this.s3()).send(
      new sdk.s3.ListObjectsV2Command({
        Bucket: this.loc.bucket,
        Prefix: prefix,
        // Packs sit one level down (data/<2 hex>/); everything else directly under its type.
        Delimiter: recursive ? undefined : '/',
        MaxKeys: pageSize,
        ContinuationToken: token,
      }),
    );
  }

  private async createBucket(): Promise<void> {
    const { bucket } = this.loc;
    const { region } = this.settings;
    try {
      await (await this.s3()).send(
        new sdk.s3.CreateBucketCommand({
          Bucket: bucket,
          // us-east-1 is the default, and the one region S3 refuses to be told explicitly.
          CreateBucketConfiguration:
            region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
        }),
      );
    } catch (err) {
      if (nameOf(err) === 'BucketAlreadyOwnedByYou') return;
      throw this.failure(err, 'create bucket', bucket);
    }
  }

  /** Throws a clear error when the bucket is missing; returns when it exists. */
  private async checkBucket(): Promise<void> {
    try {
      await (await this.s3()).send(new sdk.s3.HeadBucketCommand({ Bucket: this.loc.bucket }));
    } catch (err) {
      if (statusOf(err) === 404) throw noBucket(this.loc.bucket, err);
      throw this.failure(err, 'check bucket', this.loc.bucket);
    }
  }

  /** Reads a response body whole; a connection that ends early is a transient failure. */
  private async readBody(
    h: Handle,
    body: Readable | undefined,
    expected: number | undefined,
  ): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let got = 0;
    try {
      for await (const chunk of body ?? []) {
        chunks.push(chunk as Buffer);
        got += (chunk as Buffer).length;
      }
    } catch (err) {
      throw this.failure(err, 'load', describeHandle(h));
    }
    if (expected !== undefined && got !== expected) {
      throw new ArcaError(
        'io',
        `s3: load ${describeHandle(h)}: the connection ended after ${got} of ${expected} bytes`,
        { transient: true },
      );
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, got);
  }

  private async s3(): Promise<S3Client> {
    if (this.client !== undefined) return this.client;
    await loadSdk();
    if (this.client !== undefined) return this.client;
    // Enough sockets that the connection limit around the backend is the only limit; kept
    // alive so parallel transfers do not pay a handshake each.
    const agentOptions = { keepAlive: true, maxSockets: 256 };
    this.agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
    // 3.1175.0 is pinned on purpose as the last release for Node 20; its notice that later
    // releases need Node 22 tells arca's users nothing they can act on.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const config: S3ClientConfig = {
      endpoint: this.loc.endpoint,
      region: this.settings.region,
      forcePathStyle: this.settings.forcePathStyle,
      // AWS answers a request sent to the wrong region with the right one; follow it.
      followRegionRedirects: true,
      // One attempt per call: RetryBackend around this backend is the single place that
      // retries, with restic's patience and a warning per retry; SDK retries inside it
      // would multiply the attempts and hide the failures.
      maxAttempts: 1,
      // Third-party servers (MinIO, Ceph, Garage, s3rver…) do not all know the flexible
      // checksums the SDK would add by default. Uploads carry Content-MD5 instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: this.agents.http,
        httpsAgent: this.agents.https,
        connectionTimeout: 30_000,
        // Idle time on a socket, not the time a transfer may take.
        requestTimeout: 120_000,
      },
      ...credentialsFrom(this.env),
    };
    const client = new sdk.s3.S3Client(config);
    client.middlewareStack.add(
      (next, context) => (args) => {
        const upload =
          context.commandName === 'PutObjectCommand' || context.commandName === 'UploadPartCommand';
        const input = args.input as PutObjectCommandInput;
        if (!upload || !(input.Body instanceof Uint8Array) || input.ContentMD5 !== undefined)
          return next(args);
        // The server checks the body against it and refuses one damaged on the way.
        const md5 = createHash('md5').update(input.Body).digest('base64');
        return next({ ...args, input: { ...input, ContentMD5: md5 } });
      },
      { step: 'initialize', name: 'arcaContentMd5' },
    );
    this.client = client;
    return client;
  }

  private failure(err: unknown, op: string, subject: string): ArcaError {
    return s3Failure(err, op, subject, this.loc, this.settings.region);
  }
}

/**
 * Turns what the SDK or the network threw while doing `op` (`load`) to `subject`
 * (`data/ab12…`) into an ArcaError saying what to do about it, transient where another
 * attempt may succeed.
 */
export function s3Failure(
  err: unknown,
  op: string,
  subject: string,
  loc: S3Location,
  region: string,
): ArcaError {
  if (err instanceof ArcaError) return err;
  const what = `${op} ${subject}`;
  const name = nameOf(err);
  const status = statusOf(err);
  const { bucket } = loc;
  const why = `${name ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}`;
  if (name === 'NoSuchBucket') return noBucket(bucket, err);
  if (name === 'NoSuchKey' || status === 404) {
    return new ArcaError('not-found', `${subject} does not exist`, { cause: err });
  }
  if (name === 'InvalidAccessKeyId') {
    return new ArcaError('io', 's3: the server does not know the access key (check AWS_ACCESS_KEY_ID)', {
      cause: err,
    });
  }
  if (name === 'SignatureDoesNotMatch') {
    return new ArcaError('io', 's3: the server refused the request signature (check AWS_SECRET_ACCESS_KEY)', {
      cause: err,
    });
  }
  if (name === 'AccessDenied' || status === 403) {
    return new ArcaError(
      'io',
      `s3: access denied to bucket ${bucket} (${what}): check the credentials and the bucket's policy`,
      { cause: err },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new ArcaError(
      'usage',
      's3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE',
      { cause: err },
    );
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return new ArcaError(
      'io',
      `s3: bucket ${bucket} is in another region than ${region} (set -o s3.region=…)`,
      { cause: err },
    );
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOTFOUND') {
    return new ArcaError('io', `s3: cannot resolve the host of ${loc.endpoint}`, { cause: err });
  }
  if (isTransient(name, status, code, err)) {
    return new ArcaError('io', `s3: ${what}: ${why}: ${firstLine(err)}`, { cause: err, transient: true });
  }
  return new ArcaError('io', `s3: ${what}: ${why}: ${firstLine(err)}`, { cause: err });
}

const transientNames = new Set([
  'SlowDown',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeoutException',
  // The body was damaged on the way: sending it again may well work.
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  'IncompleteBody',
]);

const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function isTransient(
  name: string | undefined,
  status: number | undefined,
  code: unknown,
  err: unknown,
): boolean {
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (name !== undefined && transientNames.has(name)) return true;
  if (typeof code === 'string' && transientCodes.has(code)) return true;
  return err instanceof Error && /socket hang up|aborted/i.test(err.message);
}

function noBucket(bucket: string, cause: unknown): ArcaError {
  return new ArcaError('no-repository', `s3: bucket ${bucket} does not exist`, { cause });
}

/** The S3 error code (`NoSuchKey`, `SlowDown`…) or the JavaScript error's name. */
function nameOf(err: unknown): string | undefined {
  const e = err as { name?: unknown; Code?: unknown } | null;
  if (typeof e?.Code === 'string') return e.Code;
  return typeof e?.name === 'string' ? e.name : undefined;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n', 1)[0]?.trim() ?? '';
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

/**
 * Keys from the environment given (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and
 * AWS_SESSION_TOKEN for temporary ones); otherwise the SDK's default chain — AWS_PROFILE
 * with ~/.aws/credentials and ~/.aws/config, SSO, web identity, the instance's role —
 * which reads the process's own environment.
 */
function credentialsFrom(env: NodeJS.ProcessEnv): Pick<S3ClientConfig, 'credentials' | 'profile'> {
  const accessKeyId = nonEmpty(env['AWS_ACCESS_KEY_ID']);
  const secretAccessKey = nonEmpty(env['AWS_SECRET_ACCESS_KEY']);
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    return {
      credentials: { accessKeyId, secretAccessKey, sessionToken: nonEmpty(env['AWS_SESSION_TOKEN']) },
    };
  }
  const profile = nonEmpty(env['AWS_PROFILE']);
  return profile === undefined ? {} : { profile };
}

/** The location without anything that looks like credentials in a URL, for messages. */
function redact(location: string): string {
  // Userinfo in either form (`s3:https://key:secret@host/…`, `s3:key:secret@host/…`) is dropped.
  return location.replace(/^(s3:(?:[a-z]+:\/\/)?)[^/@]*@/i, '$1');
}
