import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AnyAuthMethod, Client, FileEntryWithStats, ParsedKey, SFTPWrapper } from 'ssh2';
import { ArcaError, isErrno } from '../errors.js';
import {
  type Backend,
  type BackendOptions,
  describeHandle,
  type FileInfo,
  type FileType,
  type Handle,
  listableTypes,
} from './backend.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  type KnownHostsEntry,
  keyType,
  knownHostsName,
  knownKeyTypes,
  preferredHostKeyAlgorithms,
  readKnownHosts,
} from './known_hosts.js';

/** Where an `sftp:` location points. */
export interface SftpTarget {
  user: string;
  host: string;
  /** Only when the location names one. */
  port?: number;
  /** Absolute, or relative to the login directory. */
  path: string;
}

/** What `-o sftp.host-key-policy=` accepts, after OpenSSH's StrictHostKeyChecking. */
export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';

/** The `-o sftp.*` options, checked. */
export interface SftpSettings {
  /** A private key file; when absent the default files in ~/.ssh that exist. */
  identity?: string;
  port?: number;
  knownHostsFile: string;
  hostKeyPolicy: HostKeyPolicy;
  timeoutMs: number;
}

/** Opens the repository at an `sftp:` location; connects on first use. */
export function openSftpBackend(location: string, options: BackendOptions): Backend {
  const target = parseSftpLocation(location);
  const settings = parseSftpOptions(options.extended ?? {});
  if (target.port !== undefined && settings.port !== undefined && target.port !== settings.port) {
    throw new ArcaError(
      'usage',
      `sftp: the location names port ${target.port} but -o sftp.port=${settings.port}; give only one`,
    );
  }
  return new SftpBackend(location, target, settings, options.env ?? process.env);
}

// ---------------------------------------------------------------------------------------------
// Locations and options

/**
 * Parses a location as restic writes it: `sftp:[user@]host:path` (path absolute, or relative
 * to the login directory) or `sftp://[user@]host[:port]/path` (`//abs` for an absolute path).
 * IPv6 addresses go in brackets. Without a user, the current OS user logs in.
 */
export function parseSftpLocation(location: string): SftpTarget {
  let userPart: string | undefined;
  let host: string;
  let port: number | undefined;
  let dir: string;
  if (location.startsWith('sftp://')) {
    const m = /^sftp:\/\/(?:([^@/]*)@)?(\[[^\]/]*\]|[^:/[\]]*)(?::(\d*))?(\/.*)?$/.exec(location);
    if (m === null) throw badLocation(location, 'expected sftp://[user@]host[:port]/path');
    const [, rawUser, rawHost = '', rawPort, rawPath] = m;
    if (rawUser?.includes(':')) {
      throw new ArcaError('usage', 'sftp: a password in the location is not supported; log in with a key');
    }
    userPart = rawUser === undefined ? undefined : decodeURIComponent(rawUser);
    host = rawHost;
    if (rawPort !== undefined && rawPort !== '') port = parsePort(rawPort, location);
    if (rawPath === undefined || rawPath === '/') throw badLocation(location, 'no directory given');
    dir = decodeURIComponent(rawPath.slice(1));
  } else if (location.startsWith('sftp:')) {
    const rest = location.slice('sftp:'.length);
    const colon = rest.indexOf(':');
    const bracket = rest.indexOf('[');
    let hostPart: string;
    if (bracket !== -1 && (colon === -1 || bracket < colon)) {
      const close = rest.indexOf(']', bracket);
      if (close === -1 || rest[close + 1] !== ':')
        throw badLocation(location, 'expected [IPv6-address]:path');
      hostPart = rest.slice(0, close + 1);
      dir = rest.slice(close + 2);
    } else {
      if (colon === -1) throw badLocation(location, 'expected sftp:[user@]host:path');
      hostPart = rest.slice(0, colon);
      dir = rest.slice(colon + 1);
    }
    const at = hostPart.lastIndexOf('@');
    // `sftp:user:password@host:/path` would otherwise read as host "user", path "password@host:/path".
    if (at === -1 && /^[^/]*@[^/]*:/.test(dir)) {
      throw new ArcaError('usage', 'sftp: a password in the location is not supported; log in with a key');
    }
    userPart = at === -1 ? undefined : hostPart.slice(0, at);
    host = hostPart.slice(at + 1);
  } else {
    throw badLocation(location, 'expected sftp:[user@]host:path');
  }
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host === '') throw badLocation(location, 'no host given');
  if (userPart === '') throw badLocation(location, 'empty user name');
  const cleaned = path.posix.normalize(dir === '' ? '.' : dir);
  if (cleaned.startsWith('~')) {
    throw badLocation(
      location,
      'the path starts with "~", which most SFTP servers do not expand; write it relative to the login directory',
    );
  }
  const target: SftpTarget = {
    user: userPart ?? currentUser(),
    host,
    path: cleaned.length > 1 && cleaned.endsWith('/') ? cleaned.slice(0, -1) : cleaned,
  };
  if (port !== undefined) target.port = port;
  return target;
}

