/**
 * The S3 test server, run as a child process by `s3server.ts`: s3rver on 127.0.0.1 with a
 * free port, storing under the directory given as the first argument. Prints `PORT <n>`
 * once it listens, and exits when its stdin closes (so it never outlives the tests).
 *
 * It must run under `node --openssl-legacy-provider`: s3rver encrypts ListObjectsV2
 * continuation tokens with DES, which Node 17+ only offers with the legacy provider, and
 * without it every paginated listing answers 500.
 *
 * Three fixes make s3rver a fair stand-in for real S3:
 * - Bodies sent with `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (aws-chunked, as restic's
 *   minio-go sends every PUT over plain http) are decoded; s3rver would store the chunk
 *   framing as part of the object, and restic could not read its own repository.
 * - `Content-MD5` is checked and a mismatch refused with BadDigest, as S3 does; s3rver
 *   ignores the header, so the tests would not notice a client sending a wrong digest.
 * - Objects and parts are on disk, whole, before the PUT is answered, and replace an
 *   older version at once: s3rver answers when the last byte is handed to the file
 *   stream, so a read right after could see a short file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';

interface KoaContext {
  method: string;
  req: Readable;
  request: { req: IncomingMessage };
  get(name: string): string;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverServer {
  middleware: Middleware[];
  run(): Promise<{ port: number }>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverServer;
type S3ErrorClass = new (code: string, message: string) => Error;
interface StoredObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, kind: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: number,
    content: Readable,
  ): Promise<{ size: number; md5: string }>;
}

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverClass;
const S3Error = require('s3rver/lib/models/error') as S3ErrorClass;
const Store = require('s3rver/lib/stores/filesystem') as { prototype: FilesystemStore };

/** The payload of an aws-chunked body: `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n`…`0…\r\n`. */
function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isInteger(size)) throw new S3Error('IncompleteBody', 'malformed aws-chunked body');
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  throw new S3Error('IncompleteBody', 'aws-chunked body ended without its final chunk');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Writes `file` whole before returning, and atomically: under a temporary name outside the
 * buckets (where s3rver's listing would trip over it vanishing), then renamed into place.
 */
async function writeWhole(file: string, data: Buffer): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(tmpDir, randomBytes(8).toString('hex'));
  await writeFile(tmp, data);
  await rename(tmp, file);
  return createHash('md5').update(data).digest('hex');
}

Store.prototype.putObject = async function putObject(object) {
  const body = Buffer.isBuffer(object.content) ? object.content : await readAll(object.content);
  const md5 = await writeWhole(this.getResourcePath(object.bucket, object.key, 'object'), body);
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size: body.length, md5 };
};

Store.prototype.putPart = async function putPart(bucket, uploadId, partNumber, content) {
  const file = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
  const body = await readAll(content);
  const md5 = await writeWhole(file, body);
  await writeFile(`${file}.md5`, md5);
  return { size: body.length, md5 };
};

const checkUploads: Middleware = async (ctx, next) => {
  const streaming = ctx.get('x-amz-content-sha256').startsWith('STREAMING-');
  const md5 = ctx.get('content-md5');
  if (ctx.method === 'PUT' && (streaming || md5 !== '')) {
    let body = await readAll(ctx.req);
    if (streaming) {
      body = decodeAwsChunked(body);
      ctx.request.req.headers['content-length'] = String(body.length);
    }
    if (md5 !== '' && createHash('md5').update(body).digest('base64') !== md5) {
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
    ctx.req = Readable.from([body]);
  }
  await next();
};

const directory = process.argv[2];
if (directory === undefined) throw new Error('usage: s3rver-child DIRECTORY');
const tmpDir = path.join(directory, 'tmp');
await mkdir(tmpDir, { recursive: true });
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: path.join(directory, 'buckets'),
  silent: true,
});
server.middleware.unshift(checkUploads);
const { port } = await server.run();
process.stdout.write(`PORT ${port}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
