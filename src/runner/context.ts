/**
 * What every runner step needs: the policy as loaded (with its hash for the journal), the
 * open journal, how to reach repositories, where to report progress, and the signal that
 * asks it to stop. `arca run` and `arca daemon` build one; tests build their own.
 */
import os from 'node:os';
import type { Journal } from '../journal/journal.js';
import type { RunEntry, RunReport } from '../journal/record_run.js';
import { recordRun } from '../journal/record_run.js';
import type { LoadedPolicy } from '../policy/load.js';
import type { RepoAccess } from './repos.js';

/** One line of progress, for a person (`text`) and for `--json` (the rest). */
export interface RunnerEvent {
  /** `backup`, `copy`, `forget`, `prune`, `hook`, `dump`, `retry`, `failed`, `notification`, `journal`, `rpo-breach`, `info`. */
  type: string;
  dataset?: string;
  repository?: string;
  level?: string;
  text: string;
  [key: string]: unknown;
}

export interface RunnerContext {
  loaded: LoadedPolicy;
  journal: Journal;
  access: RepoAccess;
  env: NodeJS.ProcessEnv;
  /** The host name recorded on snapshots and used to find a dataset's earlier ones. */
  host: string;
  /** arca's state directory: dumps are staged under it. */
  stateDir: string;
  /** Aborted when the run must stop (Ctrl-C, SIGTERM). */
  signal: AbortSignal;
  report(e: RunnerEvent): void;
  /** Waits `ms` unless the signal aborts first (tests shorten it). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** The current time (tests may fix it). */
  now(): Date;
  /** The step running now, so that a forced stop can record it as interrupted. */
  current?: { entry: RunEntry; started: Date };
}

/** The host name arca records on snapshots. */
export function hostName(): string {
  return os.hostname();
}

/** Runs `fn` and records it in the journal with the policy's hash. */
export async function recorded<T>(
  ctx: RunnerContext,
  entry: RunEntry,
  fn: (report: RunReport) => Promise<T>,
): Promise<T> {
  const full = { ...entry, policy_hash: ctx.loaded.sha256 };
  ctx.current = { entry: full, started: new Date() };
  try {
    const { value } = await recordRun(ctx.journal, full, fn);
    return value;
  } finally {
    ctx.current = undefined;
  }
}

/** Records the step running now as interrupted (when arca must exit before it ends). */
export function recordInterrupted(ctx: RunnerContext, why: string): void {
  const c = ctx.current;
  if (c === undefined) return;
  ctx.current = undefined;
  ctx.journal.append({
    ...c.entry,
    result: 'interrupted',
    error: why,
    started_at: c.started,
    ended_at: new Date(),
  });
}

/** A sleep that ends early, rejecting, when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
