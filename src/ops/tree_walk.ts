import pLimit from 'p-limit';
import type { Id } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import type { Node } from '../repo/tree.js';

/** Trees loaded at once while walking. */
const treeConcurrency = 8;

/**
 * Visits every tree reachable from `roots` once, a wave of subtrees at a time with a few
 * loads in flight. `enter` decides whether a tree is visited (false skips it and what is
 * below it); `visit` sees each loaded tree's nodes. Errors from loading or from the
 * callbacks stop the walk and are passed on with the root the tree was reached from.
 */
export async function walkTrees(
  repo: Repository,
  roots: readonly Id[],
  enter: (tree: Id) => boolean,
  visit: (tree: Id, nodes: readonly Node[]) => void,
  onError: (err: unknown, tree: Id, root: Id) => never = (err) => {
    throw err;
  },
): Promise<void> {
  const rootOf = new Map<Id, Id>();
  let queue: Id[] = [];
  const reach = (tree: Id, root: Id): void => {
    if (rootOf.has(tree) || !enter(tree)) return;
    rootOf.set(tree, root);
    queue.push(tree);
  };
  for (const r of roots) reach(r, r);
  const limit = pLimit(treeConcurrency);
  while (queue.length > 0) {
    const wave = queue;
    queue = [];
    await Promise.all(
      wave.map((tree) =>
        limit(async () => {
          const root = rootOf.get(tree) as Id;
          let nodes: Node[];
          try {
            nodes = await repo.loadTree(tree);
          } catch (err) {
            onError(err, tree, root);
          }
          visit(tree, nodes);
          for (const node of nodes) {
            if (node.type === 'dir' && node.subtree !== undefined) reach(node.subtree, root);
          }
        }),
      ),
    );
  }
}
