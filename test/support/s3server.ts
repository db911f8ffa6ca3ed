/**
 * A real S3-compatible server for tests: s3rver in a child process on 127.0.0.1 (see
 * `s3rver-child.ts` for why a child, and what it fixes in front of s3rver). restic 0.14
 * works against it as well as arca does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeTree } from './tmp.js';

/** A running S3 test server. */
export interface S3TestServer {
  /** `http://127.0.0.1:PORT`, for locations `s3:http://127.0.0.1:PORT/bucket/prefix`. */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The AWS_* variables a client (arca or restic) needs; merge them into a child's env. */
  env: Record<string, string>;
  /** Stops the server and removes everything it stored. */
  stop(): Promise<void>;
}

/** s3rver's built-in account. */
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** How long the child may take to start listening. */
const startTimeoutMs = 30_000;

/** Starts s3rver on a free port of 127.0.0.1, storing in a fresh temporary directory. */
export async function startS3Server(): Promise<S3TestServer> {
  const dir = await makeTempDir('s3rver');
  // Tests run both from TypeScript through tsx and compiled from dist/: the child is a
  // sibling file either way, and only the .ts needs tsx to load it.
  const fromSource = import.meta.url.endsWith('.ts');
  const child = new URL(`./s3rver-child.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  const args = ['--openssl-legacy-provider'];
  if (fromSource) args.push('--import', import.meta.resolve('tsx'));
  args.push(fileURLToPath(child), dir);
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let port: number;
  try {
    port = await waitForPort(proc);
  } catch (err) {
    await stopChild(proc);
    await removeTree(dir);
    throw err;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    ...credentials,
    env: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(proc);
      await removeTree(dir);
    },
  };
}

/** Resolves with the port the child prints, or rejects when it exits or takes too long. */
function waitForPort(proc: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(`did not start within ${startTimeoutMs / 1000} s`), startTimeoutMs);
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`s3rver ${why}${err === '' ? '' : `: ${err.trim()}`}`));
    };
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^PORT (\d+)$/m.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    });
    proc.on('error', (e) => fail(e.message));
    proc.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
  });
}

/** Ends the child (closing its stdin asks it to exit; a signal makes sure) and waits for it. */
async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.stdin?.end();
  proc.kill('SIGTERM');
  await exited;
}
