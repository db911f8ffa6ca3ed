/**
 * The dumps of a dataset (R07–R10): the output of its source commands, `pg_dump` of its
 * PostgreSQL databases, `mysqldump` of its MySQL/MariaDB databases and SQLite's online
 * backup of its SQLite files, written one after another into a staging directory that the
 * backup then reads alongside the dataset's paths. Each lands under the name
 * `dumpFilename` gives it, which is also its name in the snapshot.
 *
 * Output goes from the child straight into its file: a dump can be many GB. Passwords never
 * reach a command line: PostgreSQL's goes through PGPASSWORD in pg_dump's environment,
 * MySQL's through a temporary option file readable by arca's user only. Messages name the
 * output (`source command for sqlite/app.db failed…`), never the command, which may carry
 * credentials.
 */
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ArcaError, isErrno } from '../errors.js';
import {
  type CommandSource,
  dumpFilename,
  type MysqlSource,
  type PostgresSource,
  type Sources,
  type SqliteSource,
} from '../policy/sources.js';
import { resolveSecret } from '../secret/resolve.js';
import { type ChildRun, childFailure, formatLimit, lastLine, runChild } from './child.js';

/** One dump written into the staging directory. */
export interface DumpResult {
  kind: 'commands' | 'postgres' | 'mysql' | 'sqlite';
  /** Its name in the staging directory and in the snapshot (`postgres/shop.sql`). */
  name: string;
  /** Its absolute path. */
  file: string;
  bytes: number;
  /** How long it took. */
  ms: number;
}

