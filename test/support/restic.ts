/**
 * Drives the real restic binary, the reference arca must interoperate with. Every call
 * names its repository and password file explicitly and ignores the caller's RESTIC_*
 * variables, and runs without restic's cache unless given one, so a test never reads a
 * stale cache or writes into ~/.cache.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeFailure, type RunResult, run } from './run.js';

/** Where and how to run restic. */
export interface ResticOptions {
  repo: string;
  passwordFile: string;
  cwd?: string;
  /** Variables added to the environment restic sees. */
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Resolve with the result even when restic exits non-zero. */
  allowFail?: boolean;
  /** Let restic use this cache directory instead of running with `--no-cache`. */
  cacheDir?: string;
  /** Defaults to 120 s. */
  timeoutMs?: number;
}

/** How a restic run ended. */
export interface ResticResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One entry of `restic snapshots --json`, as restic 0.14 prints it. */
export interface ResticSnapshotListing {
  id: string;
  short_id: string;
  time: string;
  tree: string;
  paths: string[];
  hostname: string;
  username: string;
  uid?: number;
  gid?: number;
  tags?: string[];
  parent?: string;
  excludes?: string[];
}

/** The kinds of object `restic cat` prints in restic 0.14 (a tree is a blob: `cat blob <tree id>`). */
export type ResticCatKind =
  | 'config'
  | 'index'
  | 'snapshot'
  | 'key'
  | 'masterkey'
  | 'lock'
  | 'pack'
  | 'blob'
  | 'tree';

/** Runs `restic <args>` against `opts.repo`; rejects on a non-zero exit unless `opts.allowFail`. */
export async function restic(args: readonly string[], opts: ResticOptions): Promise<ResticResult> {
  const result = await runRestic(args, opts);
  return {
    code: result.code,
    stdout: result.stdout.toString('utf8'),
    stderr: result.stderr.toString('utf8'),
  };
}

/** Writes `password` to `<dir>/password` (mode 0600) and returns that file's path. */
export async function writePasswordFile(dir: string, password: string): Promise<string> {
  const file = path.join(dir, 'password');
  await writeFile(file, password, { mode: 0o600 });
  return file;
}

/** `restic init`, in repository format `version` (restic 0.14 defaults to 2). */
export async function resticInit(
  repo: string,
  passwordFile: string,
  opts: { repositoryVersion?: 1 | 2 } = {},
): Promise<void> {
  const args = ['init'];
  if (opts.repositoryVersion !== undefined) args.push('--repository-version', String(opts.repositoryVersion));
  await restic(args, { repo, passwordFile });
}

/** `restic backup <paths>` and the full id of the snapshot it made. */
export async function resticBackup(
  repo: string,
  passwordFile: string,
  paths: readonly string[],
  opts: { host?: string; tags?: readonly string[]; cwd?: string; extra?: readonly string[] } = {},
): Promise<string> {
  const args = ['backup', '--json'];
  if (opts.host !== undefined) args.push('--host', opts.host);
  for (const tag of opts.tags ?? []) args.push('--tag', tag);
  args.push(...(opts.extra ?? []), '--', ...paths);
  const { stdout } = await restic(args, { repo, passwordFile, cwd: opts.cwd });
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const message = JSON.parse(line) as { message_type?: string; snapshot_id?: string };
    if (message.message_type === 'summary' && message.snapshot_id !== undefined) {
      // restic 0.14 reports the short id; the tests compare full ids.
      const [snapshot] = await resticSnapshotsJson(repo, passwordFile, [message.snapshot_id]);
      if (snapshot === undefined)
        throw new Error(`restic backup made snapshot ${message.snapshot_id}, which is not listed`);
      return snapshot.id;
    }
  }
  throw new Error(`restic backup printed no summary with a snapshot_id:\n${stdout}`);
}

/** `restic restore <snapshotId> --target <target>`. */
export async function resticRestore(
  repo: string,
  passwordFile: string,
  snapshotId: string,
  target: string,
  extra: readonly string[] = [],
): Promise<void> {
  await restic(['restore', snapshotId, '--target', target, ...extra], { repo, passwordFile });
}

/** `restic check`, optionally `--read-data`: whether it passed, and everything it printed. */
export async function resticCheck(
  repo: string,
  passwordFile: string,
  readData: boolean,
): Promise<{ ok: boolean; output: string }> {
  const args = readData ? ['check', '--read-data'] : ['check'];
  const result = await restic(args, { repo, passwordFile, allowFail: true });
  return { ok: result.code === 0, output: result.stdout + result.stderr };
}

/** The parsed output of `restic snapshots --json [extra…]`. */
export async function resticSnapshotsJson(
  repo: string,
  passwordFile: string,
  extra: readonly string[] = [],
): Promise<ResticSnapshotListing[]> {
  const { stdout } = await restic(['snapshots', '--json', ...extra], { repo, passwordFile });
  return JSON.parse(stdout) as ResticSnapshotListing[];
}

/** The bytes `restic cat <kind> [id]` prints: indented JSON for most kinds, raw bytes for pack and blob. */
export async function resticCat(
  repo: string,
  passwordFile: string,
  kind: ResticCatKind,
  id?: string,
): Promise<Buffer> {
  const args = id === undefined ? ['cat', kind] : ['cat', kind, id];
  return (await runRestic(args, { repo, passwordFile })).stdout;
}

async function runRestic(args: readonly string[], opts: ResticOptions): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('RESTIC_')) env[name] = value;
  }
  Object.assign(env, opts.env);
  const global = ['--repo', opts.repo, '--password-file', opts.passwordFile];
  global.push(...(opts.cacheDir === undefined ? ['--no-cache'] : ['--cache-dir', opts.cacheDir]));
  const fullArgs = [...global, ...args];
  const result = await run('restic', fullArgs, {
    cwd: opts.cwd,
    env,
    input: opts.input,
    timeoutMs: opts.timeoutMs,
  });
  if (result.code !== 0 && opts.allowFail !== true)
    throw new Error(describeFailure('restic', fullArgs, result));
  return result;
}
