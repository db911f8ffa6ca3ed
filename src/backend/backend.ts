/**
 * The storage interface every repository location implements (local directory now;
 * SFTP, S3 and REST later). Names are the file names of restic's layout; the backend
 * decides where they live (the default layout puts packs under `data/<id[0:2]>/`).
 */

/** The kinds of files in a restic repository. */
export type FileType = 'config' | 'keys' | 'locks' | 'snapshots' | 'index' | 'data';

/** All file types that hold content-addressed files (everything but `config`). */
export const listableTypes: readonly FileType[] = ['keys', 'locks', 'snapshots', 'index', 'data'];

/** One file in the repository. For `config` the name is ignored. */
export interface Handle {
  type: FileType;
  name: string;
}

/** What a listing says about one file. */
export interface FileInfo {
  name: string;
  size: number;
}

/** What opening a location may need besides the location itself. */
export interface BackendOptions {
  /**
   * Extended options, given as `-o key=value` on the command line as restic takes them
   * (`sftp.identity`, `s3.region`, `rest.connections`…). Keys a backend does not know are
   * refused by that backend, so a typo does not go unnoticed.
   */
  extended?: Readonly<Record<string, string>>;
  /** Where credentials are read from (AWS_*, ARCA_REST_*); defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** A place that stores repository files. Files are written once and never modified. */
export interface Backend {
  /** Where the repository lives, as the user would write it (never with credentials). */
  readonly location: string;
  /** Creates the repository's directory structure; fails if a config already exists. */
  create(): Promise<void>;
  /** Reads a whole file, or `length` bytes from `offset` when given. */
  load(h: Handle, offset?: number, length?: number): Promise<Buffer>;
  /** Stores a file atomically: readers see all of it or nothing. */
  save(h: Handle, data: Buffer): Promise<void>;
  /** The size of a file; throws an `ArcaError('not-found')` when it does not exist. */
  stat(h: Handle): Promise<FileInfo>;
  /** Every file of one type. */
  list(type: FileType): AsyncIterable<FileInfo>;
  /** Deletes a file; deleting a missing file is not an error. */
  remove(h: Handle): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** A short printable form of a handle, for messages. */
export function describeHandle(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`;
}
