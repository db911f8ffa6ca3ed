import type { Id } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';

/**
 * Yields a file's data blobs in order, fetching up to `readAhead` blobs ahead so the
 * consumer rarely waits. Memory stays bounded by `readAhead` blobs, whatever the file size.
 */
export async function* fileContent(
  repo: Repository,
  content: readonly Id[],
  readAhead = 4,
): AsyncGenerator<Buffer> {
  const pending: Promise<Buffer>[] = [];
  let next = 0;
  const fill = (): void => {
    while (pending.length < readAhead && next < content.length) {
      const p = repo.loadBlob(content[next++]!, 'data');
      // Errors surface when the consumer reaches this blob; avoid an unhandled rejection meanwhile.
      p.catch(() => {});
      pending.push(p);
    }
  };
  fill();
  while (pending.length > 0) {
    const buf = await pending.shift()!;
    fill();
    yield buf;
  }
}
