/**
 * Oracle test for the retention policy: restic itself decides which snapshots `forget`
 * keeps (`restic forget --dry-run --json`), and arca's groupSnapshots + applyPolicy must
 * decide the same per group — the same kept and removed IDs in the same order, the same
 * reasons and counters — for a repository of snapshots made with `--time` over three years,
 * recorded in three zones, with several hosts, path sets and tags. Every policy runs with
 * the process zone (TZ) set to UTC for restic and for arca alike; the calendar and
 * keep-within policies run with Europe/Berlin too: bucketing must not care about the zone,
 * and keep-within must shift exactly as restic's does. Each restic call costs ~0.5 s of key
 * derivation, so zones and cases are chosen sparingly.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  applyPolicy,
  groupSnapshots,
  isEmptyPolicy,
  type KeepCounters,
  type KeepPolicy,
  parseDuration,
  parseGroupBy,
} from '../src/ops/retention.js';
import type { Snapshot } from '../src/repo/snapshot.js';
import { restic, resticInit, resticSnapshotsJson, writePasswordFile } from './support/restic.js';
import { inZone } from './support/time-zone.js';
import { tempDir } from './support/tmp.js';
import { requireTool } from './support/tools.js';

/** One `restic backup --time`: the wall clock is read in `zone`, so that offset is recorded. */
interface Backup {
  time: string;
  zone: string;
  host: string;
  tags: string[];
  dirs: string[];
}

function backups(host: string, zone: string, dirs: string[], entries: [string, string[]][]): Backup[] {
  return entries.map(([time, tags]) => ({ time, zone, host, tags, dirs }));
}

const plan: Backup[] = [
  ...backups(
    'alpha',
    'Europe/Berlin',
    ['d1'],
    [
      ['2021-01-01 00:30:00', ['important']], // ISO week 53 of 2020
      ['2021-01-03 23:00:00', []],
      ['2021-01-04 00:10:00', ['daily']],
      ['2021-06-15 12:00:00', ['daily', 'important']],
      ['2021-12-31 23:30:00', []], // 22:30Z
      ['2022-01-01 00:30:00', ['daily']], // 2021-12-31 23:30Z
      ['2022-01-01 09:00:00', []],
      ['2022-03-27 01:59:00', ['daily']], // the night Berlin springs forward
      ['2022-03-27 03:01:00', []],
      ['2022-03-27 03:30:00', ['important,daily']],
      ['2022-10-30 02:30:00', []], // an hour Berlin has twice
      ['2023-05-01 08:00:00', ['daily']],
      ['2023-05-01 12:00:00', []],
      ['2023-05-01 18:00:00', ['daily']],
      ['2023-05-02 08:00:00', []],
      ['2023-05-08 08:00:00', ['important']],
    ],
  ),
  ...backups(
    'beta',
    'America/New_York',
    ['d1', 'd2'],
    [
      ['2021-02-28 23:00:00', []],
      ['2021-03-01 01:00:00', ['daily']],
      ['2022-02-28 22:00:00', []],
      ['2022-07-04 10:00:00', ['important']],
      ['2022-12-31 21:00:00', ['daily']], // 2023-01-01 02:00Z
      ['2023-01-01 01:00:00', []],
      ['2023-04-30 23:59:00', ['daily']],
      ['2023-05-01 00:01:00', []],
      ['2023-11-05 01:30:00', ['important']], // an hour New York has twice
      ['2023-12-01 00:00:00', []],
    ],
  ),
  ...backups(
    'gamma',
    'UTC',
    ['d2'],
    [
      ['2021-03-15 06:00:00', []],
      ['2021-09-15 06:00:00', ['important']],
      ['2022-09-15 06:00:00', []],
      ['2023-03-15 06:00:00', ['daily']],
      ['2023-03-15 07:00:00', []],
      ['2023-03-16 06:00:00', []],
      ['2023-08-31 23:00:00', []],
      ['2090-01-01 00:00:00', []], // in the future: never the keep-within reference
    ],
  ),
  // 30 days before 2022-04-10 02:00 CEST is 02:00 CET in Berlin, but 01:00 CET in fixed-offset arithmetic.
  ...backups(
    'dst',
    'Europe/Berlin',
    ['d1', 'd2'],
    [
      ['2022-04-10 02:00:00', []],
      ['2022-03-11 02:30:00', []],
      ['2022-03-11 02:00:00', []],
      ['2022-03-11 01:30:00', []],
    ],
  ),
];

/** A forget invocation: restic's arguments and the same policy for arca. */
interface Case {
  args: string[];
  policy: KeepPolicy;
  groupBy?: string;
  host?: string;
  /** Also compare with TZ=Europe/Berlin. */
  berlin?: true;
}

