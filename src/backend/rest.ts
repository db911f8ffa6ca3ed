/**
 * restic's REST protocol, as rest-server and `rclone serve restic` speak it: one URL per
 * file (`/config`, `/{type}/{name}`), listings as JSON. Version 2 listings carry sizes;
 * a server that answers in version 1 (names only) gets a HEAD per name.
 */
import http from 'node:http';
import https from 'node:https';
import { ArcaError } from '../errors.js';
import {
  type Backend,
  type BackendOptions,
  describeHandle,
  type FileInfo,
  type FileType,
  type Handle,
} from './backend.js';

const contentTypeV2 = 'application/vnd.x.restic.rest.v2';
const defaultTimeoutSeconds = 60;
/** HEAD requests in flight while a version 1 listing is completed with sizes. */
const sizeLookups = 8;
/** `rest.connections` belongs to the limiter (see stack.ts); it is accepted here so a direct open does not refuse it. */
const knownOptions = ['rest.connections', 'rest.timeout'];
const locationForm = 'rest:http(s)://[user:password@]host[:port]/[path/]';

/** A parsed `rest:` location: where requests go and who makes them. */
export interface RestTarget {
  /** The repository's base URL, ending in `/`, without credentials. */
  url: URL;
  username: string;
  password: string;
  /** The location as the user wrote it, without the password. */
  display: string;
}

/**
 * Parses `rest:http(s)://[user:password@]host[:port]/[path/]`. User name and password are
 * percent-decoded; each one missing from the URL is taken from `ARCA_REST_USERNAME` /
 * `ARCA_REST_PASSWORD` in `env`. Messages never repeat the location, which may hold a password.
 */
export function parseRestLocation(location: string, env: NodeJS.ProcessEnv): RestTarget {
  const bad = (why: string) =>
    new ArcaError('usage', `rest repository location: ${why} (write ${locationForm})`);
  if (!location.startsWith('rest:')) throw bad('it does not start with rest:');
  let raw = location.slice('rest:'.length);
  if (!raw.endsWith('/')) raw += '/';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('only http and https are supported');
  if (url.search !== '' || url.hash !== '') throw bad('a query or fragment is not allowed');
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw bad('the user name or password is not correctly percent-encoded');
  }
  username ||= env['ARCA_REST_USERNAME'] ?? '';
  password ||= env['ARCA_REST_PASSWORD'] ?? '';
  url.password = '';
  const display = `rest:${url.href}`;
  url.username = '';
  return { url, username, password, display };
}

/** Opens a `rest:` location; nothing is sent until the first operation. */
export function openRestBackend(location: string, options: BackendOptions): Backend {
  const extended = options.extended ?? {};
  for (const key of Object.keys(extended)) {
    if (key.startsWith('rest.') && !knownOptions.includes(key)) {
      throw new ArcaError('usage', `unknown option -o ${key} (valid: ${knownOptions.join(', ')})`);
    }
  }
  let timeoutSeconds = defaultTimeoutSeconds;
  const timeout = extended['rest.timeout'];
  if (timeout !== undefined) {
    timeoutSeconds = Number(timeout);
    if (timeout.trim() === '' || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
      throw new ArcaError('usage', `-o rest.timeout=${timeout}: expected a positive number of seconds`);
    }
  }
  return new RestBackend(parseRestLocation(location, options.env ?? process.env), timeoutSeconds);
}

/** What came back from the server, body read in full. */
interface Reply {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A repository behind a REST server (rest-server, `rclone serve restic`). */
class RestBackend implements Backend {
  readonly location: string;
  private readonly url: URL;
  private readonly https: boolean;
  private readonly authorization: string | undefined;
  private readonly password: string;
  private readonly timeoutMs: number;
  private agent: http.Agent | undefined;

  constructor(target: RestTarget, timeoutSeconds: number) {
    this.location = target.display;
    this.url = target.url;
    this.https = target.url.protocol === 'https:';
    this.password = target.password;
    this.authorization =
      target.username === '' && target.password === ''
        ? undefined
        : `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`;
    this.timeoutMs = timeoutSeconds * 1000;
  }

