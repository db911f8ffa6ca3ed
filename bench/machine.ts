import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runQuiet } from './measure.js';

/** The machine and software a benchmark ran on. */
export interface Environment {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  /** Filesystem type and device of the work directory (repositories, copies, restores). */
  workFs: string;
  node: string;
  restic: string;
  arcaVersion: string;
  /** `git rev-parse HEAD` of the project, with `-dirty` when the tree has changes. */
  arcaCommit: string;
  /** Tracked files changed since that commit: what the measured build holds beyond it. */
  arcaChangedFiles: string[];
  /** SHA-256 over the frozen copy of arca's build that was measured (see freezeArca). */
  arcaBuild: string;
  loadAtStart: number[];
}

async function tryRun(cmd: string, args: string[], cwd?: string, trim = true): Promise<string> {
  try {
    const out = await runQuiet(cmd, args, { cwd, timeoutMs: 30_000 });
    return trim ? out.trim() : out;
  } catch (err) {
    return `unknown (${(err as Error).message.split('\n')[0]})`;
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1];
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** Collects machine facts and tool versions. */
export async function describeEnvironment(o: {
  root: string;
  arcaBin: string;
  resticBin: string;
  workDir: string;
}): Promise<Environment> {
  const commit = await tryRun('git', ['rev-parse', 'HEAD'], o.root);
  const dirty = await tryRun('git', ['status', '--porcelain', '--untracked-files=no'], o.root, false);
  const changed = dirty.startsWith('unknown')
    ? []
    : dirty
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(3));
  const df = await tryRun('df', ['--output=fstype,source', o.workDir]);
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    workFs: df.split('\n').slice(1).join(' ').trim().replace(/\s+/g, ' '),
    node: process.version,
    restic: await tryRun(o.resticBin, ['version']),
    arcaVersion: await tryRun(process.execPath, [o.arcaBin, '--version']),
    arcaCommit: commit + (changed.length > 0 ? '-dirty' : ''),
    arcaChangedFiles: changed,
    arcaBuild: '',
    loadAtStart: os.loadavg(),
  };
}

/**
 * Copies arca's build (package.json, binding.gyp, bin/, dist/src/, build/Release/) to `dest`,
 * with node_modules linked, so a rebuild of the shared tree during a long run cannot change
 * or break the arca being measured. `dist` is the compiled tree whose `src/` is copied
 * (default `<root>/dist`; another one, e.g. a private `tsc --outDir`, lands at the same place
 * in the copy). Returns the copy's entry point and a hash of its files.
 */
export async function freezeArca(
  root: string,
  dest: string,
  dist = path.join(root, 'dist'),
): Promise<{ bin: string; hash: string }> {
  await mkdir(dest, { recursive: true });
  for (const [from, rel] of [
    [path.join(root, 'package.json'), 'package.json'],
    [path.join(root, 'binding.gyp'), 'binding.gyp'],
    [path.join(root, 'bin'), 'bin'],
    [path.join(dist, 'src'), path.join('dist', 'src')],
    [path.join(root, 'build', 'Release'), path.join('build', 'Release')],
  ] as const) {
    if (!existsSync(from)) continue;
    await mkdir(path.dirname(path.join(dest, rel)), { recursive: true });
    await cp(from, path.join(dest, rel), { recursive: true, preserveTimestamps: true });
  }
  await symlink(path.join(root, 'node_modules'), path.join(dest, 'node_modules'));
  const h = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !e.name.endsWith('.map'))
        h.update(`${path.relative(dest, p)}\0`).update(await readFile(p));
    }
  };
  for (const rel of ['bin', 'dist', 'build'])
    if (existsSync(path.join(dest, rel))) await walk(path.join(dest, rel));
  return { bin: path.join(dest, 'bin', 'arca.js'), hash: h.digest('hex') };
}
