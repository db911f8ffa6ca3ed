import { ArcaError } from '../errors.js';
import type { Id } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import { displayName, type Node } from '../repo/tree.js';

/** One entry met while walking a snapshot: its node and its path inside the snapshot. */
export interface WalkEntry {
  /** Path inside the snapshot, starting with `/`, as raw bytes. */
  path: Buffer;
  node: Node;
}

const slash = Buffer.from('/');

/** Joins a snapshot-internal directory path and a name. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f
    ? Buffer.concat([slash, name])
    : Buffer.concat([dir, slash, name]);
}

/**
 * Walks a tree depth-first in stored (sorted) order. `descend` decides whether to enter a
 * directory (default: always). Directories are yielded before their contents.
 */
export async function* walkTree(
  repo: Repository,
  treeId: Id,
  opts: { base?: Buffer; descend?: (e: WalkEntry) => boolean } = {},
): AsyncGenerator<WalkEntry> {
  const nodes = await repo.loadTree(treeId);
  for (const node of nodes) {
    const e: WalkEntry = { path: joinPath(opts.base ?? slash, node.name), node };
    yield e;
    if (node.type === 'dir' && node.subtree && (opts.descend?.(e) ?? true)) {
      yield* walkTree(repo, node.subtree, { ...opts, base: e.path });
    }
  }
}

/** Splits a user-given snapshot path into its components ("/a/b/" → ["a", "b"]). */
export function splitPath(p: string | Buffer): Buffer[] {
  const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === 0x2f) {
      if (i > start) {
        const part = b.subarray(start, i);
        if (!(part.length === 1 && part[0] === 0x2e)) parts.push(part);
      }
      start = i + 1;
    }
  }
  return parts;
}

/**
 * Finds the node at a path inside a snapshot's tree. Returns undefined for the root
 * itself (which has no node). Throws `not-found` naming the path when it does not exist.
 */
export async function findNode(
  repo: Repository,
  rootTree: Id,
  p: string | Buffer,
): Promise<Node | undefined> {
  const parts = splitPath(p);
  let tree: Id | undefined = rootTree;
  let node: Node | undefined;
  let walked: Buffer = Buffer.alloc(0);
  for (const part of parts) {
    if (tree === undefined) {
      throw new ArcaError('not-found', `${displayName(walked)} is not a directory`);
    }
    const nodes = await repo.loadTree(tree);
    node = nodes.find((n) => n.name.equals(part));
    walked = joinPath(walked.length ? walked : slash, part);
    if (!node) throw new ArcaError('not-found', `path ${displayName(walked)} not found in snapshot`);
    tree = node.type === 'dir' ? node.subtree : undefined;
  }
  return node;
}
