/**
 * A restic REST server for tests: Debian's `rclone serve restic` on a temporary directory,
 * bound to a free port on 127.0.0.1. Each repository lives under its own path on it
 * (`<url><name>/`). rclone is told to use no config file, so it never reads or writes the
 * user's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { makeTempDir, removeTree } from './tmp.js';

/** A running server. */
export interface RestServer {
  /** `http://127.0.0.1:PORT/`, without credentials. */
  url: string;
  /** The directory it serves. */
  dir: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

export interface RestServerOptions {
  /** Basic-auth user and password the server demands (both, or neither). */
  user?: string;
  password?: string;
  /** Refuse deletions and overwrites (locks excepted), as `--append-only` does. */
  appendOnly?: boolean;
}

const startupMs = 15_000;

/** Starts `rclone serve restic` and waits until it answers HTTP. */
export async function startRestServer(opts: RestServerOptions = {}): Promise<RestServer> {
  const dir = await makeTempDir('rest-server');
  // Port 0: rclone binds a free port and logs the URL it serves, which we read back.
  const args = ['serve', 'restic', dir, '--addr', '127.0.0.1:0', '--config', '/dev/null'];
  if (opts.user !== undefined) args.push('--user', opts.user);
  if (opts.password !== undefined) args.push('--pass', opts.password);
  if (opts.appendOnly === true) args.push('--append-only');
  const child = spawn('rclone', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    await kill(child, exited);
    await removeTree(dir);
  };
  try {
    const url = await servedUrl(child);
    await answers(url);
    return { url, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The URL rclone logs once it listens ("Serving restic REST API on http://…/"). */
function servedUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(
      () => done(new Error(`rclone did not start within ${startupMs} ms:\n${log}`)),
      startupMs,
    );
    const done = (err: Error | undefined, url?: string) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      if (err === undefined) resolve(url as string);
      else reject(err);
    };
    const onExit = (code: number | null) =>
      done(new Error(`rclone exited (${code}) before serving:\n${log}`));
    child.on('exit', onExit);
    child.on('error', (err) => done(err));
    // Keep reading stderr for the server's whole life, so a full pipe never blocks it.
    child.stderr?.on('data', (chunk: Buffer) => {
      if (log.length < 64 * 1024) log += chunk.toString('utf8');
      const url = /Serving restic REST API on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(log)?.[1];
      if (url !== undefined) done(undefined, url);
    });
  });
}

/** Polls until the server answers any HTTP request (bounded). */
async function answers(url: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.request(`${url}config`, { method: 'HEAD', agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`rclone at ${url} does not answer`);
}

/** Terminates the server and waits for it to exit, killing it outright if it lingers. */
async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
