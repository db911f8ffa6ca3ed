/**
 * The child processes the runner starts: dump tools and source commands (standard output
 * straight into a file, never through this process, since a dump can be many GB) and hooks
 * (output kept as a tail). A child runs in its own process group, so that a timeout or an
 * abort stops everything a shell started (`pg_dump | gzip`), not only the shell. Only the
 * tails of the output are kept: the last line of standard error explains a failure, and a
 * command line, which may carry credentials, is never part of a message.
 */
import { spawn } from 'node:child_process';
import { ArcaError } from '../errors.js';
import { formatMs } from '../policy/duration.js';

/** How long a child has to stop after SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 10_000;
/**
 * How long to wait, once the child has exited, for its output pipes to close: a process it
 * left behind in the background may hold them open for ever.
 */
const DRAIN_MS = 2_000;
/** setTimeout's longest delay (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The most of a failure's last line that goes into a message. */
const LINE_MAX = 300;

/** A program to run to its end. */
export interface ChildRun {
  /** What runs, for messages: `source command for mysql/shop.sql`, `before hook`. */
  what: string;
  file: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** The working directory; without it, arca's own. */
  cwd?: string;
  /** An open file that receives standard output; without it, the output is kept as a tail. */
  stdoutFd?: number;
  /** How many bytes of each tail to keep. */
  tailBytes: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** How a child ended. */
export interface ChildExit {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it ran out of time and was killed. */
  timedOut: boolean;
  /** The last bytes of standard error. */
  stderr: string;
  /** The last bytes of standard output and standard error as they came (without `stdoutFd`: stderr only). */
  output: string;
}

/** The last `max` bytes written to a stream. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.max) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

/**
 * Runs `run.file` with `run.args` and resolves with how it ended, whatever the exit code.
 * Rejects with the spawn error (ENOENT for a missing program), or with ArcaError
 * `interrupted` once an aborted `run.signal` has stopped the child.
 */
export function runChild(run: ChildRun): Promise<ChildExit> {
  const interrupted = () => new ArcaError('interrupted', `${run.what} interrupted`);
  if (run.signal?.aborted) return Promise.reject(interrupted());
  return new Promise((resolve, reject) => {
    const child = spawn(run.file, run.args, {
      env: run.env,
      ...(run.cwd === undefined ? {} : { cwd: run.cwd }),
      stdio: ['ignore', run.stdoutFd ?? 'pipe', 'pipe'],
      detached: true,
    });
    const stderr = new Tail(run.tailBytes);
    const output = new Tail(run.tailBytes);
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      output.push(chunk);
    });

    let settled = false;
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      signalGroup(child.pid, 'SIGTERM');
      killTimer ??= setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    const timer = setTimeout(
      () => {
        timedOut = true;
        stop();
      },
      Math.min(run.timeoutMs, MAX_TIMER_MS),
    );
    run.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      run.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (err) => {
      if (settled) return;
      finish();
      reject(err);
    });
    child.on('exit', () => {
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, DRAIN_MS);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      finish();
      if (aborted) reject(interrupted());
      else resolve({ code, signal, timedOut, stderr: stderr.toString(), output: output.toString() });
    });
  });
}

/** Sends `signal` to the process group led by `pid`; a group that is gone already is fine. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: every process of the group has exited.
  }
}

/** The last non-empty line of `text`, shortened to a readable length; '' when there is none. */
export function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const line = (lines[lines.length - 1] ?? '').trim();
  return line.length > LINE_MAX ? `${line.slice(0, LINE_MAX)}…` : line;
}

/** A time limit as a message gives it: `6h`, `1m30s`, `500ms`. */
export function formatLimit(ms: number): string {
  return ms < 1000 ? `${ms}ms` : formatMs(ms);
}

/**
 * The error for a child that did not succeed — `before hook failed (exit code 3): <line>` —
 * or undefined when it exited with code 0 in time. `detail` is the line that explains it.
 */
export function childFailure(run: ChildRun, exit: ChildExit, detail: string): ArcaError | undefined {
  let how: string;
  if (exit.timedOut) how = `timed out after ${formatLimit(run.timeoutMs)}`;
  else if (exit.signal !== null) how = `killed by ${exit.signal}`;
  else if (exit.code !== 0) how = `exit code ${String(exit.code)}`;
  else return undefined;
  return new ArcaError('io', `${run.what} failed (${how})${detail === '' ? '' : `: ${detail}`}`);
}
