import type { Command } from 'commander';
import { ArcaError } from '../errors.js';
import type { RunEntry } from '../journal/record_run.js';
import { type Id, resolvePrefix, shortId } from '../repo/id.js';
import { calibrateKdf } from '../repo/kdf.js';
import { addKey, parseKeyFile, unlockKeyFile } from '../repo/key.js';
import type { Repository } from '../repo/repository.js';
import { type GlobalOptions, makeOutput, repoLocation, withRepository } from './context.js';
import { localTime, table } from './format.js';
import { recordCli } from './journal_record.js';
import { canPrompt, promptNewPassword, readPassword } from './password.js';

interface NewKeyOptions {
  newPasswordFile?: string;
  host?: string;
  user?: string;
}

/** One line of `key list`, in the shape restic prints with `--json`. */
interface KeyListing {
  current: boolean;
  id: string;
  userName: string;
  hostName: string;
  created: string;
}

/** Registers `arca key list|add|remove|passwd`. */
export function registerKey(program: Command): void {
  const key = program.command('key').description('manage keys (passwords) of the repository');

  key
    .command('list')
    .description('list the keys; * marks the one that opened the repository')
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(o);
      await withRepository(o, 'shared', async (repo) => {
        const keys = await listKeys(repo, (line) => out.warn(line));
        if (out.json) {
          out.printJson(keys);
          return;
        }
        const rows = keys.map((k) => [`${k.current ? '*' : ' '}${k.id}`, k.userName, k.hostName, k.created]);
        for (const l of table([' ID', 'User', 'Host', 'Created'], rows)) out.print(l);
      });
    });

  addNewKeyOptions(key.command('add').description('add a key (password) for the same master key')).action(
    async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & NewKeyOptions>();
      const out = makeOutput(o);
      await recordCli(o, keyChange(o, 'add'), (report) =>
        withRepository(o, 'shared', async (repo) => {
          const id = await addVerifiedKey(repo, await readNewPassword(o), o);
          report.details = { key_id: id };
          out.info(`saved new key with ID ${id}`);
        }),
      );
    },
  );

  key
    .command('remove <id>')
    .description('remove a key (not the one used to open the repository)')
    .action(async (idPrefix: string, _opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(o);
      await recordCli(o, keyChange(o, 'remove'), (report) =>
        withRepository(o, 'exclusive', async (repo) => {
          const id = resolvePrefix(idPrefix, await repo.listIds('keys'), 'key');
          if (id === repo.keyId) {
            throw new ArcaError('unsupported', 'refusing to remove key currently used to access repository');
          }
          await repo.backend.remove({ type: 'keys', name: id });
          report.details = { removed_key_id: id };
          out.info(`removed key ${id}`);
        }),
      );
    });

  addNewKeyOptions(
    key
      .command('passwd')
      .description('change the password: add a key for the new one, then remove the current key'),
  ).action(async (_opts, cmd: Command) => {
    const o = cmd.optsWithGlobals<GlobalOptions & NewKeyOptions>();
    const out = makeOutput(o);
    await recordCli(o, keyChange(o, 'passwd'), (report) =>
      withRepository(o, 'exclusive', async (repo) => {
        // The new key is stored and proven to work before the old one goes, so a crash in
        // between leaves two working keys, never none.
        const id = await addVerifiedKey(repo, await readNewPassword(o), o);
        // Noted before the old key goes, so that the record of a failure there names the new key.
        report.details = { key_id: id };
        await repo.backend.remove({ type: 'keys', name: repo.keyId });
        report.details = { key_id: id, removed_key_id: repo.keyId };
        out.info(`saved new key with ID ${id}`);
      }),
    );
  });
}

/** The journal entry of a key change: which change, and for a new key the user and host it names (never a password). */
function keyChange(o: GlobalOptions & NewKeyOptions, action: 'add' | 'remove' | 'passwd'): RunEntry {
  return {
    operation: 'key-change',
    repository: repoLocation(o),
    details: action === 'remove' ? { action } : { action, user: o.user ?? null, host: o.host ?? null },
  };
}

function addNewKeyOptions(cmd: Command): Command {
  return cmd
    .option(
      '--new-password-file <file>',
      'read the new password from a file (default: $ARCA_NEW_PASSWORD_FILE)',
    )
    .option('--host <host>', 'the host name recorded in the new key (default: this host)')
    .option('--user <user>', 'the user name recorded in the new key (default: the current user)');
}

/** Every key file's metadata, oldest first; a key that cannot be read is reported and skipped, as restic does. */
async function listKeys(repo: Repository, warn: (line: string) => void): Promise<KeyListing[]> {
  const keys: { created: number; listing: KeyListing }[] = [];
  for (const id of await repo.listIds('keys')) {
    try {
      const kf = parseKeyFile(id, await repo.backend.load({ type: 'keys', name: id }));
      keys.push({
        created: Date.parse(kf.created),
        listing: {
          current: id === repo.keyId,
          id: shortId(id),
          userName: kf.username ?? '',
          hostName: kf.hostname ?? '',
          created: localTime(kf.created),
        },
      });
    } catch (err) {
      if (!(err instanceof ArcaError)) throw err;
      warn(`arca: cannot load key ${shortId(id)}: ${err.message}`);
    }
  }
  return keys.sort((a, b) => a.created - b.created).map((k) => k.listing);
}

/**
 * Stores a new key file wrapping the repository's master key, then reads it back and opens
 * it with `password`. A key that does not work is removed again (restic's
 * `switchToNewKeyAndRemoveIfBroken`): a broken key must never replace a good one.
 */
async function addVerifiedKey(repo: Repository, password: string, who: NewKeyOptions): Promise<Id> {
  const id = await addKey(repo.backend, repo.key, password, await calibrateKdf(), {
    hostname: who.host || undefined,
    username: who.user || undefined,
  });
  try {
    const kf = parseKeyFile(id, await repo.backend.load({ type: 'keys', name: id }));
    const master = await unlockKeyFile(kf, id, password);
    if (master === undefined) throw new ArcaError('corrupt', 'the new password does not open the new key');
    const { encrypt, macK, macR } = repo.key;
    if (!master.encrypt.equals(encrypt) || !master.macK.equals(macK) || !master.macR.equals(macR)) {
      throw new ArcaError('corrupt', 'the new key holds a different master key');
    }
  } catch (err) {
    await repo.backend.remove({ type: 'keys', name: id });
    throw new ArcaError('corrupt', `failed to access repository with new key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return id;
}

/** A new password: `--new-password-file`, `ARCA_NEW_PASSWORD_FILE`, or asked twice on a terminal. */
async function readNewPassword(o: NewKeyOptions, env = process.env): Promise<string> {
  const file = o.newPasswordFile ?? env.ARCA_NEW_PASSWORD_FILE;
  if (file !== undefined) return readPassword({ passwordFile: file }, {});
  if (canPrompt()) return promptNewPassword('enter new password: ');
  throw new ArcaError(
    'no-password',
    'no new password given: use --new-password-file or ARCA_NEW_PASSWORD_FILE',
  );
}