/** How dumps run. */
export interface DumpOptions {
  /** The environment of the dump tools and commands (default: arca's own). */
  env?: NodeJS.ProcessEnv;
  /** Aborting stops the running dump (SIGTERM) and fails with ArcaError `interrupted`. */
  signal?: AbortSignal;
  /** How long each dump may take (default 6 h). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60 * 1000;
/** How much of a dump tool's standard error is kept for its failure message. */
const STDERR_TAIL = 2048;
/** Pages SQLite copies per step; the event loop runs between steps. */
const SQLITE_PAGES_PER_STEP = 256;

const PG_DUMP_MISSING = "pg_dump not found: install PostgreSQL's client tools (Debian: postgresql-client)";
const MYSQLDUMP_MISSING =
  'mysqldump not found: install the MySQL or MariaDB client tools (Debian: default-mysql-client or mariadb-client)';

type Kind = DumpResult['kind'];
type Source = CommandSource | PostgresSource | MysqlSource | SqliteSource;

interface Job {
  name: string;
  file: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

const kinds: readonly Kind[] = ['commands', 'postgres', 'mysql', 'sqlite'];

/** True when the sources have any dump (commands, postgres, mysql, sqlite). */
export function hasDumps(sources: Sources): boolean {
  return kinds.some((kind) => (sources[kind]?.length ?? 0) > 0);
}

/** Writes every dump of `sources` under `stagingDir` (created 0700, emptied first), one after another; throws ArcaError on the first failure. */
export async function writeDumps(
  sources: Sources,
  stagingDir: string,
  opts: DumpOptions = {},
): Promise<DumpResult[]> {
  if (!path.isAbsolute(stagingDir) || path.resolve(stagingDir) === path.parse(stagingDir).root) {
    throw new ArcaError('usage', `dump staging directory ${stagingDir}: expected an absolute path below /`);
  }
  const dir = path.resolve(stagingDir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const results: DumpResult[] = [];
  for (const kind of kinds) {
    for (const source of (sources[kind] ?? []) as Source[]) {
      if (opts.signal?.aborted) throw new ArcaError('interrupted', 'dumps interrupted');
      const name = dumpFilename(kind, source);
      const file = path.join(dir, name);
      if (!file.startsWith(dir + path.sep)) {
        throw new ArcaError('unsafe-path', `dump name ${JSON.stringify(name)} leaves the staging directory`);
      }
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const job: Job = {
        name,
        file,
        env: opts.env ?? process.env,
        timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        signal: opts.signal,
      };
      const start = performance.now();
      try {
        await writeDump(kind, source, job);
      } catch (err) {
        await rm(file, { force: true });
        throw err;
      }
      const ms = Math.round(performance.now() - start);
      results.push({ kind, name, file, bytes: (await stat(file)).size, ms });
    }
  }
  return results;
}

function writeDump(kind: Kind, source: Source, job: Job): Promise<void> {
  switch (kind) {
    case 'commands':
      return dumpCommand(source as CommandSource, job);
    case 'postgres':
      return dumpPostgres(source as PostgresSource, job);
    case 'mysql':
      return dumpMysql(source as MysqlSource, job);
    case 'sqlite':
      return dumpSqlite(source as SqliteSource, job);
  }
}

async function dumpCommand(source: CommandSource, job: Job): Promise<void> {
  await runToFile(job, `source command for ${job.name}`, '/bin/sh', ['-c', source.command], job.env);
}

/** `pg_dump --format=plain --no-password [--host H] [--port P] [--username U] ...args DATABASE`. */
async function dumpPostgres(source: PostgresSource, job: Job): Promise<void> {
  const args = [
    '--format=plain',
    '--no-password',
    ...serverArgs(source, '--username'),
    ...(source.args ?? []),
    databaseArg(source, job),
  ];
  const env = { ...job.env };
  if (source.password !== undefined) {
    env['PGPASSWORD'] = await resolveSecret(source.password, `password of ${job.name}`, job.env);
  }
  await runToFile(job, `pg_dump for ${job.name}`, 'pg_dump', args, env, PG_DUMP_MISSING);
}

/**
 * `mysqldump [--defaults-extra-file=F] --single-transaction --routines --triggers --events
 * [--host H] [--port P] [--user U] ...args DATABASE`; F holds the password and is removed
 * afterwards, whatever happened.
 */
async function dumpMysql(source: MysqlSource, job: Job): Promise<void> {
  const args = [
    '--single-transaction',
    '--routines',
    '--triggers',
    '--events',
    ...serverArgs(source, '--user'),
    ...(source.args ?? []),
    databaseArg(source, job),
  ];
  const what = `mysqldump for ${job.name}`;
  if (source.password === undefined) {
    await runToFile(job, what, 'mysqldump', args, job.env, MYSQLDUMP_MISSING);
    return;
  }
  const password = await resolveSecret(source.password, `password of ${job.name}`, job.env);
  // A private directory of its own: the staging directory is backed up, so not there.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'arca-mysql-'));
  try {
    const defaults = path.join(dir, 'client.cnf');
    await writeFile(defaults, `[client]\npassword=${mysqlOptionValue(password)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    // mysqldump reads --defaults-extra-file only as its first argument.
    await runToFile(
      job,
      what,
      'mysqldump',
      [`--defaults-extra-file=${defaults}`, ...args],
      job.env,
      MYSQLDUMP_MISSING,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `value` as a MySQL option file value: in double quotes (so `#`, `;` and outer spaces stay
 * part of it), with the escapes the option file reader decodes for backslash, quotes and
 * control characters.
 */
export function mysqlOptionValue(value: string): string {
  const escapes: Record<string, string> = {
    '\\': '\\\\',
    '"': '\\"',
    "'": "\\'",
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\b': '\\b',
  };
  return `"${value.replace(/[\\"'\n\r\t\b]/g, (c) => escapes[c]!)}"`;
}

/** `--host H --port P --user U` for the fields given; `userOption` is the tool's spelling of the user option. */
function serverArgs(source: PostgresSource | MysqlSource, userOption: string): string[] {
  const args: string[] = [];
  if (source.host !== undefined) args.push('--host', source.host);
  if (source.port !== undefined) args.push('--port', String(source.port));
  if (source.user !== undefined) args.push(userOption, source.user);
  return args;
}

/** The database name as the last argument; one that looks like an option would be read as one. */
function databaseArg(source: PostgresSource | MysqlSource, job: Job): string {
  if (source.database.startsWith('-')) {
    throw new ArcaError(
      'usage',
      `${job.name}: database name ${JSON.stringify(source.database)} starts with "-"`,
    );
  }
  return source.database;
}

/** Runs a program with its standard output going into `job.file` (created 0600); throws ArcaError when it fails. */
async function runToFile(
  job: Job,
  what: string,
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  missing?: string,
): Promise<void> {
  const out = await open(job.file, 'wx', 0o600);
  try {
    const run: ChildRun = {
      what,
      file: program,
      args,
      env,
      stdoutFd: out.fd,
      tailBytes: STDERR_TAIL,
      timeoutMs: job.timeoutMs,
      signal: job.signal,
    };
    let exit: Awaited<ReturnType<typeof runChild>>;
    try {
      exit = await runChild(run);
    } catch (err) {
      if (err instanceof ArcaError) throw err;
      if (isErrno(err, 'ENOENT') && missing !== undefined) throw new ArcaError('not-found', missing);
      throw new ArcaError(
        'io',
        `cannot run ${program}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    const failure = childFailure(run, exit, lastLine(exit.stderr));
    if (failure !== undefined) throw failure;
  } finally {
    await out.close();
  }
}

/**
 * Copies a SQLite database with its online backup API. The copy reads inside one read
 * transaction, so it is a consistent snapshot however long it takes; in WAL mode, writers
 * carry on meanwhile (in rollback-journal mode they wait for it).
 */
async function dumpSqlite(source: SqliteSource, job: Job): Promise<void> {
  try {
    await stat(source.path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ArcaError('not-found', `sqlite database ${source.path} not found`);
    throw new ArcaError(
      'io',
      `cannot read sqlite database ${source.path}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  const { default: Database } = await import('better-sqlite3');
  let db: InstanceType<typeof Database>;
  try {
    db = new Database(source.path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new ArcaError('io', `cannot open sqlite database ${source.path}: ${(err as Error).message}`);
  }
  const what = `sqlite backup for ${job.name}`;
  try {
    // An empty file made first, so that the copy is created 0600 (SQLite would use 0644).
    await writeFile(job.file, '', { mode: 0o600, flag: 'wx' });
    const deadline = Date.now() + job.timeoutMs;
    let timedOut = false;
    try {
      // Without the open read transaction every write by another connection would restart
      // the copy, and a busy database would never finish.
      db.exec('BEGIN');
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      await db.backup(job.file, {
        progress: () => {
          if (job.signal?.aborted) throw new ArcaError('interrupted', `${what} interrupted`);
          if (Date.now() > deadline) {
            timedOut = true;
            throw new Error('timeout');
          }
          return SQLITE_PAGES_PER_STEP;
        },
      });
    } catch (err) {
      if (err instanceof ArcaError) throw err;
      const how = timedOut ? `timed out after ${formatLimit(job.timeoutMs)}` : (err as Error).message;
      throw new ArcaError('io', `${what} failed (${how})`);
    }
  } finally {
    db.close();
  }
}
