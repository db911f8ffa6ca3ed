import type { Command } from 'commander';
import { ArcaError } from '../errors.js';
import { resolvePrefix } from '../repo/id.js';
import { type GlobalOptions, makeOutput, withRepository } from './context.js';

const kinds = ['config', 'index', 'snapshot', 'key', 'masterkey', 'lock', 'pack', 'blob', 'tree'] as const;

/** Registers `arca cat`: prints the decrypted JSON of a repository object (for debugging and audits). */
export function registerCat(program: Command): void {
  program
    .command('cat')
    .description(`print a repository object decrypted: ${kinds.join(', ')}`)
    .argument('<kind>', 'what to print')
    .argument('[id]', 'its ID or unique prefix')
    .action(async (kind: string, idArg: string | undefined, _o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(o);
      if (!(kinds as readonly string[]).includes(kind)) {
        throw new ArcaError(
          'usage',
          `unknown object kind ${JSON.stringify(kind)} (one of: ${kinds.join(', ')})`,
        );
      }
      if (kind !== 'config' && kind !== 'masterkey' && idArg === undefined) {
        throw new ArcaError('usage', `cat ${kind} needs an ID`);
      }
      const id = idArg ?? '';
      await withRepository(o, 'shared', async (repo) => {
        const write = (b: Buffer): void => {
          process.stdout.write(b);
        };
        switch (kind) {
          case 'config':
            out.print(JSON.stringify(repo.config, null, 2));
            return;
          case 'masterkey':
            // The master key is a secret: restic prints it, arca refuses to put it on a terminal by accident.
            throw new ArcaError('usage', 'arca does not print the master key');
          case 'index':
            write(await repo.loadUnpacked('index', resolvePrefix(id, await repo.listIds('index'), 'index')));
            return;
          case 'snapshot':
            write(
              await repo.loadUnpacked(
                'snapshots',
                resolvePrefix(id, await repo.listIds('snapshots'), 'snapshot'),
              ),
            );
            out.print('');
            return;
          case 'lock':
            write(await repo.loadUnpacked('locks', resolvePrefix(id, await repo.listIds('locks'), 'lock')));
            out.print('');
            return;
          case 'key': {
            const name = resolvePrefix(id, await repo.listIds('keys'), 'key');
            write(await repo.backend.load({ type: 'keys', name }));
            out.print('');
            return;
          }
          case 'pack': {
            const name = resolvePrefix(id, await repo.listIds('data'), 'pack');
            write(await repo.backend.load({ type: 'data', name }));
            return;
          }
          default: {
            await repo.loadIndex();
            const full = resolvePrefix(id, repo.index.blobIds(), 'blob');
            const loc = repo.index.lookup(full)!;
            write(await repo.loadBlob(full, kind === 'tree' ? 'tree' : loc.type));
          }
        }
      });
    });
}
