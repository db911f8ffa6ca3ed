import { randomBytes, scrypt } from 'node:crypto';
import os from 'node:os';
import type { Backend } from '../backend/backend.js';
import { ArcaError } from '../errors.js';
import { isValidKey, keyFromKdf, type MasterKey, open, seal } from './crypto.js';
import { hashId, type Id } from './id.js';

/** The scrypt cost parameters stored in a key file. */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/** A key file as stored in `keys/`: plain JSON, named by its SHA-256. */
export interface KeyFile {
  created: string;
  username?: string;
  hostname?: string;
  kdf: string;
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
}

/** An opened key: which file unlocked the repository, and the master key inside it. */
export interface OpenedKey {
  id: Id;
  file: KeyFile;
  master: MasterKey;
}

const saltLength = 64;

/** Derives the user key that wraps the master key (scrypt, 64 bytes out). */
export function deriveUserKey(password: string, salt: Buffer, params: KdfParams): Promise<MasterKey> {
  validateParams(params);
  // Node's default maxmem (32 MiB) is below what restic's own parameters need (DEPS.md §B).
  const maxmem = 128 * params.N * params.r * 2 + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, 64, { N: params.N, r: params.r, p: params.p, maxmem }, (err, out) =>
      err ? reject(err) : resolve(keyFromKdf(out)),
    );
  });
}

/** Parses and sanity-checks a key file's bytes. */
export function parseKeyFile(id: Id, raw: Buffer): KeyFile {
  let kf: KeyFile;
  try {
    kf = JSON.parse(raw.toString('utf8')) as KeyFile;
  } catch {
    throw new ArcaError('corrupt', `key ${id.slice(0, 8)} is not valid JSON`);
  }
  if (kf.kdf !== 'scrypt')
    throw new ArcaError('unsupported', `key ${id.slice(0, 8)} uses unsupported KDF ${kf.kdf}`);
  if (typeof kf.salt !== 'string' || typeof kf.data !== 'string') {
    throw new ArcaError('corrupt', `key ${id.slice(0, 8)} lacks salt or data`);
  }
  return kf;
}

/** Tries `password` against one key file; returns the master key, or undefined when the password does not fit. */
export async function unlockKeyFile(kf: KeyFile, id: Id, password: string): Promise<MasterKey | undefined> {
  const salt = Buffer.from(kf.salt, 'base64');
  if (salt.length !== saltLength)
    throw new ArcaError('corrupt', `key ${id.slice(0, 8)} has a ${salt.length}-byte salt`);
  const userKey = await deriveUserKey(password, salt, { N: kf.N, r: kf.r, p: kf.p });
  let plain: Buffer;
  try {
    plain = open(userKey, Buffer.from(kf.data, 'base64'), `key ${id.slice(0, 8)}`);
  } catch (err) {
    if (err instanceof ArcaError && err.code === 'corrupt') return undefined;
    throw err;
  }
  const j = JSON.parse(plain.toString('utf8')) as { mac?: { k?: string; r?: string }; encrypt?: string };
  const master: MasterKey = {
    encrypt: Buffer.from(j.encrypt ?? '', 'base64'),
    macK: Buffer.from(j.mac?.k ?? '', 'base64'),
    macR: Buffer.from(j.mac?.r ?? '', 'base64'),
  };
  if (!isValidKey(master))
    throw new ArcaError('corrupt', `key ${id.slice(0, 8)} holds an invalid master key`);
  return master;
}

/**
 * Opens the repository's master key with `password`, trying every key file (the one
 * named by `hint` first). Throws `wrong-password` when no key fits.
 */
export async function openKey(backend: Backend, password: string, hint?: string): Promise<OpenedKey> {
  const names: string[] = [];
  for await (const fi of backend.list('keys')) names.push(fi.name);
  if (names.length === 0) throw new ArcaError('corrupt', `repository ${backend.location} has no key files`);
  if (hint) names.sort((a, b) => Number(b.startsWith(hint)) - Number(a.startsWith(hint)));
  for (const name of names) {
    const raw = await backend.load({ type: 'keys', name });
    const kf = parseKeyFile(name, raw);
    const master = await unlockKeyFile(kf, name, password);
    if (master) return { id: name, file: kf, master };
  }
  throw new ArcaError('wrong-password', 'wrong password or no key found');
}

/** Wraps `master` in a new key file for `password` and stores it; returns its ID. */
export async function addKey(
  backend: Backend,
  master: MasterKey,
  password: string,
  params: KdfParams,
  who: { username?: string; hostname?: string } = {},
): Promise<Id> {
  const salt = randomBytes(saltLength);
  const userKey = await deriveUserKey(password, salt, params);
  const masterJson = JSON.stringify({
    mac: { k: master.macK.toString('base64'), r: master.macR.toString('base64') },
    encrypt: master.encrypt.toString('base64'),
  });
  const kf: KeyFile = {
    created: new Date().toISOString(),
    username: who.username ?? os.userInfo().username,
    hostname: who.hostname ?? os.hostname(),
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: salt.toString('base64'),
    data: seal(userKey, Buffer.from(masterJson)).toString('base64'),
  };
  const raw = Buffer.from(JSON.stringify(kf));
  const id = hashId(raw);
  await backend.save({ type: 'keys', name: id }, raw);
  return id;
}

function validateParams(p: KdfParams): void {
  const pow2 = Number.isInteger(p.N) && p.N > 1 && (p.N & (p.N - 1)) === 0;
  if (
    !pow2 ||
    !Number.isInteger(p.r) ||
    !Number.isInteger(p.p) ||
    p.r < 1 ||
    p.p < 1 ||
    p.r * p.p >= 2 ** 30
  ) {
    throw new ArcaError('corrupt', `invalid scrypt parameters N=${p.N} r=${p.r} p=${p.p}`);
  }
  if (128 * p.N * p.r > 2 ** 32)
    throw new ArcaError('unsupported', `scrypt parameters need too much memory (N=${p.N}, r=${p.r})`);
}
