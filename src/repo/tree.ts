import { ArcaError } from '../errors.js';
import { encodeGoString, goBase64, goQuoteName, goUint, goUnquoteName, parseJson } from './gojson.js';
import type { Id } from './id.js';

/** Node types restic writes. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket' | 'irregular';

const nodeTypes = new Set<string>([
  'file',
  'dir',
  'symlink',
  'dev',
  'chardev',
  'fifo',
  'socket',
  'irregular',
]);

/** One extended attribute. */
export interface ExtendedAttribute {
  name: string;
  value: Buffer;
}

/** One entry of a directory in a snapshot (restic's `Node`), with names and link targets as raw bytes. */
export interface Node {
  name: Buffer;
  type: NodeType;
  /** Go `io/fs.FileMode` bits (not POSIX): see {@link posixMode}. */
  mode: number;
  /** RFC 3339 times with nanoseconds, exactly as stored. */
  mtime: string;
  atime: string;
  ctime: string;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  inode?: bigint;
  deviceId?: bigint;
  size?: number;
  links?: number;
  linktarget?: Buffer;
  extendedAttributes?: ExtendedAttribute[];
  genericAttributes?: Record<string, unknown>;
  /** st_rdev of a device node. */
  device?: bigint;
  /** Data blobs of a file, in order; null for everything that is not a file. */
  content: Id[] | null;
  subtree?: Id;
  error?: string;
}

/** Go FileMode type and special bits. */
export const GoMode = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
  irregular: 2 ** 19,
} as const;

/** The POSIX permission and special bits (0o7777) of a Go FileMode. */
export function posixMode(goMode: number): number {
  let m = goMode & 0o777;
  if (goMode & GoMode.setuid) m |= 0o4000;
  if (goMode & GoMode.setgid) m |= 0o2000;
  if (goMode & GoMode.sticky) m |= 0o1000;
  return m;
}

/** Decodes a tree blob's plaintext into its nodes. */
export function parseTree(plain: Buffer, id: Id): Node[] {
  let j: unknown;
  try {
    j = parseJson(plain.toString('utf8'));
  } catch {
    throw new ArcaError('corrupt', `tree ${id.slice(0, 8)} is not valid JSON`);
  }
  const nodes = (j as { nodes?: unknown })?.nodes;
  if (nodes === null) return [];
  if (!Array.isArray(nodes)) throw new ArcaError('corrupt', `tree ${id.slice(0, 8)} has no node list`);
  return nodes.map((n) => decodeNode(n as Record<string, unknown>, id));
}

function decodeNode(n: Record<string, unknown>, treeId: Id): Node {
  const bad = (what: string): never => {
    throw new ArcaError('corrupt', `tree ${treeId.slice(0, 8)}: ${what}`);
  };
  if (typeof n !== 'object' || n === null) bad('a node is not an object');
  if (typeof n.name !== 'string') bad('a node has no name');
  if (typeof n.type !== 'string' || !nodeTypes.has(n.type))
    bad(`node ${String(n.name)} has invalid type ${String(n.type)}`);
  let name: Buffer;
  try {
    name = goUnquoteName(n.name as string);
  } catch {
    return bad(`node name ${JSON.stringify(n.name)} cannot be decoded`);
  }
  const node: Node = {
    name,
    type: n.type as NodeType,
    mode: toNumber(n.mode) ?? 0,
    mtime: typeof n.mtime === 'string' ? n.mtime : '',
    atime: typeof n.atime === 'string' ? n.atime : '',
    ctime: typeof n.ctime === 'string' ? n.ctime : '',
    uid: toNumber(n.uid) ?? 0,
    gid: toNumber(n.gid) ?? 0,
    content: Array.isArray(n.content) ? (n.content as Id[]) : null,
  };
  if (typeof n.user === 'string') node.user = n.user;
  if (typeof n.group === 'string') node.group = n.group;
  if (n.inode !== undefined) node.inode = toBigInt(n.inode);
  if (n.device_id !== undefined) node.deviceId = toBigInt(n.device_id);
  if (n.size !== undefined) node.size = toNumber(n.size) ?? bad(`node ${String(n.name)} has an invalid size`);
  if (n.links !== undefined) node.links = toNumber(n.links) ?? 0;
  if (typeof n.linktarget_raw === 'string') node.linktarget = Buffer.from(n.linktarget_raw, 'base64');
  else if (typeof n.linktarget === 'string') node.linktarget = Buffer.from(n.linktarget, 'utf8');
  if (Array.isArray(n.extended_attributes)) {
    node.extendedAttributes = (n.extended_attributes as { name: string; value: string | null }[]).map(
      (x) => ({
        name: String(x.name),
        value: Buffer.from(x.value ?? '', 'base64'),
      }),
    );
  }
  if (n.generic_attributes && typeof n.generic_attributes === 'object') {
    node.genericAttributes = n.generic_attributes as Record<string, unknown>;
  }
  if (n.device !== undefined) node.device = toBigInt(n.device);
  if (typeof n.subtree === 'string') node.subtree = n.subtree;
  if (typeof n.error === 'string') node.error = n.error;
  return node;
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return 0n;
}

