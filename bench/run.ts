import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Dataset,
  dirBytes,
  ensureDatasets,
  knownSets,
  type SetName,
  sharedBenchDir,
} from './datasets.js';
import { describeEnvironment, type Environment, freezeArca } from './machine.js';
import { buildManifest, compareManifests } from './manifest.js';
import { killRunning, measure, requireGnuTime, runQuiet } from './measure.js';
import { profileMarkdown, summariseProfileFile } from './profile_summary.js';
import {
  type RemoteKind,
  type RunningRemote,
  remoteKinds,
  remoteRepoBytes,
  removeRemoteRepo,
  startRemote,
} from './remote.js';
import {
  fmtBytes,
  fmtRss,
  fmtSec,
  type RunRecord,
  type StepRecord,
  setMarkdown,
  summarise,
} from './report.js';
import {
  invocation,
  type RunPaths,
  type StepName,
  stepNames,
  stepTitles,
  type ToolName,
  type ToolSetup,
  toolNames,
} from './tools.js';

const usage = `usage: npm run bench -- [options]

Runs arca and restic on the same data sets, interleaved, and reports medians and ratios.

  --sets LIST      data sets: small, mixed, src, quick (default small,mixed)
  --runs N         runs per tool and data set; the report shows medians (default 3; 1 with --quick)
  --quick          the tiny generated data set only (~50 MB), to check the harness in about a minute
  --data DIR       prebuilt data sets (default $ARCA_BENCH_DATA or <project>/bench-data/sets);
                   missing ones are built there with ../shared/bench/make-dataset.sh
  --work DIR       where repositories, data copies and restores go (default the OS temp dir)
  --keep           keep the work directory (repositories, last copy) instead of removing it
  --timeout SEC    limit for each child process (default 1800)
  --tools LIST     arca,restic (default both)
  --seed N         mutate.sh seed for the ~1% change (default 1)
  --restic PATH    restic binary (default /usr/bin/restic)
  --remote LIST    also run every data set with the repositories on a server on 127.0.0.1:
                   sftp (OpenSSH sshd), s3 (s3rver), rest (rclone serve restic); default none
  --arca-dist DIR  the compiled tree whose src/ is measured (default the one this bench runs
                   from, else <project>/dist), e.g. a private build: npx tsc -p . --outDir DIR
  --cpu-prof       run arca under node --cpu-prof and summarise where each step spends its time
                   (profiling slows arca: do not read those timings as a comparison)
  --help

The src and small data sets need Debian's kernel source: apt-get install -y linux-source-6.1
`;

interface Options {
  sets: SetName[];
  runs: number;
  dataDir: string;
  workBase: string;
  keep: boolean;
  timeoutMs: number;
  tools: ToolName[];
  seed: number;
  resticBin: string;
  cpuProf: boolean;
  remotes: RemoteKind[];
  arcaDist: string;
}

/** The directory this script runs from: `<dist>/bench`. */
const benchDir = path.dirname(fileURLToPath(import.meta.url));

/**
 * The project root: the nearest directory with arca's package.json above this file or,
 * for a bench compiled outside the project (`tsc --outDir /elsewhere`), above the current
 * directory.
 */
function findRoot(): string {
  for (const start of [benchDir, process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const pkg = path.join(dir, 'package.json');
      if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'arca')
        return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the arca project root above the bench script or the current directory');
}

/** The compiled tree to measure by default: the one the bench was compiled into, if it holds arca. */
function defaultArcaDist(root: string): string {
  const own = path.dirname(benchDir);
  return existsSync(path.join(own, 'src', 'cli', 'main.js')) ? own : path.join(root, 'dist');
}

function list<T extends string>(value: string, allowed: readonly T[], what: string): T[] {
  const items = value.split(',').filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T))
      throw new Error(`unknown ${what} ${JSON.stringify(i)} (${allowed.join(', ')})`);
  }
  return items as T[];
}

