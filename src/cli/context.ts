import type { Backend } from '../backend/backend.js';
import { openBackendStack, type StackOptions } from '../backend/stack.js';
import { ArcaError } from '../errors.js';
import type { Lock } from '../repo/lock.js';
import { Repository } from '../repo/repository.js';
import { readPassword } from './password.js';

/** Options every command accepts. */
export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  passwordCommand?: string;
  keyHint?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  lock?: boolean;
  /** `-o key=value`, repeatable: backend options as restic takes them. */
  option?: string[];
  limitUpload?: string;
  limitDownload?: string;
  /** False with `--no-cache`. */
  cache?: boolean;
  cacheDir?: string;
  /** The policy file (`--policy`). */
  policy?: string;
  /** The journal database (`--journal`). */
  journal?: string;
}

/** What a command needs to talk to the user: where to print, and whether to be quiet. */
export interface Output {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  /** True when stdout is a terminal and progress may be drawn. */
  interactive: boolean;
  /** Prints a line for a person (suppressed by `--quiet` and `--json`). */
  info(line: string): void;
  /** Prints a line on stdout regardless of `--quiet` (the command's result). */
  print(line: string): void;
  /** Prints one JSON document on a line. */
  printJson(doc: unknown): void;
  /** Prints a warning on stderr (never suppressed). */
  warn(line: string): void;
}

/** Builds the output helper from the global options. */
export function makeOutput(g: GlobalOptions): Output {
  const json = g.json === true;
  const quiet = g.quiet === true;
  return {
    json,
    quiet,
    verbose: g.verbose === true,
    interactive: process.stdout.isTTY === true && !json && !quiet,
    info: (line) => {
      if (!json && !quiet) process.stdout.write(`${line}\n`);
    },
    print: (line) => process.stdout.write(`${line}\n`),
    printJson: (doc) => process.stdout.write(`${JSON.stringify(doc, jsonReplacer)}\n`),
    warn: (line) => process.stderr.write(`${line}\n`),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint')
    return Number(value) <= Number.MAX_SAFE_INTEGER ? Number(value) : value.toString();
  return value;
}

/** The repository location from `-r` or `ARCA_REPOSITORY`. */
export function repoLocation(g: GlobalOptions, env = process.env): string {
  const loc = g.repo ?? env.ARCA_REPOSITORY;
  if (loc === undefined || loc === '') {
    throw new ArcaError('usage', 'no repository given: use -r/--repo or set ARCA_REPOSITORY');
  }
  return loc;
}

/** Opens the backend only (for commands that create a repository). */
export function backendFromOptions(g: GlobalOptions): Backend {
  return openBackendStack(repoLocation(g), stackOptions(g));
}

/** How to reach a repository, from the global options (`-o`, limits, cache). */
export function stackOptions(g: GlobalOptions): StackOptions {
  return {
    extended: parseExtendedOptions(g.option ?? []),
    limitUploadKiBs: parseRate(g.limitUpload, '--limit-upload'),
    limitDownloadKiBs: parseRate(g.limitDownload, '--limit-download'),
    cacheDir: g.cache === false ? false : (g.cacheDir ?? undefined),
    onRetry: (what, attempt, err, delayMs) =>
      process.stderr.write(
        `arca: ${what}: ${err.message}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})\n`,
      ),
  };
}

/** `key=value` pairs from repeated `-o` options. */
export function parseExtendedOptions(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ArcaError('usage', `-o ${pair}: expected key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  return out;
}

function parseRate(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ArcaError('usage', `${flag} ${value}: expected a rate in KiB/s above 0`);
  return n;
}

/** Opens the repository named by the global options, asking for the password as configured. */
export async function openRepository(g: GlobalOptions): Promise<Repository> {
  const backend = backendFromOptions(g);
  try {
    const password = await readPassword(g);
    return await Repository.open(backend, password, { keyHint: g.keyHint });
  } catch (err) {
    await backend.close();
    throw err;
  }
}

/** The kind of lock a command takes while it runs. */
export type LockMode = 'none' | 'shared' | 'exclusive';

/**
 * Opens the repository, takes the lock the command needs (unless `--no-lock`), runs
 * `fn`, and always releases the lock and the backend afterwards.
 */
export async function withRepository<T>(
  g: GlobalOptions,
  mode: LockMode,
  fn: (repo: Repository) => Promise<T>,
  opts: { loadIndex?: boolean } = {},
): Promise<T> {
  const repo = await openRepository(g);
  let lock: Lock | undefined;
  const cleanUp = onInterrupt(async () => {
    await lock?.release();
  });
  let result: T;
  try {
    if (mode !== 'none' && g.lock !== false) lock = await repo.lock(mode === 'exclusive', opts);
    result = await fn(repo);
  } catch (err) {
    cleanUp();
    const releaseError = await releaseAndClose(lock, repo.backend);
    // A lock that cannot be removed goes stale and `arca unlock` clears it; it must not hide
    // the command's own error.
    if (releaseError) process.stderr.write(`arca: could not remove the lock: ${String(releaseError)}\n`);
    throw err;
  }
  cleanUp();
  const releaseError = await releaseAndClose(lock, repo.backend);
  if (releaseError) throw releaseError;
  return result;
}

/** Releases the lock, then closes the backend whatever happened; returns the release's error. */
export async function releaseAndClose(lock: Lock | undefined, backend: Backend): Promise<unknown> {
  let error: unknown;
  try {
    await lock?.release();
  } catch (err) {
    error = err;
  }
  await backend.close();
  return error;
}

const interruptHandlers: (() => Promise<void>)[] = [];

/**
 * Registers what to clean up when the user presses Ctrl-C (release a lock, say); returns
 * the function that unregisters it once the resource is gone.
 */
export function onInterrupt(fn: () => Promise<void>): () => void {
  interruptHandlers.push(fn);
  return () => {
    const i = interruptHandlers.indexOf(fn);
    if (i >= 0) interruptHandlers.splice(i, 1);
  };
}

/** Runs every registered clean-up once, newest first; one that fails does not stop the others. */
export async function runInterruptHandler(): Promise<void> {
  const handlers = interruptHandlers.splice(0).reverse();
  for (const h of handlers) {
    try {
      await h();
    } catch {
      // Nothing more can be done while exiting; a stale lock is cleared by `arca unlock`.
    }
  }
}

let stopHandler: ((signal: NodeJS.Signals) => void) | undefined;

/**
 * Lets a long-running command (the daemon) handle the first SIGTERM or Ctrl-C itself, to
 * finish or abort its current step; a second signal takes the usual path. Returns the
 * function that removes the handler.
 */
export function onStopRequest(fn: (signal: NodeJS.Signals) => void): () => void {
  stopHandler = fn;
  return () => {
    if (stopHandler === fn) stopHandler = undefined;
  };
}

/** The registered stop handler, removed so that it runs once. */
export function takeStopHandler(): ((signal: NodeJS.Signals) => void) | undefined {
  const fn = stopHandler;
  stopHandler = undefined;
  return fn;
}
