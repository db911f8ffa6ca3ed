/**
 * A real OpenSSH server for the SFTP backend's tests: its own host key, client key,
 * authorized_keys and config in a temporary directory, listening on 127.0.0.1 on a free
 * port, logging in as the current OS user (a non-root sshd can only log in as itself).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, removeTree } from './tmp.js';
import { hasTool } from './tools.js';

const run = promisify(execFile);

/** A running sshd and what a client needs to reach it. */
export interface SshdServer {
  host: '127.0.0.1';
  port: number;
  /** The OS user the tests log in as. */
  user: string;
  /** A private key sshd accepts for `user`. */
  identityFile: string;
  /** A known_hosts file holding the server's key for `[127.0.0.1]:port`. */
  knownHostsFile: string;
  /** `SHA256:…` of the server's host key. */
  hostKeyFingerprint: string;
  /** The server's host public key line (`ssh-ed25519 AAAA…`). */
  hostPublicKey: string;
  /** An empty directory to hold repositories. */
  root: string;
  /** A directory for the test's own files (other keys, known_hosts variants). */
  scratch: string;
  /** How many logins sshd has accepted so far. */
  logins(): number;
  /** Kills the per-connection sshd processes, so every open connection drops; the server keeps listening. */
  dropConnections(): Promise<void>;
  stop(): Promise<void>;
}

/** The sshd binary: often in /usr/sbin, which a non-root PATH lacks. */
function sshdPath(): string | undefined {
  const dirs = ['/usr/sbin', '/usr/local/sbin', ...(process.env['PATH'] ?? '').split(path.delimiter)];
  for (const dir of dirs.filter((d) => d !== '')) {
    const candidate = path.join(dir, 'sshd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  return undefined;
}

/**
 * For `describe(…, { skip: skipUnlessSshd() })`: false when sshd and ssh-keygen are there,
 * otherwise the skip message; under `CI=true` a missing program fails the file instead.
 */
export function skipUnlessSshd(): false | string {
  const missing = sshdPath() === undefined ? 'sshd' : !hasTool('ssh-keygen') ? 'ssh-keygen' : undefined;
  if (missing === undefined) return false;
  const message = `${missing} is not installed (apt-get install openssh-server)`;
  if (process.env['CI'] === 'true') throw new Error(message);
  return message;
}

/** Makes an unencrypted ed25519 key pair; returns the public key line (type and base64). */
export async function makeKey(file: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'arca-test', '-f', file]);
  const [type, base64] = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/);
  return `${type} ${base64}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(),
      );
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts sshd; the caller stops it. */
export async function startSshd(): Promise<SshdServer> {
  const sshd = sshdPath();
  if (sshd === undefined) throw new Error('sshd is not installed (apt-get install openssh-server)');
  const dir = await makeTempDir('sshd');
  const root = path.join(dir, 'repos');
  const scratch = path.join(dir, 'scratch');
  await mkdir(root);
  await mkdir(scratch);
  const hostKey = path.join(dir, 'host_ed25519');
  const identityFile = path.join(dir, 'client_ed25519');
  const hostPublicKey = await makeKey(hostKey);
  await writeFile(path.join(dir, 'authorized_keys'), `${await makeKey(identityFile)}\n`, { mode: 0o600 });
  // sshd insists on its privilege separation directory even when it cannot use it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => undefined);

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    await writeFile(
      config,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UseDNS no',
        'PrintMotd no',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    const child = spawn(sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    let partial = '';
    let logins = 0;
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      logins += lines.filter((l) => l.startsWith('Accepted publickey for ')).length;
    });
    let up = false;
    for (let i = 0; i < 200 && child.exitCode === null && child.signalCode === null && !up; i++) {
      up = await accepts(port);
      if (!up) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (!up) {
      child.kill('SIGKILL');
      await exited(child);
      // Someone may have taken the port between freePort() and sshd's bind: try another.
      if (attempt < 3) continue;
      await removeTree(dir);
      throw new Error(`sshd did not start on 127.0.0.1:${port}:\n${log}`);
    }
    const knownHostsFile = path.join(dir, 'known_hosts');
    await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
    const blob = Buffer.from(hostPublicKey.split(' ')[1] ?? '', 'base64');
    const hostKeyFingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    return {
      host: '127.0.0.1',
      port,
      user: os.userInfo().username,
      identityFile,
      knownHostsFile,
      hostKeyFingerprint,
      hostPublicKey,
      root,
      scratch,
      logins: () => logins,
      dropConnections: async () => {
        const pid = child.pid;
        if (pid === undefined) return;
        const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
        for (const c of children.split(/\s+/).filter((s) => s !== '')) {
          try {
            process.kill(Number(c), 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      },
      stop: async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited(child);
        clearTimeout(timer);
        await removeTree(dir);
      },
    };
  }
}