  async create(): Promise<void> {
    const what = 'create repository';
    const config = await this.request('HEAD', 'config', what);
    if (config.status === 200) {
      throw new ArcaError('exists', `repository ${this.location} already exists (it has a config file)`);
    }
    if (config.status !== 404) throw this.failure(what, config);
    const reply = await this.request('POST', '?create=true', what);
    if (!isSuccess(reply.status)) throw this.failure(what, reply);
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const what = `load ${describeHandle(h)}`;
    const ranged = offset !== 0 || length !== undefined;
    const range = length === undefined ? `bytes=${offset}-` : `bytes=${offset}-${offset + length - 1}`;
    const reply = await this.request('GET', pathOf(h), what, ranged ? { Range: range } : {});
    if (reply.status === 404) throw notFound(h);
    if (reply.status === 416) throw this.truncated(h, offset, length, 0);
    let data: Buffer;
    if (reply.status === 200) {
      // A server that ignores Range sends the whole file.
      if (offset > reply.body.length) throw this.truncated(h, offset, length, 0);
      data = ranged
        ? reply.body.subarray(offset, length === undefined ? undefined : offset + length)
        : reply.body;
    } else if (reply.status === 206 && ranged) {
      const start = /^bytes (\d+)-/.exec(reply.headers['content-range'] ?? '')?.[1];
      if (start !== undefined && Number(start) !== offset) {
        throw new ArcaError(
          'io',
          `rest: ${what} at ${this.location}: asked for bytes from ${offset}, got from ${start}`,
        );
      }
      data = length === undefined ? reply.body : reply.body.subarray(0, length);
    } else {
      throw this.failure(what, reply);
    }
    if (length !== undefined && data.length < length) throw this.truncated(h, offset, length, data.length);
    return data;
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    const what = `save ${describeHandle(h)}`;
    const reply = await this.request(
      'POST',
      pathOf(h),
      what,
      { 'Content-Type': 'application/octet-stream' },
      data,
    );
    if (isSuccess(reply.status)) return;
    if (reply.status === 403 && h.type !== 'config') {
      // rest-server (and rclone in append-only mode) refuse to overwrite: when an earlier
      // attempt of this upload did arrive, the content-addressed file is already complete.
      const stored = await this.stat(h).catch(() => undefined);
      if (stored?.size === data.length) return;
    }
    throw this.failure(what, reply);
  }

  async stat(h: Handle): Promise<FileInfo> {
    const what = `stat ${describeHandle(h)}`;
    const reply = await this.request('HEAD', pathOf(h), what);
    if (reply.status === 404) throw notFound(h);
    if (reply.status !== 200) throw this.failure(what, reply);
    const size = Number(reply.headers['content-length'] ?? Number.NaN);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new ArcaError('io', `rest: ${what} at ${this.location}: the server sent no Content-Length`);
    }
    return { name: h.name, size };
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const what = `list ${type}`;
    const reply = await this.request('GET', `${type}/`, what);
    // rest-server answers 404 for a type directory that does not exist yet.
    if (reply.status === 404) return;
    if (reply.status !== 200) throw this.failure(what, reply);
    const entries = this.parseListing(what, reply.body);
    const names: string[] = [];
    for (const entry of entries) {
      if (typeof entry === 'string') names.push(entry);
      else yield entry;
    }
    yield* this.withSizes(type, names);
  }

  async remove(h: Handle): Promise<void> {
    const what = `remove ${describeHandle(h)}`;
    const reply = await this.request('DELETE', pathOf(h), what);
    if (reply.status !== 404 && !isSuccess(reply.status)) throw this.failure(what, reply);
  }

  async close(): Promise<void> {
    this.agent?.destroy();
    this.agent = undefined;
  }

