/**
 * Runs an external program with a bounded run time and collects its output as bytes,
 * for the tests that drive restic and the attr/coreutils tools.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';

/** How to run a program. */
export interface RunOptions {
  cwd?: string;
  /** The complete environment; defaults to this process's. */
  env?: NodeJS.ProcessEnv;
  /** Written to the program's stdin, which is then closed. */
  input?: string | Buffer;
  /** The program is killed and the run rejected after this long; defaults to 120 s. */
  timeoutMs?: number;
}

/** What a program did: its exit code (128 + signal number when killed) and its output. */
export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** Runs `command` and resolves whatever its exit code; rejects when it cannot start or times out. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A program that exits without reading its input closes the pipe under us; that is not our error.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`${command} ${args[0] ?? ''} did not finish within ${timeoutMs} ms`));
        return;
      }
      resolve({
        code: code ?? 128 + (signal === null ? 0 : os.constants.signals[signal]),
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr),
      });
    });
  });
}

/** Runs `command` and rejects, quoting its stderr, unless it exits with code 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(describeFailure(command, args, result));
  return result;
}

/** One line saying which program failed how, for an Error message. */
export function describeFailure(command: string, args: readonly string[], result: RunResult): string {
  const shown = [command, ...args].join(' ');
  const commandLine = shown.length > 300 ? shown.slice(0, 300) + '…' : shown;
  return `${commandLine} exited with code ${result.code}: ${result.stderr.toString('utf8').trim()}`;
}
