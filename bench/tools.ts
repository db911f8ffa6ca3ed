import path from 'node:path';
import { type RemoteServer, remoteRepo } from './remote.js';

/** The tools compared, in the order they run within each round. */
export const toolNames = ['arca', 'restic'] as const;
export type ToolName = (typeof toolNames)[number];

/** The measured steps of one run, in order. */
export const stepNames = [
  'init',
  'backup-first',
  'backup-nochange',
  'backup-change',
  'restore',
  'check',
] as const;
export type StepName = (typeof stepNames)[number];

/** How each step is shown in the report. */
export const stepTitles: Record<StepName, string> = {
  init: 'init',
  'backup-first': 'first backup',
  'backup-nochange': 'no-change backup',
  'backup-change': 'backup after ~1% change',
  restore: 'full restore',
  check: 'check --read-data',
};

/** Everything a tool's command line needs for one run. */
export interface RunPaths {
  /** The local repository directory (unused when `remote` is set). */
  repo: string;
  /** When set, the repository is `name` on this server instead of the local `repo`. */
  remote?: { server: RemoteServer; name: string };
  /**
   * The cache, fresh for every run and kept across that run's steps (restic's normal use):
   * restic's always, arca's over a remote (arca caches nothing for a local repository).
   */
  cacheDir: string;
  /** TMPDIR of the child: on the same filesystem as the repository. */
  tmpDir: string;
  passwordFile: string;
  /** The data set copy that is backed up; the same absolute path for every tool and run. */
  source: string;
  /** An empty directory to restore into. */
  target: string;
}

/** A command to run. */
export interface Invocation {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** How to run arca and restic. */
export interface ToolSetup {
  /** `bin/arca.js` of the project under test. */
  arcaBin: string;
  resticBin: string;
  /** When set, arca runs under `node --cpu-prof` and writes its profiles here (one dir per step). */
  cpuProfDir?: string;
}

/**
 * The environment both tools start from: the harness's own, less anything that would
 * change either tool's behaviour (repository, password, cache, S3 credentials and region,
 * Node and Go options).
 */
export function baseEnv(tmpDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RESTIC_|ARCA_|AWS_|NODE_OPTIONS$|GOGC$|GOMAXPROCS$|GODEBUG$)/.test(k)) continue;
    env[k] = v;
  }
  env.TMPDIR = tmpDir;
  return env;
}

/** The command line of `step` for `tool`. Both tools run quietly (`-q`). */
export function invocation(tool: ToolName, step: StepName, p: RunPaths, s: ToolSetup): Invocation {
  const env = baseEnv(p.tmpDir);
  const stepArgs: Record<StepName, string[]> = {
    init: ['init'],
    'backup-first': ['backup', p.source],
    'backup-nochange': ['backup', p.source],
    'backup-change': ['backup', p.source],
    restore: ['restore', 'latest', '--target', p.target],
    check: ['check', '--read-data'],
  };
  const where = p.remote
    ? remoteRepo(p.remote.server, tool, p.remote.name)
    : { repo: p.repo, args: [], env: {} };
  Object.assign(env, where.env);
  if (tool === 'arca') {
    env.ARCA_PASSWORD_FILE = p.passwordFile;
    const node = s.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(s.cpuProfDir, step)] : [];
    const cache = p.remote ? ['--cache-dir', p.cacheDir] : [];
    return {
      cmd: process.execPath,
      args: [...node, s.arcaBin, '-r', where.repo, ...where.args, ...cache, '-q', ...stepArgs[step]],
      env,
    };
  }
  env.RESTIC_PASSWORD_FILE = p.passwordFile;
  return {
    cmd: s.resticBin,
    args: ['-r', where.repo, ...where.args, '--cache-dir', p.cacheDir, '-q', ...stepArgs[step]],
    env,
  };
}