function badLocation(location: string, why: string): ArcaError {
  return new ArcaError('usage', `invalid sftp location ${JSON.stringify(location)}: ${why}`);
}

function parsePort(value: string, where: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new ArcaError('usage', `${where}: the port must be a number from 1 to 65535`);
  }
  return port;
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env['USER'] ?? 'root';
  }
}

const optionKeys = ['identity', 'port', 'known-hosts', 'host-key-policy', 'timeout'] as const;

/** Checks the `sftp.*` extended options; an unknown `sftp.` key is a usage error naming the valid ones. */
export function parseSftpOptions(extended: Readonly<Record<string, string>>): SftpSettings {
  const settings: SftpSettings = {
    knownHostsFile: path.join(os.homedir(), '.ssh', 'known_hosts'),
    hostKeyPolicy: 'strict',
    timeoutMs: 30_000,
  };
  for (const [key, value] of Object.entries(extended)) {
    if (!key.startsWith('sftp.')) continue;
    const name = key.slice('sftp.'.length);
    switch (name) {
      case 'identity':
        settings.identity = expandHome(value);
        break;
      case 'port':
        settings.port = parsePort(value, `-o ${key}=${value}`);
        break;
      case 'known-hosts':
        settings.knownHostsFile = expandHome(value);
        break;
      case 'host-key-policy':
        if (value !== 'strict' && value !== 'accept-new' && value !== 'off') {
          throw new ArcaError('usage', `-o ${key}=${value}: expected strict, accept-new or off`);
        }
        settings.hostKeyPolicy = value;
        break;
      case 'timeout': {
        const seconds = Number(value);
        if (!Number.isFinite(seconds) || seconds <= 0 || value.trim() === '') {
          throw new ArcaError('usage', `-o ${key}=${value}: expected a number of seconds greater than 0`);
        }
        settings.timeoutMs = Math.round(seconds * 1000);
        break;
      }
      default:
        throw new ArcaError(
          'usage',
          `unknown option -o ${key} (sftp knows ${optionKeys.map((k) => `sftp.${k}`).join(', ')})`,
        );
    }
  }
  return settings;
}

function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

// ---------------------------------------------------------------------------------------------
// known_hosts

/**
 * The ssh2 library, loaded on first connection: it takes about a tenth of a second to load,
 * which commands on other kinds of repository would otherwise pay at start-up.
 */
let ssh2: typeof import('ssh2') | undefined;

async function loadSsh2(): Promise<typeof import('ssh2')> {
  // A CommonJS module: its exports are the default export of the ES module.
  ssh2 ??= ((await import('ssh2')) as unknown as { default: typeof import('ssh2') }).default;
  return ssh2;
}
const sftpNoSuchFile = 2;
const sftpPermissionDenied = 3;
const connectionLost = 'connection lost';

/** One SSH connection with its SFTP channel. */
class Session {
  lost = false;
  private closed = false;

  constructor(
    readonly client: Client,
    readonly sftp: SFTPWrapper,
  ) {
    client.on('close', () => {
      this.lost = true;
      this.closed = true;
    });
    client.on('end', () => {
      this.lost = true;
    });
    client.on('error', () => {
      this.lost = true;
    });
    const channelGone = (): void => {
      this.lost = true;
      client.end();
    };
    sftp.on('end', channelGone);
    sftp.on('close', channelGone);
  }

