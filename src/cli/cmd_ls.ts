import type { Command } from 'commander';
import { findNode, joinPath, splitPath, type WalkEntry, walkTree } from '../engine/walker.js';
import { ArcaError } from '../errors.js';
import { shortId } from '../repo/id.js';
import type { Node } from '../repo/tree.js';
import {
  addSnapshotFilterOptions,
  type SnapshotFilterOptions,
  snapshotFilter,
  snapshotJson,
} from './cmd_snapshots.js';
import { type GlobalOptions, makeOutput, withRepository } from './context.js';
import { goModeString, localTime } from './format.js';

interface LsOptions extends GlobalOptions, SnapshotFilterOptions {
  long?: boolean;
  recursive?: boolean;
}

/** Registers `arca ls`. */
export function registerLs(program: Command): void {
  addSnapshotFilterOptions(
    program
      .command('ls')
      .description('list files in a snapshot (everything, or one directory)')
      .argument('<snapshot>', 'snapshot ID, unique prefix, or "latest"')
      .argument('[path]', 'directory or file inside the snapshot')
      .option('-l, --long', 'show mode, owner, size and time')
      .option('--recursive', 'with a path: list everything below it, not just its entries'),
  ).action(async (snapshotRef: string, path: string | undefined, _o, cmd: Command) => {
    const o = cmd.optsWithGlobals<LsOptions>();
    const out = makeOutput(o);
    await withRepository(o, 'shared', async (repo) => {
      const snap = await repo.findSnapshot(snapshotRef, snapshotFilter(o));
      if (out.json) out.printJson({ ...snapshotJson(snap), struct_type: 'snapshot' });
      else out.info(`snapshot ${shortId(snap.id)} of [${snap.paths.join(' ')}] at ${snap.time}):`);
      const emit = (e: WalkEntry): void => {
        if (out.json) out.printJson(nodeJson(e));
        else
          process.stdout.write(
            Buffer.concat([o.long ? Buffer.from(longPrefix(e.node)) : Buffer.alloc(0), e.path, nl]),
          );
      };
      if (path === undefined || splitPath(path).length === 0) {
        for await (const e of walkTree(repo, snap.tree)) emit(e);
        return;
      }
      const base = joinPath(
        Buffer.from('/'),
        Buffer.concat(splitPath(path).flatMap((p, i) => (i ? [sep, p] : [p]))),
      );
      const node = await findNode(repo, snap.tree, path);
      if (!node) throw new ArcaError('not-found', `path ${path} not found in snapshot`);
      emit({ path: base, node });
      if (node.type !== 'dir' || !node.subtree) return;
      const descend = o.recursive ? undefined : () => false;
      for await (const e of walkTree(repo, node.subtree, { base, descend })) emit(e);
    });
  });
}

const nl = Buffer.from('\n');
const sep = Buffer.from('/');

function longPrefix(n: Node): string {
  const size = n.type === 'file' ? String(n.size ?? 0) : '0';
  return `${goModeString(n.mode)} ${String(n.uid).padStart(5)} ${String(n.gid).padStart(5)} ${size.padStart(10)} ${localTime(n.mtime)} `;
}

/** A node as `restic ls --json` prints it. */
function nodeJson(e: WalkEntry): Record<string, unknown> {
  const n = e.node;
  const j: Record<string, unknown> = {
    // Go's JSON encoder turns bytes that are not UTF-8 into U+FFFD, and so does toString.
    name: n.name.toString('utf8'),
    type: n.type,
    path: e.path.toString('utf8'),
    uid: n.uid,
    gid: n.gid,
  };
  if (n.type === 'file') j.size = n.size ?? 0;
  j.mode = n.mode;
  j.permissions = goModeString(n.mode);
  j.mtime = n.mtime;
  j.atime = n.atime;
  j.ctime = n.ctime;
  if (n.linktarget) j.linktarget = n.linktarget.toString('utf8');
  j.struct_type = 'node';
  return j;
}
