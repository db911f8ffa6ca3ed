import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { ArcaError, isErrno } from '../errors.js';
import {
  type Backend,
  describeHandle,
  type FileInfo,
  type FileType,
  type Handle,
  listableTypes,
} from './backend.js';
import { readAt, readdirOrEmpty } from './files.js';

/** A repository in a directory of the local filesystem, laid out exactly as restic lays it out. */
export class LocalBackend implements Backend {
  readonly location: string;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = root;
  }

  /** The path of a file: packs go under `data/<first two hex digits>/`. */
  filename(h: Handle): string {
    if (h.type === 'config') return path.join(this.root, 'config');
    if (h.type === 'data') return path.join(this.root, 'data', h.name.slice(0, 2), h.name);
    return path.join(this.root, h.type, h.name);
  }

  async create(): Promise<void> {
    try {
      await fsp.access(path.join(this.root, 'config'));
      throw new ArcaError('exists', `repository ${this.location} already exists (it has a config file)`);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    for (const t of listableTypes) await fsp.mkdir(path.join(this.root, t), { recursive: true, mode: 0o700 });
    for (let i = 0; i < 256; i++) {
      await fsp.mkdir(path.join(this.root, 'data', i.toString(16).padStart(2, '0')), {
        recursive: true,
        mode: 0o700,
      });
    }
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.filename(h), 'r');
    } catch (err) {
      throw notFoundOr(err, h);
    }
    try {
      if (offset === 0 && length === undefined) return await fh.readFile();
      const want = length ?? (await fh.stat()).size - offset;
      const buf = await readAt(fh, offset, want);
      const got = buf.length;
      if (got < want) {
        throw new ArcaError(
          'corrupt',
          `${describeHandle(h)} is truncated: wanted ${want} bytes at ${offset}, got ${got}`,
        );
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    const final = this.filename(h);
    const dir = path.dirname(final);
    // Write to a temporary name, fsync, rename, fsync the directory: a crash leaves either
    // no file or the whole file, never a torn one under the final name.
    const tmp = path.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    }
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    await fsp.chmod(tmp, 0o400);
    await fsp.rename(tmp, final);
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async stat(h: Handle): Promise<FileInfo> {
    try {
      const st = await fsp.stat(this.filename(h));
      return { name: h.name, size: st.size };
    } catch (err) {
      throw notFoundOr(err, h);
    }
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const dirs =
      type === 'data'
        ? (await readdirOrEmpty(path.join(this.root, 'data'))).map((d) => path.join(this.root, 'data', d))
        : [path.join(this.root, type)];
    for (const dir of dirs) {
      for (const name of await readdirOrEmpty(dir)) {
        if (name.startsWith('.tmp-')) continue;
        try {
          const st = await fsp.stat(path.join(dir, name));
          if (st.isFile()) yield { name, size: st.size };
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      }
    }
  }

  async remove(h: Handle): Promise<void> {
    await fsp.rm(this.filename(h), { force: true });
  }

  async close(): Promise<void> {}
}

function notFoundOr(err: unknown, h: Handle): unknown {
  if (isErrno(err, 'ENOENT'))
    return new ArcaError('not-found', `${describeHandle(h)} does not exist`, { cause: err });
  return err;
}
