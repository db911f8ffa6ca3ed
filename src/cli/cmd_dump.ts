import { once } from 'node:events';
import type { Command } from 'commander';
import { fileContent } from '../engine/content.js';
import { findNode } from '../engine/walker.js';
import { ArcaError } from '../errors.js';
import { addSnapshotFilterOptions, type SnapshotFilterOptions, snapshotFilter } from './cmd_snapshots.js';
import { type GlobalOptions, withRepository } from './context.js';

/** Registers `arca dump`: one file's content from a snapshot to stdout, streamed. */
export function registerDump(program: Command): void {
  addSnapshotFilterOptions(
    program
      .command('dump')
      .description("write one file's content from a snapshot to stdout")
      .argument('<snapshot>', 'snapshot ID, unique prefix, or "latest"')
      .argument('<file>', 'path of the file inside the snapshot'),
  ).action(async (snapshotRef: string, file: string, _o, cmd: Command) => {
    const o = cmd.optsWithGlobals<GlobalOptions & SnapshotFilterOptions>();
    await withRepository(o, 'shared', async (repo) => {
      const snap = await repo.findSnapshot(snapshotRef, snapshotFilter(o));
      const node = await findNode(repo, snap.tree, file);
      if (!node) throw new ArcaError('usage', 'dump needs a file, not the snapshot root');
      if (node.type !== 'file') throw new ArcaError('usage', `${file} is a ${node.type}, not a regular file`);
      const stdout = process.stdout;
      for await (const buf of fileContent(repo, node.content ?? [])) {
        if (!stdout.write(buf)) await once(stdout, 'drain');
      }
    });
  });
}
