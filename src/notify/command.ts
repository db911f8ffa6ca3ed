/**
 * The command channel: a shell command run once per event, the event's JSON on its standard
 * input and the essentials in its environment (`ARCA_EVENT`, `ARCA_DATASET`, `ARCA_SUMMARY`),
 * for whatever the other channels do not cover (a chat tool's CLI, a pager, a ticket).
 * It runs in a process group of its own so that a timeout ends the shell and everything it
 * started. A non-zero exit is a failed delivery; the error carries the end of its stderr.
 */
import { spawn } from 'node:child_process';
import type { Notifications } from '../policy/notifications.js';
import { type ChannelContext, DeliveryError, describeTimeout } from './channel.js';
import type { ArcaEvent } from './event.js';

/** The policy's `notifications.command`: the command itself, or `{run, events}`. */
export type CommandConfig = NonNullable<Notifications['command']>;

/** How much of the command's stderr a failed delivery quotes (its end). */
const stderrTail = 200;

/** Runs `command` with `event` on stdin; throws a {@link DeliveryError} when it fails, is killed or times out. */
export function runCommand(command: string, event: ArcaEvent, ctx: ChannelContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: {
        ...ctx.env,
        ARCA_EVENT: event.event,
        ARCA_DATASET: event.dataset ?? '',
        ARCA_SUMMARY: event.summary,
      },
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const finish = (err?: DeliveryError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stderr.destroy();
      if (err) reject(err);
      else resolve();
    };
    const finishExited = () => {
      if (!exit) return;
      if (exit.code === 0) return finish();
      const why = exit.code !== null ? `exit code ${exit.code}` : `killed by ${exit.signal}`;
      const tail = stderr.trim().slice(-stderrTail);
      finish(new DeliveryError(tail === '' ? why : `${why}: ${tail}`));
    };
    const timer = setTimeout(() => {
      // After the shell exited, its stderr may be held open by something it left running.
      if (exit) return finishExited();
      killGroup(child.pid);
      finish(new DeliveryError(`timed out after ${describeTimeout(ctx.timeoutMs)}`));
    }, ctx.timeoutMs);

    child.on('error', (err: NodeJS.ErrnoException) => {
      finish(new DeliveryError(`cannot start /bin/sh (${err.code ?? 'error'})`, { cause: err }));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4 * stderrTail);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Success needs nothing more; a failure waits for the rest of stderr ('close').
      if (code === 0) finish();
    });
    child.on('close', finishExited);
    // A command that does not read its input closes the pipe early: that is not a failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${JSON.stringify(event)}\n`);
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