  /** True when the server announced an OpenSSH extension (`posix-rename@openssh.com`…). */
  has(extension: string): boolean {
    // ssh2 keeps the announced extensions to itself; its ext_* methods throw without them.
    const exts = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions;
    return exts?.[extension] === '1';
  }

  /** One SFTP request as a promise; never sent on a connection known to be gone (ssh2 would not answer). */
  request<T = void>(send: (cb: (err?: Error | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.lost) {
        reject(new Error(connectionLost));
        return;
      }
      send((err, value) => (err ? reject(err) : resolve(value as T)));
    });
  }

  async close(): Promise<void> {
    this.lost = true;
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.client.once('close', resolve);
      this.client.end();
      // A server that never answers the disconnect must not keep the process alive.
      setTimeout(() => this.client.destroy(), 2000).unref();
    });
  }
}

/** The private keys to offer, and what was tried, for messages. */
interface Credentials {
  methods: AnyAuthMethod[];
  tried: string[];
}

const defaultIdentities = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

async function loadCredentials(
  user: string,
  settings: SftpSettings,
  env: NodeJS.ProcessEnv,
): Promise<Credentials> {
  await loadSsh2();
  const passphrase = env['ARCA_SFTP_KEY_PASSPHRASE'];
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const explicit = settings.identity !== undefined;
  const files = explicit
    ? [settings.identity as string]
    : defaultIdentities.map((f) => path.join(os.homedir(), '.ssh', f));
  for (const file of files) {
    let text: Buffer;
    try {
      text = await fsp.readFile(file);
    } catch (err) {
      if (!explicit && isErrno(err, 'ENOENT')) continue;
      throw new ArcaError('io', `sftp: cannot read identity file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const key = privateKeyFrom(text, passphrase);
    if (typeof key === 'string') {
      if (explicit) throw new ArcaError('usage', `sftp: cannot use identity file ${file}: ${key}`);
      tried.push(`${file} (skipped: ${key})`);
      continue;
    }
    methods.push({ type: 'publickey', username: user, key });
    tried.push(file);
  }
  const agent = env['SSH_AUTH_SOCK'];
  if (agent !== undefined && agent !== '') {
    methods.push({ type: 'agent', username: user, agent });
    tried.push('ssh-agent');
  }
  if (methods.length === 0) {
    throw new ArcaError(
      'usage',
      `sftp: no key to log in as ${user}: give one with -o sftp.identity=FILE, put one in ~/.ssh, or start an ssh-agent`,
    );
  }
  return { methods, tried };
}

/** The private key in a key file, or why there is none to use (never the key or passphrase itself). */
function privateKeyFrom(text: Buffer, passphrase: string | undefined): ParsedKey | string {
  const parsed: unknown = (ssh2 as NonNullable<typeof ssh2>).utils.parseKey(text, passphrase);
  // OpenSSH's own format could hold several keys, so ssh2 may answer with a list.
  const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey | Error | undefined;
  if (key === undefined) return 'it holds no key';
  if (key instanceof Error) {
    if (/no passphrase given/i.test(key.message)) {
      return 'it is encrypted: set its passphrase in ARCA_SFTP_KEY_PASSPHRASE';
    }
    return /passphrase/i.test(key.message) ? 'wrong passphrase in ARCA_SFTP_KEY_PASSPHRASE' : key.message;
  }
  return key.isPrivateKey() ? key : 'it is a public key; give the private key file';
}

/**
 * Judges a server's host key as OpenSSH's StrictHostKeyChecking would: nothing when the
 * connection may go on (adding the key to known_hosts under accept-new), else why not.
 */
async function hostKeyRefusal(
  key: Buffer,
  known: readonly KnownHostsEntry[],
  host: string,
  port: number,
  settings: SftpSettings,
): Promise<ArcaError | undefined> {
  const name = knownHostsName(host, port);
  const verdict = checkHostKey(known, name, key);
  const file = settings.knownHostsFile;
  const fp = `${keyType(key)} key ${fingerprint(key)}`;
  if (verdict.status === 'known') return undefined;
  if (verdict.status === 'revoked') {
    return new ArcaError('io', `sftp: the host key of ${name} (${fp}) is revoked in ${file}:${verdict.line}`);
  }
  if (settings.hostKeyPolicy === 'off') return undefined;
  if (verdict.status === 'changed') {
    return new ArcaError(
      'io',
      `sftp: the host key of ${name} has CHANGED: the server sent ${fp}, but ${file}:${verdict.line} ` +
        'holds a different one. Someone may be intercepting the connection, or the host was reinstalled; ' +
        `if you know the change is genuine, remove the old key with ssh-keygen -R '${name}' -f ${file}`,
    );
  }
  if (settings.hostKeyPolicy === 'accept-new') {
    await appendKnownHost(file, name, key);
    return undefined;
  }
  const portFlag = port === 22 ? '' : `-p ${port} `;
  return new ArcaError(
    'io',
    `sftp: the host key of ${name} is not known (${fp}, not in ${file}). Check that fingerprint with ` +
      `the server's administrator, then either add the key (ssh-keyscan ${portFlag}-t ${keyType(key)} ` +
      `${host} >> ${file}) or connect once with -o sftp.host-key-policy=accept-new`,
  );
}

/** Opens an SSH connection and its SFTP channel, checking the host key as the policy says. */
async function connect(
  target: SftpTarget,
  port: number,
  settings: SftpSettings,
  env: NodeJS.ProcessEnv,
): Promise<Session> {
  const credentials = await loadCredentials(target.user, settings, env);
  const known = await readKnownHosts(settings.knownHostsFile);
  const name = knownHostsName(target.host, port);
  const where = `${target.user}@${target.host}`;
  let refusal: ArcaError | undefined;
  const verify = (key: Buffer, done: (ok: boolean) => void): void => {
    hostKeyRefusal(key, known, target.host, port, settings).then(
      (why) => {
        refusal = why;
        done(why === undefined);
      },
      (err: Error) => {
        refusal = new ArcaError('io', `sftp: checking the host key of ${name} failed: ${err.message}`, {
          cause: err,
        });
        done(false);
      },
    );
  };

  const { Client: SshClient } = await loadSsh2();
  return new Promise<Session>((resolve, reject) => {
    const client = new SshClient();
    let settled = false;
    const fail = (err: ArcaError): void => {
      if (settled) return;
      settled = true;
      client.end();
      reject(err);
    };
    client.on('error', (err: Error & { level?: string }) => {
      // An agent that cannot be reached is skipped; ssh2 goes on with the next key.
      if (err.level === 'agent') return;
      fail(refusal ?? connectError(err, where, port, settings, credentials));
    });
    client.on('close', () =>
      fail(new ArcaError('io', `sftp: the connection to ${where} port ${port} closed`, { transient: true })),
    );
    client.on('ready', () => {
      client.sftp((err, sftp) => {
        if (err) {
          fail(
            new ArcaError('io', `sftp: ${where} refused the SFTP subsystem: ${err.message}`, { cause: err }),
          );
          return;
        }
        settled = true;
        resolve(new Session(client, sftp));
      });
    });
    client.connect({
      host: target.host,
      port,
      username: target.user,
      hostVerifier: (key: Buffer, done: (ok: boolean) => void) => verify(key, done),
      authHandler: credentials.methods,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(knownKeyTypes(known, name)) },
      readyTimeout: settings.timeoutMs,
      keepaliveInterval: Math.max(1000, Math.round(settings.timeoutMs / 3)),
      keepaliveCountMax: 3,
    });
  });
}

const transientSocketErrors = [
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
];

/** What a failed connection attempt means for the user: a permanent refusal, or trouble worth retrying. */
function connectError(
  err: Error & { level?: string; code?: unknown },
  where: string,
  port: number,
  settings: SftpSettings,
  credentials: Credentials,
): ArcaError {
  const to = `${where} port ${port}`;
  if (err.level === 'client-authentication') {
    return new ArcaError(
      'io',
      `sftp: authentication as ${where} failed: no accepted key (tried ${credentials.tried.join(', ')})`,
      { cause: err },
    );
  }
  if (err.level === 'client-timeout') {
    return new ArcaError('io', `sftp: connecting to ${to} timed out after ${settings.timeoutMs / 1000} s`, {
      cause: err,
      transient: true,
    });
  }
  if (err.level === 'handshake') {
    return new ArcaError('io', `sftp: the SSH handshake with ${to} failed: ${err.message}`, { cause: err });
  }
  const code = typeof err.code === 'string' ? err.code : undefined;
  const what =
    code === 'ENOTFOUND'
      ? 'the host name does not resolve'
      : code === 'ECONNREFUSED'
        ? 'refused'
        : err.message;
  const transient =
    err.level !== 'client-socket' || code === undefined || transientSocketErrors.includes(code);
  return new ArcaError('io', `sftp: cannot connect to ${to}: ${what}`, { cause: err, transient });
}

// ---------------------------------------------------------------------------------------------
// The backend

/** Reads and writes go in pieces this large, many at once: OpenSSH's sftp-server takes up to 255 KiB. */
const chunkSize = 255 * 1024;
const requestsInFlight = 32;
/** Directory listings of `data/` fetched ahead while the caller consumes one. */
const listAhead = 8;
const fileTypeMask = 0o170000;
const regularFile = 0o100000;
const directory = 0o040000;

/** A repository on an SFTP server, laid out exactly as the local backend (and restic) lays it out. */
class SftpBackend implements Backend {
  private shut = false;
  private session: Session | undefined;
  private connecting: Promise<Session> | undefined;
  private readonly port: number;

  constructor(
    readonly location: string,
    private readonly target: SftpTarget,
    private readonly settings: SftpSettings,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.port = target.port ?? settings.port ?? 22;
  }

  private filename(h: Handle): string {
    const root = this.target.path;
    if (h.type === 'config') return path.posix.join(root, 'config');
    if (h.type === 'data') return path.posix.join(root, 'data', h.name.slice(0, 2), h.name);
    return path.posix.join(root, h.type, h.name);
  }

  /** The shared connection; concurrent callers wait for one connect, a lost one is replaced. */
  private connection(): Promise<Session> {
    // Work still running after close() (an upload of a command that already failed) must not
    // open a new connection that nothing would ever close.
    if (this.shut) return Promise.reject(new ArcaError('io', `sftp: ${this.location} was closed`));
    if (this.session !== undefined && !this.session.lost) return Promise.resolve(this.session);
    if (this.connecting === undefined) {
      const attempt = connect(this.target, this.port, this.settings, this.env).then((s) => {
        this.session = s;
        return s;
      });
      this.connecting = attempt;
      const clear = (): void => {
        if (this.connecting === attempt) this.connecting = undefined;
      };
      attempt.then(clear, clear);
    }
    return this.connecting;
  }

  /** Runs one operation on the connection and turns what went wrong into an ArcaError. */
  private async run<T>(verb: string, subject: string, op: (s: Session) => Promise<T>): Promise<T> {
    const s = await this.connection();
    try {
      return await op(s);
    } catch (err) {
      throw this.translate(err, verb, subject, s);
    }
  }

  private translate(err: unknown, verb: string, subject: string, s: Session): unknown {
    if (err instanceof ArcaError) return err;
    const e = err as Error & { code?: unknown };
    const where = `${this.target.user}@${this.target.host}`;
    if (s.lost || e.message === 'No response from server' || e.message === connectionLost) {
      s.lost = true;
      s.client.end();
      return new ArcaError('io', `sftp: the connection to ${where} was lost while ${verb} ${subject}`, {
        cause: err,
        transient: true,
      });
    }
    if (e.code === sftpNoSuchFile)
      return new ArcaError('not-found', `${subject} does not exist`, { cause: err });
    if (e.code === sftpPermissionDenied) {
      return new ArcaError('io', `sftp: permission denied ${verb} ${subject} on ${where}`, { cause: err });
    }
    return new ArcaError('io', `sftp: ${verb} ${subject} on ${where} failed: ${e.message}`, { cause: err });
  }

  async create(): Promise<void> {
    await this.run('creating', this.location, async (s) => {
      const root = this.target.path;
      try {
        await s.request<unknown>((cb) => s.sftp.stat(path.posix.join(root, 'config'), cb));
        throw new ArcaError('exists', `repository ${this.location} already exists (it has a config file)`);
      } catch (err) {
        if (sftpCode(err) !== sftpNoSuchFile) throw err;
      }
      await mkdirAll(s, root);
      await Promise.all(listableTypes.map((t) => mkdirAll(s, path.posix.join(root, t))));
      await Promise.all(
        Array.from({ length: 256 }, (_, i) =>
          mkdirAll(s, path.posix.join(root, 'data', i.toString(16).padStart(2, '0'))),
        ),
      );
    });
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    return this.run('loading', describeHandle(h), async (s) => {
      const handle = await s.request<Buffer>((cb) => s.sftp.open(this.filename(h), 'r', cb));
      try {
        const want =
          length ?? (await s.request<{ size: number }>((cb) => s.sftp.fstat(handle, cb))).size - offset;
        const buf = Buffer.allocUnsafe(Math.max(want, 0));
        const got = want > 0 ? await readInto(s, handle, buf, offset) : 0;
        if (want < 0 || got < want) {
          throw new ArcaError(
            'corrupt',
            `${describeHandle(h)} is truncated: wanted ${Math.max(want, 0)} bytes at ${offset}, got ${got}`,
          );
        }
        return buf;
      } finally {
        // The bytes are in hand: a close that fails (say, the connection just dropped) changes nothing.
        await s.request((cb) => s.sftp.close(handle, cb)).catch(() => undefined);
      }
    });
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    await this.run('saving', describeHandle(h), async (s) => {
      const final = this.filename(h);
      const dir = path.posix.dirname(final);
      const tmp = path.posix.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
      const open = (): Promise<Buffer> =>
        s.request<Buffer>((cb) => s.sftp.open(tmp, 'wx', { mode: 0o600 }, cb));
      let handle: Buffer;
      try {
        handle = await open();
      } catch (err) {
        if (sftpCode(err) !== sftpNoSuchFile) throw err;
        await mkdirAll(s, dir);
        handle = await open();
      }
      try {
        try {
          await writeAll(s, handle, data);
          // Read-only as restic makes its files; fsync so a crash of the server cannot keep a torn file.
          await s.request((cb) => s.sftp.fchmod(handle, 0o400, cb));
          if (s.has('fsync@openssh.com')) await s.request((cb) => s.sftp.ext_openssh_fsync(handle, cb));
        } finally {
          await s.request((cb) => s.sftp.close(handle, cb));
        }
        // posix-rename replaces atomically; plain SFTP rename refuses an existing target.
        if (s.has('posix-rename@openssh.com')) {
          await s.request((cb) => s.sftp.ext_openssh_rename(tmp, final, cb));
        } else {
          await s.request((cb) => s.sftp.rename(tmp, final, cb));
        }
      } catch (err) {
        if (!s.lost) await s.request((cb) => s.sftp.unlink(tmp, cb)).catch(() => undefined);
        throw err;
      }
    });
  }

  async stat(h: Handle): Promise<FileInfo> {
    return this.run('checking', describeHandle(h), async (s) => {
      const st = await s.request<{ size: number }>((cb) => s.sftp.stat(this.filename(h), cb));
      return { name: h.name, size: st.size };
    });
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const top = path.posix.join(this.target.path, type);
    const dirs =
      type === 'data'
        ? (await this.readdir(top))
            .filter((e) => hasType(e, directory))
            .map((e) => path.posix.join(top, e.filename))
            .sort()
        : [top];
    // Several listings in flight at once: walking 256 directories one round trip at a time is slow.
    const pending: Promise<FileEntryWithStats[]>[] = [];
    let next = 0;
    const fill = (): void => {
      while (pending.length < listAhead && next < dirs.length) {
        const p = this.readdir(dirs[next++] as string);
        p.catch(() => undefined);
        pending.push(p);
      }
    };
    fill();
    for (let p = pending.shift(); p !== undefined; p = pending.shift()) {
      const entries = await p;
      fill();
      for (const e of entries) {
        if (!e.filename.startsWith('.') && hasType(e, regularFile))
          yield { name: e.filename, size: e.attrs.size };
      }
    }
  }

  /** A directory's entries; a missing directory has none. */
  private readdir(dir: string): Promise<FileEntryWithStats[]> {
    return this.run('listing', dir, async (s) => {
      try {
        return await s.request<FileEntryWithStats[]>((cb) => s.sftp.readdir(dir, cb));
      } catch (err) {
        if (sftpCode(err) === sftpNoSuchFile) return [];
        throw err;
      }
    });
  }

  async remove(h: Handle): Promise<void> {
    await this.run('removing', describeHandle(h), async (s) => {
      try {
        await s.request((cb) => s.sftp.unlink(this.filename(h), cb));
      } catch (err) {
        if (sftpCode(err) !== sftpNoSuchFile) throw err;
      }
    });
  }

  async close(): Promise<void> {
    this.shut = true;
    if (this.connecting !== undefined) await this.connecting.catch(() => undefined);
    const s = this.session;
    this.session = undefined;
    await s?.close();
  }
}

function sftpCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** True when a listing entry is of the given file type; a server that sends no mode gets the benefit of the doubt. */
function hasType(e: FileEntryWithStats, type: number): boolean {
  return e.attrs.mode === undefined || (e.attrs.mode & fileTypeMask) === type;
}

/** Like `mkdir -p`: creates the missing parents, and a directory that exists already is fine. */
async function mkdirAll(s: Session, dir: string): Promise<void> {
  try {
    await s.request((cb) => s.sftp.mkdir(dir, { mode: 0o700 }, cb));
    return;
  } catch (err) {
    // OpenSSH answers a plain "Failure" for a directory that exists, so look before giving up.
    const parent = path.posix.dirname(dir);
    if (sftpCode(err) === sftpNoSuchFile && parent !== dir) {
      await mkdirAll(s, parent);
      try {
        await s.request((cb) => s.sftp.mkdir(dir, { mode: 0o700 }, cb));
        return;
      } catch (again) {
        if (!(await isDirectory(s, dir))) throw again;
        return;
      }
    }
    if (!(await isDirectory(s, dir))) throw err;
  }
}

async function isDirectory(s: Session, dir: string): Promise<boolean> {
  try {
    const st = await s.request<{ isDirectory(): boolean }>((cb) => s.sftp.stat(dir, cb));
    return st.isDirectory();
  } catch (err) {
    if (sftpCode(err) === sftpNoSuchFile) return false;
    throw err;
  }
}

/** Runs `fn(0…count-1)` with at most `width` running; after a failure no new ones start. */
async function forEachIndex(count: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  if (failure !== undefined) throw failure.err;
}

async function writeAll(s: Session, handle: Buffer, data: Buffer): Promise<void> {
  await forEachIndex(Math.ceil(data.length / chunkSize), requestsInFlight, (i) => {
    const at = i * chunkSize;
    const len = Math.min(chunkSize, data.length - at);
    return s.request((cb) => s.sftp.write(handle, data, at, len, at, cb));
  });
}

/** Fills `buf` from `position` on; returns the bytes read, fewer than asked when the file ends first. */
async function readInto(s: Session, handle: Buffer, buf: Buffer, position: number): Promise<number> {
  let got = 0;
  await forEachIndex(Math.ceil(buf.length / chunkSize), requestsInFlight, async (i) => {
    const end = Math.min((i + 1) * chunkSize, buf.length);
    let at = i * chunkSize;
    // A server may answer with less than asked; an answer of nothing means the end of the file.
    while (at < end) {
      const n = await s.request<number>((cb) => s.sftp.read(handle, buf, at, end - at, position + at, cb));
      if (n === 0) break;
      at += n;
      got += n;
    }
  });
  return got;
}