  /**
   * A listing is a JSON array: `{name, size}` objects in version 2, names in version 1
   * (what a server that ignores our Accept header sends). rest-server sends `null` for none.
   */
  private parseListing(what: string, body: Buffer): (string | FileInfo)[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ArcaError(
        'io',
        `rest: ${what} at ${this.location}: the server sent a listing that is not JSON`,
      );
    }
    if (parsed === null) return [];
    const valid =
      Array.isArray(parsed) &&
      parsed.every(
        (e: unknown) =>
          typeof e === 'string' ||
          (typeof e === 'object' &&
            e !== null &&
            typeof (e as FileInfo).name === 'string' &&
            Number.isSafeInteger((e as FileInfo).size)),
      );
    if (!valid) {
      throw new ArcaError(
        'io',
        `rest: ${what} at ${this.location}: the server sent a listing of unknown shape`,
      );
    }
    return (parsed as (string | FileInfo)[]).map((e) =>
      typeof e === 'string' ? e : { name: e.name, size: e.size },
    );
  }

  /** Sizes for a version 1 listing: a bounded number of HEADs at a time, in listing order. */
  private async *withSizes(type: FileType, names: string[]): AsyncGenerator<FileInfo> {
    const inFlight: Promise<FileInfo | undefined>[] = [];
    let next = 0;
    while (next < names.length || inFlight.length > 0) {
      while (next < names.length && inFlight.length < sizeLookups) {
        const name = names[next++] as string;
        const lookup = this.stat({ type, name }).catch((err: unknown) => {
          // Deleted between the listing and the HEAD: no longer part of the listing.
          if (err instanceof ArcaError && err.code === 'not-found') return undefined;
          throw err;
        });
        // Handled where it is awaited; this only keeps an abandoned listing from reporting it.
        lookup.catch(() => {});
        inFlight.push(lookup);
      }
      const fi = await inFlight.shift();
      if (fi !== undefined) yield fi;
    }
  }

  /** One HTTP exchange. Network trouble and a body cut short throw; every status resolves. */
  private request(
    method: string,
    relative: string,
    what: string,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<Reply> {
    const target = new URL(relative, this.url);
    const allHeaders: Record<string, string> = { Accept: contentTypeV2, ...headers };
    if (this.authorization !== undefined) allHeaders['Authorization'] = this.authorization;
    if (body !== undefined) allHeaders['Content-Length'] = String(body.length);
    this.agent ??= this.https ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const options: http.RequestOptions = {
      method,
      hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: target.port,
      path: target.pathname + target.search,
      headers: allHeaders,
      agent: this.agent,
    };
    return new Promise<Reply>((resolve, reject) => {
      let timedOut = false;
      const req = (this.https ? https : http).request(options, (res) => {
        const announced = method === 'HEAD' ? undefined : contentLength(res.headers);
        const fixed = announced === undefined ? undefined : allocate(announced);
        const chunks: Buffer[] = [];
        let received = 0;
        let ended = false;
        res.on('data', (chunk: Buffer) => {
          if (fixed !== undefined && received + chunk.length <= fixed.length) chunk.copy(fixed, received);
          else chunks.push(chunk);
          received += chunk.length;
        });
        res.on('end', () => {
          ended = true;
          if (announced !== undefined && received !== announced) {
            reject(this.cutShort(what, received, announced));
            return;
          }
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            body: fixed ?? Buffer.concat(chunks, received),
          });
        });
        res.on('error', (err) =>
          reject(
            timedOut ? this.networkError(what, err, true) : this.cutShort(what, received, announced, err),
          ),
        );
        res.on('close', () => {
          if (!ended) reject(this.cutShort(what, received, announced));
        });
      });
      req.setTimeout(this.timeoutMs, () => {
        timedOut = true;
        req.destroy();
      });
      req.on('error', (err) => reject(this.networkError(what, err, timedOut)));
      req.end(body);
    });
  }

  /** The error for an unexpected status. */
  private failure(what: string, reply: Reply): ArcaError {
    const status = reply.status;
    if (status === 401) {
      return new ArcaError(
        'io',
        `rest: authentication failed at ${this.location} (HTTP 401): check the user name and password ` +
          '(in the URL or ARCA_REST_USERNAME / ARCA_REST_PASSWORD)',
      );
    }
    if (status === 403) {
      return new ArcaError('io', `rest: access denied: ${what} at ${this.location} (HTTP 403)`);
    }
    const transient = status >= 500 || status === 429 || status === 408;
    return new ArcaError(
      'io',
      `rest: ${what} at ${this.location}: the server answered ${status} ${reply.statusText}${this.serverSays(reply)}`,
      { transient },
    );
  }

  /** The server's own short explanation, when there is one that is safe to print. */
  private serverSays(reply: Reply): string {
    if (reply.body.length === 0 || reply.body.length > 200) return '';
    const text = reply.body.toString('utf8').replace(/\s+/g, ' ').trim();
    if (text === '' || (this.password !== '' && text.includes(this.password))) return '';
    return ` (${text})`;
  }

  private networkError(what: string, err: Error, timedOut: boolean): ArcaError {
    if (timedOut) {
      return new ArcaError(
        'io',
        `rest: ${what} at ${this.location}: no answer for ${this.timeoutMs / 1000} s (see -o rest.timeout)`,
        { cause: err, transient: true },
      );
    }
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // A certificate the server will keep presenting does not get better by trying again.
    const tls = code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code);
    return new ArcaError('io', `rest: ${what} at ${this.location}: ${err.message}`, {
      cause: err,
      transient: !tls,
    });
  }

  private cutShort(what: string, received: number, announced: number | undefined, cause?: Error): ArcaError {
    const of = announced === undefined ? '' : ` of ${announced}`;
    return new ArcaError(
      'io',
      `rest: ${what} at ${this.location}: the connection ended after ${received}${of} bytes`,
      {
        cause,
        transient: true,
      },
    );
  }

  private truncated(h: Handle, offset: number, length: number | undefined, got: number): ArcaError {
    const want = length === undefined ? 'the bytes after' : `${length} bytes at`;
    return new ArcaError(
      'corrupt',
      `${describeHandle(h)} is truncated: wanted ${want} ${offset}, got ${got}`,
    );
  }
}

/** The URL path of a file, relative to the repository's base URL. */
function pathOf(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${encodeURIComponent(h.name)}`;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function notFound(h: Handle): ArcaError {
  return new ArcaError('not-found', `${describeHandle(h)} does not exist`);
}

function contentLength(headers: http.IncomingHttpHeaders): number | undefined {
  const value = headers['content-length'];
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** A buffer for a body of known size, so large files are not copied twice; none when it cannot be had. */
function allocate(size: number): Buffer | undefined {
  try {
    return Buffer.allocUnsafe(size);
  } catch {
    return undefined;
  }
}