function positive(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer`);
  return n;
}

function parseOptions(argv: string[], root: string): Options | undefined {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      sets: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean' },
      data: { type: 'string' },
      work: { type: 'string' },
      keep: { type: 'boolean' },
      timeout: { type: 'string' },
      tools: { type: 'string' },
      seed: { type: 'string' },
      restic: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      remote: { type: 'string' },
      'arca-dist': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (v.help) {
    process.stdout.write(usage);
    return undefined;
  }
  const sets = v.quick ? ['quick' as const] : list(v.sets ?? 'small,mixed', knownSets, 'data set');
  if (v.quick && v.sets) throw new Error('--quick and --sets cannot be used together');
  return {
    sets,
    runs: v.runs ? positive(v.runs, '--runs') : v.quick ? 1 : 3,
    dataDir: path.resolve(v.data ?? process.env.ARCA_BENCH_DATA ?? path.join(root, 'bench-data', 'sets')),
    workBase: path.resolve(v.work ?? os.tmpdir()),
    keep: v.keep === true,
    timeoutMs: (v.timeout ? positive(v.timeout, '--timeout') : 1800) * 1000,
    tools: v.tools ? list(v.tools, toolNames, 'tool') : [...toolNames],
    seed: v.seed ? positive(v.seed, '--seed') : 1,
    resticBin: v.restic ?? '/usr/bin/restic',
    cpuProf: v['cpu-prof'] === true,
    remotes: [...new Set(list(v.remote ?? '', remoteKinds, 'remote'))],
    arcaDist: path.resolve(v['arca-dist'] ?? defaultArcaDist(root)),
  };
}

/** What every run shares. */
interface Context {
  root: string;
  opts: Options;
  workDir: string;
  passwordFile: string;
  setup: ToolSetup;
  mutateScript: string;
  profileRoot?: string;
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Flushes dirty pages so one step's writeback does not land in the next step's time. */
async function sync(): Promise<void> {
  await runQuiet('sync', [], { timeoutMs: 300_000 }).catch(() => undefined);
}

function failReason(m: Awaited<ReturnType<typeof measure>>, timeoutMs: number): string {
  if (m.timedOut) return `killed after ${timeoutMs / 1000} s`;
  // The line that names the error, not the stack below it.
  const lines = m.outputTail
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('at ') && !l.startsWith('Node.js v'));
  const tail = lines.find((l) => /error|fatal/i.test(l)) ?? lines.slice(-2).join(' / ');
  return `exit ${m.exitCode ?? m.signal}${tail ? `: ${tail}` : ''}`;
}

/**
 * One tool's run over one data set: copy the data set to the fixed source path, init,
 * back up three times (first, unchanged, after mutate.sh), restore into an empty target
 * and compare it with the source, then check --read-data.
 */
async function runOne(
  ds: Dataset,
  tool: ToolName,
  run: number,
  ctx: Context,
  remote?: RunningRemote,
): Promise<RunRecord> {
  const kind = remote?.server.kind;
  const runDir = path.join(ctx.workDir, ds.name, kind ? `${kind}-${tool}-${run}` : `${tool}-${run}`);
  const p: RunPaths = {
    repo: path.join(runDir, 'repo'),
    cacheDir: path.join(runDir, 'cache'),
    tmpDir: path.join(runDir, 'tmp'),
    passwordFile: ctx.passwordFile,
    // The same absolute path for every tool and run, so snapshots are comparable and the
    // no-change and change backups find the first backup as their parent.
    source: path.join(ctx.workDir, 'data', ds.name),
    target: path.join(ctx.workDir, 'restore'),
  };
  // A fresh repository per tool and run; each server holds one data set's runs at a time.
  if (remote) p.remote = { server: remote.server, name: `${ds.name}-${tool}-${run}` };
  const rec: RunRecord = {
    set: ds.name,
    ...(kind ? { remote: kind } : {}),
    tool,
    run,
    valid: false,
    steps: [],
  };
  const label = `${ds.name}${kind ? ` via ${kind}` : ''} ${tool} run ${run}`;
  const setup: ToolSetup = ctx.profileRoot
    ? {
        ...ctx.setup,
        cpuProfDir: path.join(ctx.profileRoot, `${ds.name}-${kind ? `${kind}-` : ''}${tool}-${run}`),
      }
    : ctx.setup;
  const skip = (steps: readonly StepName[], reason: string): void => {
    for (const step of steps)
      rec.steps.push({ step, status: 'skipped', reason, loadBefore: os.loadavg()[0]! });
  };
  const step = async (name: StepName): Promise<StepRecord> => {
    await sync();
    const inv = invocation(tool, name, p, setup);
    const loadBefore = os.loadavg()[0]!;
    const m = await measure(inv.cmd, inv.args, {
      env: inv.env,
      cwd: ctx.workDir,
      timeoutMs: ctx.opts.timeoutMs,
      timeFile: path.join(runDir, 'time.out'),
    });
    const ok = !m.timedOut && m.exitCode === 0;
    const s: StepRecord = {
      step: name,
      status: ok ? 'ok' : m.timedOut ? 'timeout' : 'failed',
      wall: m.wall,
      user: m.user,
      sys: m.sys,
      maxRssKiB: m.maxRssKiB,
      exitCode: m.exitCode,
      loadBefore,
    };
    if (!ok) {
      s.reason = failReason(m, ctx.opts.timeoutMs);
      s.outputTail = m.outputTail;
    }
    if (name.startsWith('backup')) {
      const bytes = p.remote ? remoteRepoBytes(p.remote.server, p.remote.name) : dirBytes(p.repo);
      s.repoBytes = await bytes.catch(() => Number.NaN);
    }
    rec.steps.push(s);
    log(
      `${label}: ${stepTitles[name]} ${s.status} ${fmtSec(m.wall)} wall, ${fmtSec(m.user + m.sys)} CPU, ` +
        `${fmtRss(m.maxRssKiB)} RSS${s.repoBytes !== undefined ? `, repo ${fmtBytes(s.repoBytes)}` : ''}` +
        (s.reason ? ` (${s.reason})` : ''),
    );
    return s;
  };

  try {
    await rm(p.source, { recursive: true, force: true });
    await rm(p.target, { recursive: true, force: true });
    await mkdir(p.tmpDir, { recursive: true });
    await mkdir(path.dirname(p.source), { recursive: true });
    await runQuiet('cp', ['-a', '--reflink=auto', ds.dir, p.source], { timeoutMs: ctx.opts.timeoutMs });
  } catch (err) {
    rec.error = `preparing the data copy failed: ${(err as Error).message}`;
    skip(stepNames, 'data copy failed');
    return finish(rec, runDir, ctx, p);
  }

  if ((await step('init')).status !== 'ok') {
    skip(stepNames.slice(1), 'init failed');
    return finish(rec, runDir, ctx, p);
  }
  if ((await step('backup-first')).status !== 'ok') {
    // A later backup would be a first backup again: its time would mislead.
    skip(['backup-nochange', 'backup-change', 'restore', 'check'], 'first backup failed');
    return finish(rec, runDir, ctx, p);
  }
  await step('backup-nochange');
  try {
    await runQuiet('bash', [ctx.mutateScript, p.source, String(ctx.opts.seed)], {
      timeoutMs: ctx.opts.timeoutMs,
    });
  } catch (err) {
    rec.error = `mutate.sh failed: ${(err as Error).message}`;
    skip(['backup-change', 'restore'], 'mutate.sh failed');
    await step('check');
    return finish(rec, runDir, ctx, p);
  }
  await step('backup-change');

  const source = await buildManifest(p.source);
  await mkdir(p.target, { recursive: true });
  const restore = await step('restore');
  if (restore.status === 'ok') {
    // Both tools restore a snapshot of an absolute path below the target, as restic does.
    const restoredRoot = path.join(p.target, p.source);
    try {
      const restored = await buildManifest(restoredRoot);
      const diff = compareManifests(source, restored);
      rec.validation = { ...diff, sourceHash: source.contentHash, restoredHash: restored.contentHash };
      rec.valid = diff.contentEqual && restored.contentHash === source.contentHash;
      if (!rec.valid) log(`${label}: RESTORED TREE DIFFERS from the source: ${diff.examples.join(', ')}`);
    } catch (err) {
      rec.error = `cannot read the restored tree ${restoredRoot}: ${(err as Error).message}`;
    }
  } else {
    rec.error = 'restore failed';
  }
  await rm(p.target, { recursive: true, force: true });
  await step('check');
  return finish(rec, runDir, ctx, p);
}

async function finish(rec: RunRecord, runDir: string, ctx: Context, p: RunPaths): Promise<RunRecord> {
  if (ctx.opts.keep) return rec;
  await rm(runDir, { recursive: true, force: true });
  if (p.remote) {
    const { server, name } = p.remote;
    await removeRemoteRepo(server, name).catch((err: unknown) =>
      log(`cannot remove repository ${name} from the ${server.kind} server: ${(err as Error).message}`),
    );
  }
  return rec;
}

/** Summaries of the arca profiles written under `profileRoot`, one per step and thread. */
async function profileSection(profileRoot: string): Promise<string> {
  const out: string[] = [
    '## Where arca spends its time (node --cpu-prof, self time)',
    '',
    `Profiles: ${profileRoot}. One table per step and thread (main thread and each worker).`,
    '',
  ];
  for (const runDir of (await readdir(profileRoot)).sort()) {
    for (const step of stepNames) {
      const dir = path.join(profileRoot, runDir, step);
      if (!existsSync(dir)) continue;
      for (const f of (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile')).sort()) {
        const s = summariseProfileFile(path.join(dir, f), 12);
        if (s.totalMs < 50) continue;
        out.push(profileMarkdown(`${runDir} ${stepTitles[step]} — ${f}`, s));
      }
    }
  }
  return out.join('\n');
}

function header(o: {
  stamp: string;
  argv: string[];
  env: Environment;
  opts: Options;
  workDir: string;
  datasets: Dataset[];
  source: string;
  remotes: RunningRemote[];
}): string {
  const e = o.env;
  const lines = [
    `# arca vs restic benchmark, ${o.stamp}`,
    '',
    `- command: \`npm run bench --${o.argv.length ? ` ${o.argv.join(' ')}` : ''}\``,
    `- machine: ${e.nproc} × ${e.cpuModel}, ${e.memoryGiB} GiB, ${e.kernel}; load average at start ${e.loadAtStart.map((x) => x.toFixed(2)).join(' ')}`,
    `- work directory (data copies, repositories, restore targets, restic cache): ${o.workDir} on ${e.workFs}`,
    `- versions: node ${e.node}; ${e.restic}; arca ${e.arcaVersion} at ${e.arcaCommit}` +
      (e.arcaChangedFiles.length ? ` (uncommitted changes in ${e.arcaChangedFiles.join(', ')})` : '') +
      `; arca measured as built in ${o.opts.arcaDist} at the start, run from a copy in the work directory (sha256 ${e.arcaBuild.slice(0, 12)})`,
    `- ${o.opts.runs} run(s) per tool and data set, interleaved (${o.opts.tools.join(', ')} per round); child timeout ${o.opts.timeoutMs / 1000} s`,
    '- same conditions: one password file for both (ARCA_PASSWORD_FILE / RESTIC_PASSWORD_FILE); `-q`; TMPDIR in the work directory; ' +
      'restic gets a fresh `--cache-dir` per run inside the work directory, kept across that run’s steps (restic’s normal use; arca keeps no cache); ' +
      '`sync` before every step',
    `- each run copies the data set (\`cp -a --reflink=auto\`) to the same path ${o.source}, backs it up twice, ` +
      `applies \`mutate.sh DIR ${o.opts.seed}\` in place, backs it up again, restores \`latest\` into an empty directory ` +
      '(the restored tree must match the source: type, size, content, link target of every entry, else the run is invalid) and runs `check --read-data`',
    '- the machine is shared with other engineers’ test runs (2 cores): figures are noisy, ' +
      'compare only figures taken side by side in one run',
  ];
  if (o.remotes.length > 0) {
    lines.push(
      '- remote repositories: every data set runs again (after the local runs) with both tools’ repositories ' +
        'on one server per kind, started for the whole bench, its files in the work directory; ' +
        'there arca also gets a fresh `--cache-dir` per run, like restic; repository size = files on the server ' +
        '(S3: the objects’ sizes)',
    );
    for (const r of o.remotes) lines.push(`  - ${r.server.kind}: ${r.description}`);
  }
  if (o.opts.cpuProf)
    lines.push('- **arca ran under `node --cpu-prof`: its timings include profiler overhead**');
  lines.push('', '| data set | bytes | files | dirs | symlinks | path |', '|---|---:|---:|---:|---:|---|');
  for (const d of o.datasets) {
    lines.push(`| ${d.name} | ${fmtBytes(d.bytes)} | ${d.files} | ${d.dirs} | ${d.symlinks} | ${d.dir} |`);
  }
  lines.push('');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const root = findRoot();
  const opts = parseOptions(argv, root);
  if (!opts) return 0;
  requireGnuTime();
  if (!existsSync(path.join(opts.arcaDist, 'src', 'cli', 'main.js')))
    throw new Error(`arca is not built in ${opts.arcaDist}: run \`npx tsc -p .\` first`);
  if (opts.tools.includes('restic') && !existsSync(opts.resticBin))
    throw new Error(`restic not found at ${opts.resticBin} (apt-get install -y restic, or --restic PATH)`);
  const mutateScript = path.join(sharedBenchDir(root), 'mutate.sh');
  if (!existsSync(mutateScript)) throw new Error(`${mutateScript} not found`);

  const datasets = await ensureDatasets(opts.sets, {
    root,
    dataDir: opts.dataDir,
    quickDir: path.join(root, 'bench-data', 'quick'),
  });
  await mkdir(opts.workBase, { recursive: true });
  const workDir = await mkdtemp(path.join(opts.workBase, 'arca-bench-'));
  const cleanup = (): void => {
    if (!opts.keep) rmSync(workDir, { recursive: true, force: true });
  };
  // The servers for --remote, started once for the whole run; stopped at the end, on failure
  // and on an interrupt (they are children of this process).
  const remotes: RunningRemote[] = [];
  let starting: Promise<unknown> = Promise.resolve();
  let interrupted = false;
  const stopRemotes = async (): Promise<void> => {
    await Promise.allSettled(remotes.splice(0).map((r) => r.stop()));
  };
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    killRunning();
    const bound = new Promise((resolve) => setTimeout(resolve, 15_000).unref());
    void Promise.race([starting.catch(() => undefined).then(stopRemotes), bound]).finally(() => {
      cleanup();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const fileStamp = stamp.replace(/:/g, '-');
  const resultsDir = path.join(root, 'bench-results');
  const runs: RunRecord[] = [];
  try {
    await mkdir(resultsDir, { recursive: true });
    const passwordFile = path.join(workDir, 'password');
    await writeFile(passwordFile, 'arca-bench-password\n', { mode: 0o600 });
    // Other work in the same tree may rebuild dist/ during a long run: measure a frozen copy.
    const frozen = await freezeArca(root, path.join(workDir, 'arca'), opts.arcaDist);
    const env = await describeEnvironment({ root, arcaBin: frozen.bin, resticBin: opts.resticBin, workDir });
    env.arcaBuild = frozen.hash;
    if (env.arcaVersion.startsWith('unknown')) {
      throw new Error(
        `the arca build in ${opts.arcaDist} does not start (${env.arcaVersion}): rebuild it with \`npx tsc -p .\``,
      );
    }
    starting = (async () => {
      for (const kind of opts.remotes) {
        if (interrupted) return;
        log(`starting the ${kind} server`);
        try {
          remotes.push(await startRemote(kind, path.join(workDir, 'servers')));
        } catch (err) {
          throw new Error(`cannot start the ${kind} server: ${(err as Error).message}`);
        }
      }
    })();
    await starting;
    const servers = remotes.map((r) => ({ kind: r.server.kind, description: r.description }));
    const ctx: Context = {
      root,
      opts,
      workDir,
      passwordFile,
      setup: { arcaBin: frozen.bin, resticBin: opts.resticBin },
      mutateScript,
      profileRoot: opts.cpuProf ? path.join(resultsDir, `cpuprof-${fileStamp}`) : undefined,
    };

    const md: string[] = [
      header({
        stamp,
        argv,
        env,
        opts,
        workDir,
        datasets,
        source: path.join(workDir, 'data', '<set>'),
        remotes,
      }),
    ];
    process.stdout.write(`${md[0]}\n`);
    // Local repositories first (undefined), then each server.
    const wheres = [undefined, ...remotes];
    for (const ds of datasets) {
      log(`data set ${ds.name}: ${fmtBytes(ds.bytes)}, ${ds.files} files`);
      for (const remote of wheres) {
        const kind = remote?.server.kind;
        const setRuns: RunRecord[] = [];
        for (let run = 1; run <= opts.runs; run++) {
          for (const tool of opts.tools) {
            try {
              setRuns.push(await runOne(ds, tool, run, ctx, remote));
            } catch (err) {
              // A harness failure in one run must not lose the others' measurements.
              log(
                `${ds.name}${kind ? ` via ${kind}` : ''} ${tool} run ${run}: harness error ${(err as Error).stack ?? String(err)}`,
              );
              const rec: RunRecord = { set: ds.name, tool, run, valid: false, error: String(err), steps: [] };
              setRuns.push(kind ? { ...rec, remote: kind } : rec);
            }
          }
        }
        runs.push(...setRuns);
        const section = setMarkdown({ dataset: ds, remote: kind, runs: setRuns, runsPerTool: opts.runs });
        md.push(section);
        process.stdout.write(`${section}\n`);
      }
      await rm(path.join(workDir, 'data', ds.name), { recursive: true, force: true });
    }
    const loadAtEnd = os.loadavg();
    md.push(`Load average at the end: ${loadAtEnd.map((x) => x.toFixed(2)).join(' ')}\n`);
    if (ctx.profileRoot && existsSync(ctx.profileRoot)) {
      const prof = await profileSection(ctx.profileRoot);
      md.push(prof);
      process.stdout.write(`${prof}\n`);
    }
    const summary = datasets.flatMap((d) =>
      wheres.flatMap((where) =>
        opts.tools.flatMap((tool) =>
          stepNames.map((step) => ({
            set: d.name,
            ...(where ? { remote: where.server.kind } : {}),
            tool,
            step,
            ...summarise(
              runs.filter((r) => r.set === d.name && r.remote === where?.server.kind && r.tool === tool),
              step,
            ),
          })),
        ),
      ),
    );
    const base = path.join(resultsDir, fileStamp);
    await writeFile(`${base}.md`, md.join('\n'));
    await writeFile(
      `${base}.json`,
      `${JSON.stringify({ timestamp: stamp, argv, options: opts, environment: env, servers, loadAtEnd, workDir, datasets, runs, summary }, null, 2)}\n`,
    );
    log(`results: ${base}.md and ${base}.json${opts.keep ? `; work directory kept: ${workDir}` : ''}`);
  } finally {
    await stopRemotes();
    cleanup();
  }
  const bad = runs.filter((r) => !r.valid || r.steps.some((s) => s.status !== 'ok')).length;
  return bad > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
