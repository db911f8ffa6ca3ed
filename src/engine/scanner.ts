import { constants as C, promises as fsp } from 'node:fs';

/** Totals of what a backup will look at, for progress and ETA. */
export interface ScanTotals {
  files: number;
  bytes: number;
}

/**
 * Counts files and bytes below `paths` (honouring the same exclusion as the backup),
 * reporting running totals; runs beside the backup so its progress can show an ETA.
 */
export async function scan(
  paths: string[],
  exclude: ((absPath: Buffer, isDir: boolean) => boolean) | undefined,
  onUpdate: (t: ScanTotals) => void,
): Promise<ScanTotals> {
  const t: ScanTotals = { files: 0, bytes: 0 };
  const visit = async (p: Buffer): Promise<void> => {
    let st: Awaited<ReturnType<typeof fsp.lstat>>;
    try {
      st = await fsp.lstat(p);
    } catch {
      return;
    }
    const isDir = (st.mode & C.S_IFMT) === C.S_IFDIR;
    if (exclude?.(p, isDir)) return;
    if (!isDir) {
      if ((st.mode & C.S_IFMT) === C.S_IFREG) {
        t.files++;
        t.bytes += st.size;
      }
      return;
    }
    let names: Buffer[] = [];
    try {
      names = await fsp.readdir(p, { encoding: 'buffer' });
    } catch {
      return;
    }
    for (const n of names) await visit(Buffer.concat([p, Buffer.from('/'), n]));
    onUpdate({ ...t });
  };
  for (const p of paths) await visit(Buffer.from(p));
  onUpdate({ ...t });
  return t;
}
