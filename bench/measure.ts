import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';

/** GNU time, which reports the child's CPU time and peak RSS from wait4(2). */
export const gnuTime = '/usr/bin/time';

/** What one measured child process did. */
export interface Measurement {
  /** Wall seconds, from the harness's monotonic clock. */
  wall: number;
  /** User CPU seconds of the child and its waited-for descendants (all threads). */
  user: number;
  /** System CPU seconds, likewise. */
  sys: number;
  /** Peak resident set size in KiB (GNU time's %M). */
  maxRssKiB: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The last few KiB of stdout and stderr together, for failure reports. */
  outputTail: string;
}

/** How to run one measured command. */
export interface MeasureOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** File GNU time writes its line to (removed afterwards). */
  timeFile: string;
}

const tailBytes = 4096;

/** Process groups started here and still running, so an interrupt can end them. */
const running = new Set<number>();
/** Set by killRunning: no child starts after an interrupt, while the harness shuts down. */
let refusing = false;

/**
 * Kills every process group this module started that is still running, and makes later
 * measure/runQuiet calls fail at once instead of starting a child.
 */
export function killRunning(): void {
  refusing = true;
  for (const pid of running) killGroup(pid);
}

function refuseAfterInterrupt(cmd: string): void {
  if (refusing) throw new Error(`interrupted: not starting ${cmd}`);
}

/** Throws with an install hint when GNU time is missing. */
export function requireGnuTime(): void {
  if (!existsSync(gnuTime)) {
    throw new Error(`${gnuTime} not found: install GNU time (apt-get install -y time)`);
  }
}

/**
 * Runs `cmd args` under GNU time in its own process group. On timeout the whole group is
 * killed (SIGKILL), so no child outlives the step; the measurement is then marked timedOut.
 */
export async function measure(cmd: string, args: string[], o: MeasureOptions): Promise<Measurement> {
  await rm(o.timeFile, { force: true });
  refuseAfterInterrupt(cmd);
  const started = process.hrtime.bigint();
  const child = spawn(gnuTime, ['-f', '%e %U %S %M', '-o', o.timeFile, cmd, ...args], {
    env: o.env,
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid !== undefined) running.add(child.pid);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-tailBytes);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, o.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('error', (err) => {
      keep(Buffer.from(`spawn failed: ${err.message}\n`));
      resolve({ code: null, signal: null });
    });
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  if (child.pid !== undefined) running.delete(child.pid);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const t = await readTimeFile(o.timeFile);
  await rm(o.timeFile, { force: true });
  return {
    wall,
    user: t?.user ?? Number.NaN,
    sys: t?.sys ?? Number.NaN,
    maxRssKiB: t?.maxRssKiB ?? Number.NaN,
    exitCode: code,
    signal,
    timedOut,
    outputTail: tail,
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Parses GNU time's `%e %U %S %M` line (the last line: a "Command exited…" line may precede it). */
export function parseTimeLine(
  text: string,
): { wall: number; user: number; sys: number; maxRssKiB: number } | null {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const last = lines[lines.length - 1];
  if (last === undefined) return null;
  const m = /^([\d.]+) ([\d.]+) ([\d.]+) (\d+)$/.exec(last.trim());
  if (!m) return null;
  return { wall: Number(m[1]), user: Number(m[2]), sys: Number(m[3]), maxRssKiB: Number(m[4]) };
}

async function readTimeFile(file: string): Promise<ReturnType<typeof parseTimeLine>> {
  try {
    return parseTimeLine(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Runs a helper command (not measured) and returns its stdout; throws on failure or timeout. */
export function runQuiet(
  cmd: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; inheritStderr?: boolean },
): Promise<string> {
  return new Promise((resolve, reject) => {
    refuseAfterInterrupt(cmd);
    const child = spawn(cmd, args, {
      env: o.env ?? process.env,
      cwd: o.cwd,
      stdio: ['ignore', 'pipe', o.inheritStderr ? 'inherit' : 'pipe'],
      detached: true,
    });
    if (child.pid !== undefined) running.add(child.pid);
    let out = '';
    let err = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString('utf8')).slice(-tailBytes);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, o.timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      if (child.pid !== undefined) running.delete(child.pid);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('close', (code, signal) => {
      done();
      if (code === 0) resolve(out);
      else {
        const why = timedOut ? `timed out after ${o.timeoutMs / 1000} s` : `exit ${code ?? signal}`;
        reject(new Error(`${cmd} ${args.join(' ')}: ${why}\n${err.trim()}`));
      }
    });
  });
}
