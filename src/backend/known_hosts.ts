/**
 * OpenSSH's known_hosts file, as the SFTP backend checks host keys against it: plain and
 * hashed (`|1|salt|hash`) host names, comma lists, `[host]:port`, wildcards and negation,
 * `@revoked` keys (always refused) and `@cert-authority` lines (never taken as a host key).
 */
import { createHash, createHmac } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ArcaError, isErrno } from '../errors.js';

/** One usable line of a known_hosts file. */
export interface KnownHostsEntry {
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field: a comma list of patterns, or one hashed `|1|salt|hash` name. */
  hosts: string;
  /** The key blob, as the server sends it. */
  key: Buffer;
  /** 1-based, for messages. */
  line: number;
}

/** What the known_hosts file says about a host key. */
export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'revoked'; line: number }
  | { status: 'changed'; line: number }
  | { status: 'unknown' };

/** The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** OpenSSH's fingerprint of a key blob: `SHA256:` and the unpadded base64 of its SHA-256. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name a key blob starts with (`ssh-ed25519`, `ssh-rsa`…); '' when malformed. */
export function keyType(key: Buffer): string {
  if (key.length < 4) return '';
  const len = key.readUInt32BE(0);
  return len > key.length - 4 ? '' : key.subarray(4, 4 + len).toString('latin1');
}

/** The lines of a known_hosts file that name a key; comments and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const fields = raw.trim().split(/[ \t]+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHostsEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hosts, type, base64] = fields;
    if (hosts === undefined || type === undefined || base64 === undefined) continue;
    const key = Buffer.from(base64, 'base64');
    if (keyType(key) !== type) continue;
    entries.push({ marker, hosts, key, line: i + 1 });
  }
  return entries;
}

/**
 * Matches a host name against a known_hosts host field as OpenSSH does: a hashed name, or
 * a comma list of patterns with `*` and `?`, where a matching `!pattern` rules the line out.
 */
export function hostMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (salt === undefined || hash === undefined) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return mac.equals(Buffer.from(hash, 'base64'));
  }
  let matched = false;
  for (const pattern of hosts.split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globMatches(pattern: string, name: string): boolean {
  const re = pattern
    .toLowerCase()
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`).test(name.toLowerCase());
}

/**
 * Looks up a host key: revoked wins over everything, then an identical key, then a
 * different key of the same type (changed); certificate authorities are not used.
 */
export function checkHostKey(entries: readonly KnownHostsEntry[], name: string, key: Buffer): HostKeyVerdict {
  const mine = entries.filter((e) => e.marker !== 'cert-authority' && hostMatches(e.hosts, name));
  const revoked = mine.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked !== undefined) return { status: 'revoked', line: revoked.line };
  const plain = mine.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(key))) return { status: 'known' };
  const sameType = plain.find((e) => keyType(e.key) === keyType(key));
  if (sameType !== undefined) return { status: 'changed', line: sameType.line };
  return { status: 'unknown' };
}

/** The key types known_hosts holds for a host (not revoked), so the handshake asks for those first. */
export function knownKeyTypes(entries: readonly KnownHostsEntry[], name: string): string[] {
  return entries
    .filter((e) => e.marker === undefined && hostMatches(e.hosts, name))
    .map((e) => keyType(e.key));
}

const hostKeyAlgorithms = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;
type HostKeyAlgorithm = (typeof hostKeyAlgorithms)[number];

/** ssh2's host key algorithms with those of the known key types first, as OpenSSH orders them. */
export function preferredHostKeyAlgorithms(types: readonly string[]): HostKeyAlgorithm[] {
  const wanted = (a: HostKeyAlgorithm): boolean => types.includes(a.startsWith('rsa-sha2-') ? 'ssh-rsa' : a);
  return [...hostKeyAlgorithms.filter(wanted), ...hostKeyAlgorithms.filter((a) => !wanted(a))];
}

export async function readKnownHosts(file: string): Promise<KnownHostsEntry[]> {
  try {
    return parseKnownHosts(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw new ArcaError('io', `sftp: cannot read known hosts file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export async function appendKnownHost(file: string, name: string, key: Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const existing = await fsp.readFile(file);
    if (existing.length > 0 && existing[existing.length - 1] !== 0x0a) prefix = '\n';
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await fsp.appendFile(file, `${prefix}${name} ${keyType(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------
// The connection