/** A node's name for messages: UTF-8 when valid, otherwise with the bad bytes escaped. */
export function displayName(name: Buffer): string {
  const s = name.toString('utf8');
  return Buffer.from(s, 'utf8').equals(name) ? s : JSON.stringify(name.toString('latin1')).slice(1, -1);
}

/**
 * Serialises a tree exactly as restic's `TreeJSONBuilder` does (Go `encoding/json`, field
 * order and omitempty rules of restic's `Node`, a trailing newline), so that a tree arca
 * writes has the same ID as the one restic writes for the same directory. Nodes must
 * already be sorted by name bytes.
 */
export function encodeTree(nodes: readonly Node[]): Buffer {
  const parts: string[] = [];
  for (const n of nodes) parts.push(encodeNode(n));
  return Buffer.from(`{"nodes":[${parts.join(',')}]}\n`, 'utf8');
}

function encodeNode(n: Node): string {
  let s = `{"name":${encodeGoString(goQuoteName(n.name))},"type":"${n.type}"`;
  if (n.mode) s += `,"mode":${n.mode}`;
  s += `,"mtime":"${n.mtime}","atime":"${n.atime}","ctime":"${n.ctime}","uid":${n.uid},"gid":${n.gid}`;
  if (n.user) s += `,"user":${encodeGoString(n.user)}`;
  if (n.group) s += `,"group":${encodeGoString(n.group)}`;
  if (n.inode) s += `,"inode":${goUint(n.inode)}`;
  if (n.deviceId) s += `,"device_id":${goUint(n.deviceId)}`;
  if (n.size) s += `,"size":${goUint(n.size)}`;
  if (n.links) s += `,"links":${goUint(n.links)}`;
  if (n.linktarget && n.linktarget.length > 0) {
    s += `,"linktarget":${encodeGoString(n.linktarget)}`;
    // Newer restic keeps targets that are not UTF-8 byte-exact here; older versions ignore it.
    if (!isUtf8(n.linktarget)) s += `,"linktarget_raw":"${goBase64(n.linktarget)}"`;
  }
  if (n.extendedAttributes && n.extendedAttributes.length > 0) {
    s += `,"extended_attributes":[${n.extendedAttributes
      .map((x) => `{"name":${encodeGoString(x.name)},"value":"${goBase64(x.value)}"}`)
      .join(',')}]`;
  }
  if (n.genericAttributes && Object.keys(n.genericAttributes).length > 0) {
    s += `,"generic_attributes":${JSON.stringify(n.genericAttributes)}`;
  }
  if (n.device) s += `,"device":${goUint(n.device)}`;
  s += `,"content":${n.content === null ? 'null' : `[${n.content.map((id) => `"${id}"`).join(',')}]`}`;
  if (n.subtree) s += `,"subtree":"${n.subtree}"`;
  if (n.error) s += `,"error":${encodeGoString(n.error)}`;
  return `${s}}`;
}

function isUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}
