import type { Command } from 'commander';
import { openBackendStack } from '../backend/stack.js';
import { ArcaError } from '../errors.js';
import { Repository } from '../repo/repository.js';
import { type GlobalOptions, stackOptions } from './context.js';
import { canPrompt, type PasswordSources, readPassword } from './password.js';

/** The options naming a second repository (`init --copy-chunker-params`, `copy`). */
export interface FromRepoOptions {
  fromRepo?: string;
  fromPasswordFile?: string;
  fromPasswordCommand?: string;
}

/** Adds `--from-repo`, `--from-password-file` and `--from-password-command` to a command. */
export function addFromRepoOptions(cmd: Command, purpose: string): Command {
  return cmd
    .option('--from-repo <location>', `${purpose} (default: $ARCA_FROM_REPOSITORY)`)
    .option(
      '--from-password-file <file>',
      'read the source repository password from a file (default: $ARCA_FROM_PASSWORD_FILE)',
    )
    .option(
      '--from-password-command <command>',
      'run a shell command that prints the source repository password ($ARCA_FROM_PASSWORD_COMMAND)',
    );
}

/** True when one of the password sources (options or environment) is set. */
export function hasPasswordSource(src: PasswordSources, env: NodeJS.ProcessEnv): boolean {
  return [
    src.passwordFile,
    src.passwordCommand,
    env.ARCA_PASSWORD_FILE,
    env.ARCA_PASSWORD_COMMAND,
    env.ARCA_PASSWORD,
  ].some((v) => v !== undefined);
}

/**
 * Opens the source repository named by `--from-repo`/`ARCA_FROM_REPOSITORY`, with its
 * password from the `--from-*` options and `ARCA_FROM_*` variables (in the order the
 * repository's own password is looked for), reached with the same `-o`, limits and cache
 * settings as the main repository.
 */
export async function openSourceRepository(
  o: FromRepoOptions & GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Repository> {
  const location = o.fromRepo ?? env.ARCA_FROM_REPOSITORY;
  if (location === undefined || location === '') {
    throw new ArcaError(
      'usage',
      'please specify a source repository location (--from-repo or ARCA_FROM_REPOSITORY)',
    );
  }
  const sources: PasswordSources = {
    passwordFile: o.fromPasswordFile,
    passwordCommand: o.fromPasswordCommand,
  };
  const fromEnv = {
    ARCA_PASSWORD_FILE: env.ARCA_FROM_PASSWORD_FILE,
    ARCA_PASSWORD_COMMAND: env.ARCA_FROM_PASSWORD_COMMAND,
    ARCA_PASSWORD: env.ARCA_FROM_PASSWORD,
  };
  if (!hasPasswordSource(sources, fromEnv) && !canPrompt()) {
    throw new ArcaError(
      'no-password',
      'no password given for the source repository: use --from-password-file, --from-password-command, ' +
        'ARCA_FROM_PASSWORD_FILE or ARCA_FROM_PASSWORD',
    );
  }
  const backend = openBackendStack(location, stackOptions(o));
  try {
    const password = await readPassword(sources, fromEnv, 'source repository');
    return await Repository.open(backend, password);
  } catch (err) {
    await backend.close();
    if (err instanceof ArcaError && (err.code === 'wrong-password' || err.code === 'no-repository')) {
      // The backend's form of the location: a password given in the URL is left out.
      throw new ArcaError(err.code, `source repository ${backend.location}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
