/**
 * What `arca runbook` does: reads the policy and the journal (read-only; a missing journal
 * only means there is no history yet), and prints one dataset's procedure or writes every
 * procedure with an index into a directory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ArcaError } from '../errors.js';
import { Journal } from '../journal/journal.js';
import { journalPath } from '../journal/path.js';
import { readPolicy, resolvePolicyFile } from '../policy/load.js';
import { gatherRunbook, type JournalSource } from '../runbook/gather.js';
import { renderDataset, renderIndex, runbookFileName } from '../runbook/render.js';
import { version } from '../version.js';
import type { GlobalOptions, Output } from './context.js';

/** Opens the journal read-only; a missing or unreadable one is reported in the runbook, not fatal. */
function openJournal(file: string, out: Output): { journal: Journal | undefined; source: JournalSource } {
  try {
    return { journal: Journal.open(file, { readonly: true }), source: { file, state: 'read' } };
  } catch (err) {
    if (err instanceof ArcaError && err.code === 'not-found')
      return { journal: undefined, source: { file, state: 'missing' } };
    const problem = err instanceof Error ? err.message : String(err);
    out.warn(`arca: warning: the runbook leaves out backup and drill history: ${problem}`);
    return { journal: undefined, source: { file, state: 'unreadable', problem } };
  }
}

/** `arca runbook [--dataset D] [--out DIR]`. */
export async function runbookCommand(
  o: GlobalOptions & { dataset?: string; out?: string },
  out: Output,
): Promise<void> {
  const loaded = readPolicy(resolvePolicyFile(o.policy));
  const { journal, source } = openJournal(journalPath(o.journal), out);
  let data: ReturnType<typeof gatherRunbook>;
  try {
    data = gatherRunbook({
      loaded,
      journal,
      journalSource: source,
      dataset: o.dataset,
      env: process.env,
      arcaVersion: version,
    });
  } finally {
    journal?.close();
  }
  if (o.out === undefined) {
    out.print(
      data.datasets
        .map((d) => renderDataset(data, d))
        .join('\n---\n\n')
        .trimEnd(),
    );
    return;
  }
  const dir = path.resolve(o.out);
  await mkdir(dir, { recursive: true });
  for (const d of data.datasets) {
    const file = path.join(dir, runbookFileName(d.name));
    await writeFile(file, renderDataset(data, d));
    out.info(`wrote ${file}`);
  }
  const index = path.join(dir, 'index.md');
  await writeFile(index, renderIndex(data));
  out.info(`wrote ${index}`);
}