const d = parseDuration;
const cases: Case[] = [
  { args: ['--keep-last', '3'], policy: { last: 3 } },
  {
    args: ['--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '6', '--keep-yearly', '2'],
    policy: { daily: 7, weekly: 4, monthly: 6, yearly: 2 },
    berlin: true,
  },
  { args: ['--keep-within', '30d'], policy: { within: d('30d') }, berlin: true },
  { args: ['--keep-within', '1y6m'], policy: { within: d('1y6m') }, berlin: true },
  { args: ['--keep-tag', 'important'], policy: { tags: ['important'] } },
  { args: ['--keep-hourly', '5'], policy: { hourly: 5 }, groupBy: 'host' },
  { args: ['--keep-last', '2'], policy: { last: 2 }, groupBy: 'host,tags' },
  { args: ['--keep-monthly', '3'], policy: { monthly: 3 }, groupBy: '' },
  {
    args: [
      '--keep-within-daily',
      '2m',
      '--keep-within-weekly',
      '6m',
      '--keep-within-monthly',
      '1y',
      '--keep-within-yearly',
      '3y',
    ],
    policy: { withinDaily: d('2m'), withinWeekly: d('6m'), withinMonthly: d('1y'), withinYearly: d('3y') },
    groupBy: 'host',
    berlin: true,
  },
  { args: ['--keep-yearly', '10'], policy: { yearly: 10 }, groupBy: 'host' },
  {
    args: ['--keep-tag', '', '--keep-tag', ',daily', '--keep-last', '1'],
    policy: { tags: ['', ',daily'], last: 1 },
    groupBy: 'tags',
  },
  {
    args: ['--keep-weekly', '3', '--keep-within', '2d12h', '--keep-tag', ' daily , important'],
    policy: { weekly: 3, within: d('2d12h'), tags: [' daily , important'] },
    groupBy: 'paths',
  },
  { args: ['--keep-within', '30d'], policy: { within: d('30d') }, host: 'dst', berlin: true },
  { args: [], policy: {} },
];

/** Per group (keyed by host, paths, tags): kept IDs, removed IDs, and each kept snapshot's reasons. */
type Outcome = Record<string, { keep: string[]; remove: string[]; reasons: [string[], KeepCounters][] }>;

interface ForgetGroupJson {
  host: string;
  paths: string[] | null;
  tags: string[] | null;
  keep: { id: string }[] | null;
  remove: { id: string }[] | null;
  reasons: { matches: string[]; counters: KeepCounters }[] | null;
}

function groupName(host: string, paths: string[] | null, tags: string[] | null): string {
  return JSON.stringify([host, paths, tags]);
}

function resticOutcome(stdout: string): Outcome {
  const groups = stdout.trim() === '' ? [] : (JSON.parse(stdout) as ForgetGroupJson[]);
  const outcome: Outcome = {};
  for (const g of groups) {
    outcome[groupName(g.host, g.paths, g.tags)] = {
      keep: (g.keep ?? []).map((s) => s.id),
      remove: (g.remove ?? []).map((s) => s.id),
      reasons: (g.reasons ?? []).map((r) => [r.matches, r.counters]),
    };
  }
  return outcome;
}

function arcaOutcome(snaps: Snapshot[], c: Case): Outcome {
  // restic's forget prints no group at all when the policy is empty.
  if (isEmptyPolicy(c.policy)) return {};
  const outcome: Outcome = {};
  const selected = snaps.filter((s) => c.host === undefined || s.hostname === c.host);
  for (const { key, snapshots } of groupSnapshots(selected, parseGroupBy(c.groupBy ?? 'host,paths'))) {
    const result = applyPolicy(snapshots, c.policy);
    outcome[groupName(key.hostname, key.paths, key.tags)] = {
      keep: result.keep.map((k) => k.snapshot.id),
      remove: result.remove.map((s) => s.id),
      reasons: result.keep.map((k) => [k.reasons, k.counters]),
    };
  }
  return outcome;
}

/** Runs `jobs` with at most `width` at a time, results in order. */
async function inParallel<T>(width: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

test('applyPolicy keeps and removes exactly what restic forget does', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const dir = await tempDir(t, 'forget-oracle');
  const repo = path.join(dir, 'repo');
  const passwordFile = await writePasswordFile(dir, 'oracle');
  await resticInit(repo, passwordFile);
  for (const name of ['d1', 'd2']) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'file'), name);
  }

  // Backups of the same tiny directories run side by side (restic's backup lock is shared).
  await inParallel(
    6,
    plan.map((b) => () => {
      const args = ['backup', '--quiet', '--time', b.time, '--host', b.host];
      for (const tag of b.tags) args.push('--tag', tag);
      return restic([...args, ...b.dirs], { repo, passwordFile, cwd: dir, env: { TZ: b.zone } });
    }),
  );
  const snaps: Snapshot[] = (await resticSnapshotsJson(repo, passwordFile)).map((listing) => ({
    ...listing,
  }));
  assert.equal(snaps.length, plan.length);

  const runs = [
    ...cases.map((c) => ({ tz: 'UTC', c })),
    ...cases.filter((c) => c.berlin).map((c) => ({ tz: 'Europe/Berlin', c })),
  ];
  const outputs = await inParallel(
    6,
    runs.map(({ tz, c }) => async () => {
      const args = ['forget', '--dry-run', '--no-lock', '--json', '--group-by', c.groupBy ?? 'host,paths'];
      if (c.host !== undefined) args.push('--host', c.host);
      return (await restic([...args, ...c.args], { repo, passwordFile, env: { TZ: tz } })).stdout;
    }),
  );

  runs.forEach(({ tz, c }, i) => {
    const expected = resticOutcome(outputs[i]!);
    const label = `TZ=${tz} forget --group-by '${c.groupBy ?? 'host,paths'}' ${c.args.map((a) => `'${a}'`).join(' ')}`;
    assert.deepEqual(
      inZone(tz, () => arcaOutcome(snaps, c)),
      expected,
      label,
    );
    if (!isEmptyPolicy(c.policy))
      assert.ok(Object.keys(expected).length > 0, `${label}: restic printed no group`);
  });

  // The dst case must really depend on the zone, or it tests nothing.
  const dstRuns = runs.flatMap((run, i) => (run.c.host === 'dst' ? [outputs[i]!] : []));
  assert.notDeepEqual(resticOutcome(dstRuns[0]!), resticOutcome(dstRuns[1]!));
});
