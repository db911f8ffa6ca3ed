/**
 * Runs the built `arca` CLI as a user would (`node bin/arca.js …`), for end-to-end tests.
 * The tests run from `dist/test/`, so the project root is two levels up from there.
 *
 * Every arca these tests start records into a journal in a temporary directory of the test
 * process ({@link testJournal}), never into the journal of the user running the tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunResult, run } from './run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The project's root directory (holding package.json and bin/). */
export const projectRoot = path.resolve(
  here,
  here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..',
);
const bin = path.join(projectRoot, 'bin', 'arca.js');

const journalDir = mkdtempSync(path.join(os.tmpdir(), 'arca-test-journal-'));
process.on('exit', () => rmSync(journalDir, { recursive: true, force: true }));
/**
 * The journal of this test process. It is `ARCA_JOURNAL` in this process's environment, so
 * that arca started without {@link arca} (spawned directly, under setpriv…) uses it too;
 * {@link arca} uses it unless the caller's `env` names another.
 */
export const testJournal = path.join(journalDir, 'journal.db');
process.env.ARCA_JOURNAL = testJournal;

/** How to run arca. */
export interface ArcaOptions {
  repo?: string;
  passwordFile?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
}

/** What arca did, with its output decoded as UTF-8 for convenience (raw bytes kept too). */
export interface ArcaResult extends RunResult {
  out: string;
  err: string;
}

/** Runs `arca <args>`; never rejects on a non-zero exit (tests assert the code). */
export async function arca(args: readonly string[], opts: ArcaOptions = {}): Promise<ArcaResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  delete env.ARCA_REPOSITORY;
  delete env.ARCA_PASSWORD;
  delete env.ARCA_PASSWORD_FILE;
  delete env.ARCA_PASSWORD_COMMAND;
  if (opts.repo !== undefined) env.ARCA_REPOSITORY = opts.repo;
  if (opts.passwordFile !== undefined) env.ARCA_PASSWORD_FILE = opts.passwordFile;
  Object.assign(env, opts.env);
  const r = await run(process.execPath, [bin, ...args], {
    cwd: opts.cwd,
    env,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 300_000,
  });
  return { ...r, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8') };
}

/** Like {@link arca}, but throws with arca's stderr unless it exits 0. */
export async function arcaOk(args: readonly string[], opts: ArcaOptions = {}): Promise<ArcaResult> {
  const r = await arca(args, opts);
  if (r.code !== 0) throw new Error(`arca ${args.join(' ')} exited with ${r.code}: ${r.err.trim()}`);
  return r;
}
