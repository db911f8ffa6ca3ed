import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of a V8 `.cpuprofile` this summary reads. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time of one function or file. */
export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

/** Where a profile spent its samples, by function and by source file. */
export interface ProfileSummary {
  /** Sampled time the thread was busy (all samples but waits: see `waits`). */
  totalMs: number;
  /** Sampled time the thread was idle or waiting for work (I/O, other threads, the next task). */
  idleMs: number;
  functions: SelfTime[];
  files: SelfTime[];
}

/**
 * Samples that are not work: V8's `(idle)`, and piscina's worker loop blocked in
 * `Atomics.wait` for the next task (sampled as JS, but the thread sleeps on a futex).
 */
const waits = new Set(['(idle)', 'atomicsWaitLoop']);

/** Shortens a script URL to `package/…` or the path below `dist/`. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const p = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) return p.slice(nm + 'node_modules/'.length);
  const dist = p.lastIndexOf('/dist/');
  if (dist >= 0) return p.slice(dist + '/dist/'.length);
  return p.startsWith('node:') ? p : path.basename(p);
}

/** Sums each node's sampled self time, grouped by function (name, file, line) and by file. */
export function summariseProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // timeDeltas[i + 1] is the time between sample i and the next one: sample i's weight.
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    self.set(id, (self.get(id) ?? 0) + Math.max(0, deltas[i + 1] ?? 0));
  }
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    if (waits.has(cf.functionName)) {
      idle += us;
      continue;
    }
    total += us;
    const url = shortUrl(cf.url);
    const name = `${cf.functionName || '(anonymous)'}${url ? ` ${url}:${cf.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const f = url === '' ? cf.functionName || '(native)' : url;
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, functions: rank(fn), files: rank(file) };
}

/** Reads a `.cpuprofile` file and summarises it. */
export function summariseProfileFile(file: string, top = 15): ProfileSummary {
  return summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
}

/** The summary as markdown: top functions and top files by self time. */
export function profileMarkdown(title: string, s: ProfileSummary): string {
  const row = (t: SelfTime) =>
    `| ${t.name.replaceAll('|', '\\|')} | ${t.ms.toFixed(0)} | ${(t.share * 100).toFixed(1)}% |`;
  return [
    `#### ${title}: ${(s.totalMs / 1000).toFixed(2)} s busy, ${(s.idleMs / 1000).toFixed(2)} s idle or waiting for work`,
    '',
    '| function (self time) | ms | share |',
    '|---|---:|---:|',
    ...s.functions.map(row),
    '',
    '| file (self time) | ms | share |',
    '|---|---:|---:|',
    ...s.files.map(row),
    '',
  ].join('\n');
}

function main(argv: string[]): void {
  let top = 15;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0) {
    process.stderr.write('usage: node dist/bench/profile_summary.js [--top N] FILE.cpuprofile...\n');
    process.exitCode = 2;
    return;
  }
  for (const f of files)
    process.stdout.write(`${profileMarkdown(path.basename(f), summariseProfileFile(f, top))}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main(process.argv.slice(2));
