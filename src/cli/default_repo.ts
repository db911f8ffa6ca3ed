/**
 * The embedded defaults a fresh machine runs on: one local repository under the user's data
 * directory, its password generated into the config directory (mode 0600). `arca quickstart`
 * backs up into it, and the example policy `arca policy init` writes names it, so both run
 * without any set-up.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LocalBackend } from '../backend/local.js';
import { arcaDirs } from '../dirs.js';
import { ArcaError } from '../errors.js';
import { initRepository } from '../repo/init.js';
import type { Repository } from '../repo/repository.js';
import type { Output } from './context.js';

/** Where the default repository and its password file are, for `env`. */
export function defaultRepository(env: NodeJS.ProcessEnv = process.env): {
  location: string;
  passwordFile: string;
} {
  const dirs = arcaDirs(env);
  return { location: path.join(dirs.data, 'repository'), passwordFile: path.join(dirs.config, 'password') };
}

/** True when a repository exists at the local `location`. */
export function localRepositoryExists(location: string): boolean {
  return existsSync(path.join(location, 'config'));
}

/** Creates the local repository at `location`, with a generated password unless the password file exists. */
export async function createLocalRepository(
  location: string,
  pwFile: string,
  out: Output,
): Promise<Repository> {
  if (!existsSync(pwFile)) {
    mkdirSync(path.dirname(pwFile), { recursive: true, mode: 0o700 });
    writeFileSync(pwFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    out.info(
      `generated a repository password in ${pwFile} (keep a copy somewhere safe: without it the backups cannot be read)`,
    );
  }
  mkdirSync(path.dirname(location), { recursive: true, mode: 0o700 });
  const repo = await initRepository(new LocalBackend(location), readPasswordFile(pwFile));
  out.info(`created repository ${repo.config.id.slice(0, 10)} at ${location}`);
  return repo;
}

/** The first line of a password file; ArcaError `no-password` when there is none. */
export function readPasswordFile(file: string): string {
  try {
    const pw = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
    if (pw !== '') return pw;
  } catch {
    // reported below
  }
  throw new ArcaError('no-password', `cannot read a password from ${file}`);
}
