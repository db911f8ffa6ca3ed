import { existsSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { runQuiet } from './measure.js';
import { ensureQuickDataset } from './quick_dataset.js';

/** The data sets make-dataset.sh builds, plus the harness's own tiny one. */
export const sharedSets = ['src', 'mixed', 'small'] as const;
export const knownSets = [...sharedSets, 'quick'] as const;
export type SetName = (typeof knownSets)[number];

/** The Debian package make-dataset.sh extracts `src` (and so `small`) from. */
export const kernelTar = '/usr/src/linux-source-6.1.tar.xz';

/** A data set ready on disk. */
export interface Dataset {
  name: SetName;
  dir: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** Where the shared benchmark scripts live: `../shared/bench/` next to the project root. */
export function sharedBenchDir(root: string): string {
  return path.resolve(root, '..', 'shared', 'bench');
}

/**
 * Makes sure every named data set exists under `dataDir` (shared sets) or
 * `quickDir` (`quick`), building what is missing. make-dataset.sh skips what is already
 * complete, so a cached data set is never rebuilt.
 */
export async function ensureDatasets(
  names: SetName[],
  o: { root: string; dataDir: string; quickDir: string },
): Promise<Dataset[]> {
  const missing = names.filter((n) => n !== 'quick' && !existsSync(path.join(o.dataDir, n, '.complete')));
  if (missing.length > 0) {
    const script = path.join(sharedBenchDir(o.root), 'make-dataset.sh');
    if (!existsSync(script))
      throw new Error(`data sets ${missing.join(', ')} missing and ${script} not found`);
    if (!existsSync(kernelTar)) {
      throw new Error(
        `data sets ${missing.join(', ')} need ${kernelTar}: run \`apt-get install -y linux-source-6.1\` ` +
          '(about 140 MB), or point --data / ARCA_BENCH_DATA at prebuilt data sets',
      );
    }
    process.stderr.write(`building data sets under ${o.dataDir} (once; cached afterwards)\n`);
    // make-dataset.sh needs an absolute OUT: it cds into OUT/src before copying into OUT/small.
    await runQuiet('bash', [script, path.resolve(o.dataDir)], { timeoutMs: 3600_000, inheritStderr: true });
  }
  const out: Dataset[] = [];
  for (const name of names) {
    const dir = name === 'quick' ? o.quickDir : path.join(o.dataDir, name);
    if (name === 'quick') await ensureQuickDataset(dir);
    out.push({ name, dir, ...(await treeStats(dir)) });
  }
  return out;
}

/** Counts regular files, directories (below the root), symlinks and file bytes of a tree. */
export async function treeStats(root: string): Promise<Omit<Dataset, 'name' | 'dir'>> {
  const s = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        s.dirs++;
        await walk(p);
      } else if (e.isSymbolicLink()) s.symlinks++;
      else if (e.isFile()) {
        s.files++;
        s.bytes += (await lstat(p)).size;
      }
    }
  };
  await walk(root);
  return s;
}

/** Total apparent size of a directory tree in bytes: `du -sb`. */
export async function dirBytes(root: string): Promise<number> {
  const out = await runQuiet('du', ['-sb', root], { timeoutMs: 120_000 });
  return Number(out.split('\t')[0]);
}
