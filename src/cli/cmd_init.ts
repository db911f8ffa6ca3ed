import type { Command } from 'commander';
import { ArcaError } from '../errors.js';
import { maxRepoVersion, minRepoVersion } from '../repo/config.js';
import { initRepository, stableRepoVersion } from '../repo/init.js';
import { parsePolynomial } from '../repo/polynomial.js';
import { backendFromOptions, type GlobalOptions, makeOutput, repoLocation } from './context.js';
import { recordCli } from './journal_record.js';
import { canPrompt, promptNewPassword, readPassword } from './password.js';
import {
  addFromRepoOptions,
  type FromRepoOptions,
  hasPasswordSource,
  openSourceRepository,
} from './source_repo.js';

interface InitCommandOptions extends FromRepoOptions {
  repositoryVersion: string;
  copyChunkerParams?: boolean;
}

/** Registers `arca init`. */
export function registerInit(program: Command): void {
  const init = program
    .command('init')
    .description('create a new repository')
    .option(
      '--repository-version <version>',
      'repository format version: 1, 2, "latest" or "stable"',
      'stable',
    )
    .option('--copy-chunker-params', 'use the chunker polynomial of the repository given by --from-repo');
  addFromRepoOptions(init, 'source repository for --copy-chunker-params').action(
    async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & InitCommandOptions>();
      const out = makeOutput(o);
      const version = parseRepositoryVersion(o.repositoryVersion);
      // A missing location is reported before any password is asked for.
      const entry = { operation: 'init', repository: repoLocation(o), details: { version } };
      await recordCli(o, entry, async (report) => {
        const chunkerPolynomial = await sourceChunkerPolynomial(o);
        const password = await readInitPassword(o);
        const backend = backendFromOptions(o);
        // The backend's form of the location: credentials given in the URL are left out.
        const location = backend.location;
        try {
          const repo = await initRepository(backend, password, { version, chunkerPolynomial });
          report.details = { repository_id: repo.config.id, chunker_copied: chunkerPolynomial !== undefined };
          if (out.json) {
            out.printJson({ message_type: 'initialized', id: repo.config.id, repository: location });
            return;
          }
          const copied =
            chunkerPolynomial === undefined
              ? ''
              : ' with chunker parameters copied from secondary repository';
          out.info(`created restic repository ${repo.config.id.slice(0, 10)} at ${location}${copied}`);
          out.info('');
          out.info('Please note that knowledge of your password is required to access');
          out.info('the repository. Losing your password means that your data is');
          out.info('irrecoverably lost.');
        } finally {
          await backend.close();
        }
      });
    },
  );
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
async function sourceChunkerPolynomial(o: GlobalOptions & InitCommandOptions): Promise<bigint | undefined> {
  if (!o.copyChunkerParams) {
    if (o.fromRepo !== undefined) {
      throw new ArcaError('usage', '--from-repo must only be given together with --copy-chunker-params');
    }
    return undefined;
  }
  const source = await openSourceRepository(o);
  try {
    return parsePolynomial(source.config.chunker_polynomial);
  } finally {
    await source.backend.close();
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
