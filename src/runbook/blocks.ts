/**
 * Finding the commands in a rendered runbook. Every command block is a fenced ```sh block
 * whose first line is a marker comment (`# restic: restore latest (repository offsite)`),
 * so that a test, or a script, can pick a block and run exactly what a person would paste.
 */

/** One marked shell block: its marker (without `# `) and its lines, the marker included. */
export interface ShellBlock {
  marker: string;
  lines: string[];
}

/** The marker comment that starts a block: `TOOL: ACTION (repository REPO)`, or `TOOL: ACTION`. */
export function blockMarker(tool: string, action: string, repository?: string): string {
  return `${tool}: ${action}${repository === undefined ? '' : ` (repository ${repository})`}`;
}

/** Every fenced ```sh block of `markdown` that starts with a marker comment, in order. */
export function shellBlocks(markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  const fence = /^```sh\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(fence)) {
    const lines = (m[1] ?? '').replace(/\n$/, '').split('\n');
    const first = lines[0] ?? '';
    if (first.startsWith('# ')) blocks.push({ marker: first.slice(2), lines });
  }
  return blocks;
}

/** The block with marker `marker`; throws when there is none, since a caller means to run it. */
export function findBlock(markdown: string, marker: string): ShellBlock {
  const block = shellBlocks(markdown).find((b) => b.marker === marker);
  if (block === undefined) throw new Error(`the runbook has no block marked "# ${marker}"`);
  return block;
}
