import type { Command } from 'commander';
import { openBackend } from '../backend/location.js';
import { ArcaError } from '../errors.js';
import { maxRepoVersion, minRepoVersion } from '../repo/config.js';
import { initRepository, stableRepoVersion } from '../repo/init.js';
import { parsePolynomial } from '../repo/polynomial.js';
import { Repository } from '../repo/repository.js';
import { backendFromOptions, type GlobalOptions, makeOutput, repoLocation } from './context.js';
import { type PasswordSources, prompt, readPassword } from './password.js';

interface InitCommandOptions {
  repositoryVersion: string;
  copyChunkerParams?: boolean;
  fromRepo?: string;
  fromPasswordFile?: string;
  fromPasswordCommand?: string;
}

/** True when a password can be asked for on a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** Asks for a new password twice on the terminal; the answers must match and not be empty. */
export async function promptNewPassword(question: string): Promise<string> {
  const first = await prompt(question);
  const second = await prompt('enter password again: ');
  if (first !== second) throw new ArcaError('no-password', 'passwords do not match');
  if (first === '') throw new ArcaError('no-password', 'an empty password is not a password');
  return first;
}

/** Registers `arca init`. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a new repository')
    .option(
      '--repository-version <version>',
      'repository format version: 1, 2, "latest" or "stable"',
      'stable',
    )
    .option('--copy-chunker-params', 'use the chunker polynomial of the repository given by --from-repo')
    .option(
      '--from-repo <location>',
      'source repository for --copy-chunker-params (default: $ARCA_FROM_REPOSITORY)',
    )
    .option(
      '--from-password-file <file>',
      'read the source repository password from a file (default: $ARCA_FROM_PASSWORD_FILE)',
    )
    .option(
      '--from-password-command <command>',
      'run a shell command that prints the source repository password ($ARCA_FROM_PASSWORD_COMMAND)',
    )
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & InitCommandOptions>();
      const out = makeOutput(o);
      const version = parseRepositoryVersion(o.repositoryVersion);
      const location = repoLocation(o);
      const chunkerPolynomial = await sourceChunkerPolynomial(o);
      const password = await readInitPassword(o);
      const backend = backendFromOptions(o);
      try {
        const repo = await initRepository(backend, password, { version, chunkerPolynomial });
        if (out.json) {
          out.printJson({ message_type: 'initialized', id: repo.config.id, repository: location });
          return;
        }
        const copied =
          chunkerPolynomial === undefined ? '' : ' with chunker parameters copied from secondary repository';
        out.info(`created restic repository ${repo.config.id.slice(0, 10)} at ${location}${copied}`);
        out.info('');
        out.info('Please note that knowledge of your password is required to access');
        out.info('the repository. Losing your password means that your data is');
        out.info('irrecoverably lost.');
      } finally {
        await backend.close();
      }
    });
}

/** restic's `--repository-version`: a number, `latest` or `stable`. */
function parseRepositoryVersion(v: string): 1 | 2 {
  let n: number;
  if (v === 'latest' || v === '') n = maxRepoVersion;
  else if (v === 'stable') n = stableRepoVersion;
  else if (/^\d+$/.test(v)) n = Number(v);
  else throw new ArcaError('usage', `invalid repository version ${JSON.stringify(v)}`);
  if (n !== 1 && n !== 2) {
    throw new ArcaError(
      'usage',
      `only repository versions between ${minRepoVersion} and ${maxRepoVersion} are allowed`,
    );
  }
  return n;
}

/** The source repository's polynomial for `--copy-chunker-params`, or undefined without it. */
async function sourceChunkerPolynomial(
  o: InitCommandOptions,
  env = process.env,
): Promise<bigint | undefined> {
  if (!o.copyChunkerParams) {
    if (o.fromRepo !== undefined) {
      throw new ArcaError('usage', '--from-repo must only be given together with --copy-chunker-params');
    }
    return undefined;
  }
  const location = o.fromRepo ?? env.ARCA_FROM_REPOSITORY;
  if (location === undefined || location === '') {
    throw new ArcaError(
      'usage',
      'please specify a source repository location (--from-repo or ARCA_FROM_REPOSITORY)',
    );
  }
  // The source's password comes from the --from-* options and ARCA_FROM_* variables, in
  // the same order readPassword applies to the repository's own.
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
  const backend = openBackend(location);
  try {
    const password = await readPassword(sources, fromEnv, 'source repository');
    const source = await Repository.open(backend, password);
    return parsePolynomial(source.config.chunker_polynomial);
  } catch (err) {
    if (err instanceof ArcaError && err.code === 'wrong-password') {
      throw new ArcaError('wrong-password', `source repository ${location}: ${err.message}`, { cause: err });
    }
    throw err;
  } finally {
    await backend.close();
  }
}

/** The new repository's password: from the usual sources, or asked twice on a terminal. */
async function readInitPassword(g: GlobalOptions): Promise<string> {
  if (!hasPasswordSource(g, process.env) && canPrompt()) {
    return promptNewPassword('enter password for new repository: ');
  }
  const password = await readPassword(g);
  if (password === '') throw new ArcaError('no-password', 'an empty password is not a password');
  return password;
}

function hasPasswordSource(src: PasswordSources, env: NodeJS.ProcessEnv): boolean {
  return [
    src.passwordFile,
    src.passwordCommand,
    env.ARCA_PASSWORD_FILE,
    env.ARCA_PASSWORD_COMMAND,
    env.ARCA_PASSWORD,
  ].some((v) => v !== undefined);
}
