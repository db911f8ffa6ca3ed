/**
 * `arca forget` and `arca prune` against restic 0.14: the same keep decisions as
 * `restic forget --dry-run --json`, the same prune plan as `restic prune --dry-run -v`,
 * repositories that `restic check --read-data` accepts and from which every remaining
 * snapshot restores byte-exactly, interplay in both directions (restic forgets, arca prunes
 * and the reverse), dry runs that change nothing, a refusal when a snapshot's tree is
 * missing, and a prune killed (SIGKILL) at each of its stages.
 *
 * Every run opens the repository, and restic's calibrated key costs about half a second of
 * scrypt each time; with some eighty runs here, both repositories get a cheap key instead
 * (same master key, same password) right after `init`.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalBackend } from '../src/backend/local.js';
import { hashId } from '../src/repo/id.js';
import { Repository } from '../src/repo/repository.js';
import { arca, arcaOk } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import {
  restic,
  resticBackup,
  resticInit,
  resticSnapshotsJson,
  writePasswordFile,
} from './support/restic.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const skip = skipUnless('restic', 'restic');

const password = 'forget me not';
const host = os.hostname();

/** One backup: when, as which host, with which tags, after which change to the source tree. */
interface Step {
  time: string;
  host?: string;
  tags?: string[];
  change: (src: string) => Promise<void>;
}

const put = (src: string, rel: string, bytes: number): Promise<void> =>
  writeFile(path.join(src, rel), randomBytes(bytes));

// Deleted and rewritten files leave the first packs partly used once the early snapshots go.
const steps: Step[] = [
  {
    time: '2022-01-01 10:00:00',
    change: async (src) => {
      await mkdir(path.join(src, 'sub'), { recursive: true });
      await put(src, 'f1', 300_000);
      await put(src, 'f2', 200_000);
      await put(src, 'f3', 100_000);
      await put(src, 'f4', 700_000);
      await writeFile(path.join(src, 'sub', 'a.txt'), 'first a\n');
      await writeFile(path.join(src, 'sub', 'b.txt'), 'first b\n');
    },
  },
  {
    time: '2022-01-02 10:00:00',
    change: async (src) => {
      await rm(path.join(src, 'f1'));
      await put(src, 'f2', 200_000);
      await put(src, 'f5', 250_000);
    },
  },
  {
    time: '2022-01-03 10:00:00',
    tags: ['keep'],
    change: async (src) => {
      await rm(path.join(src, 'sub', 'b.txt'));
      await put(src, 'f3', 120_000);
    },
  },
  {
    time: '2022-01-04 10:00:00',
    change: async (src) => {
      await put(src, 'f6', 50_000);
      await writeFile(path.join(src, 'sub', 'a.txt'), 'second a\n');
    },
  },
  { time: '2022-01-04 12:00:00', host: 'other', change: async () => {} },
];

/** SHA-256 of every file below `root`, by path relative to it. */
async function hashTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of (await readdir(root, { recursive: true })).sort()) {
    const full = path.join(root, rel);
    if ((await stat(full)).isFile())
      out[rel] = createHash('sha256')
        .update(await readFile(full))
        .digest('hex');
  }
  return out;
}

/** Every file below `root` with its size: what a change to a repository would show. */
async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of (await readdir(root, { recursive: true })).sort()) {
    const st = await stat(path.join(root, rel));
    if (st.isFile()) out.push(`${rel} ${st.size}`);
  }
  return out;
}

async function repoBytes(root: string): Promise<number> {
  let total = 0;
  for (const line of await listing(root)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/** restic's `forget --json` groups, in a fixed order (restic prints them in map order). */
function groups(stdout: string): unknown[] {
  if (stdout.trim() === '') return [];
  const list = JSON.parse(stdout) as { host: string; paths: unknown; tags: unknown }[];
  const key = (g: (typeof list)[number]): string => JSON.stringify([g.host, g.paths, g.tags]);
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The statistics part of prune's output, from "used:" on, without progress bars and lock chatter. */
function pruneStats(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => !l.startsWith('['));
  return lines
    .slice(lines.findIndex((l) => l.startsWith('used:')))
    .join('\n')
    .trim();
}

describe('forget and prune interoperate with restic 0.14', {
  skip,
  concurrency: true,
}, () => {
  let dir: string;
  let pw: string;
  /** restic's repository after all steps, and a copy after `restic forget --keep-last 2`. */
  let resticRepo: string;
  let forgotten: string;
  /** arca's repository with the first three steps, and its snapshot IDs in order. */
  let arcaRepo: string;
  let arcaSnapshots: string[];
  /** What each snapshot holds (by snapshot ID), and the source tree as it is now. */
  const contents = new Map<string, Record<string, string>>();
  let current: Record<string, string>;

  const r = (repo: string) => ({ repo, passwordFile: pw });
  const copyOf = async (from: string, name: string): Promise<string> => {
    const to = path.join(dir, name);
    await cp(from, to, { recursive: true });
    return to;
  };
  /** `restic check --read-data` and `arca check --read-data` must pass, and every snapshot must restore exactly. */
  const assertHealthy = async (repo: string, label: string, opts: { thorough: boolean }): Promise<void> => {
    const check = await restic(['check', '--read-data'], { ...r(repo), allowFail: true });
    assert.equal(check.code, 0, `${label}: restic check failed:\n${check.stdout}${check.stderr}`);
    if (!opts.thorough) return;
    const ours = await arca(['check', '--read-data'], r(repo));
    assert.equal(ours.code, 0, `${label}: arca check failed:\n${ours.out}${ours.err}`);
    await Promise.all(
      (await resticSnapshotsJson(repo, pw)).map(async (s) => {
        const target = path.join(dir, `restore-${path.basename(repo)}-${s.short_id}`);
        await restic(['restore', s.id, '--target', target], r(repo));
        assert.deepEqual(
          await hashTree(path.join(target, 'src')),
          contents.get(s.id),
          `${label}: ${s.short_id}`,
        );
        await removeTree(target);
      }),
    );
  };

  before(async () => {
    dir = await makeTempDir('forget-prune');
    pw = await writePasswordFile(dir, password);
    const src = path.join(dir, 'src');
    resticRepo = path.join(dir, 'restic-repo');
    arcaRepo = path.join(dir, 'arca-repo');
    await resticInit(resticRepo, pw);
    await arcaOk(['init'], r(arcaRepo));
    await Promise.all([useCheapKey(resticRepo, password), useCheapKey(arcaRepo, password)]);
    arcaSnapshots = [];
    for (const [i, step] of steps.entries()) {
      await step.change(src);
      current = await hashTree(src);
      const extra = ['--time', step.time];
      const id = await resticBackup(resticRepo, pw, ['src'], {
        cwd: dir,
        host: step.host,
        tags: step.tags,
        extra,
      });
      contents.set(id, current);
      if (i < 3) {
        const b = await arcaOk(['--json', 'backup', 'src'], { ...r(arcaRepo), cwd: dir });
        const summary = JSON.parse(b.out.trim().split('\n').pop()!) as { snapshot_id: string };
        arcaSnapshots.push(summary.snapshot_id);
        contents.set(summary.snapshot_id, current);
      }
    }
    forgotten = await copyOf(resticRepo, 'forgotten');
    await restic(['forget', '--keep-last', '2'], r(forgotten));
  });
  after(() => removeTree(dir));

  test('keep rules decide what restic forget --dry-run decides', async (t) => {
    t.after(() => removeTree(path.join(dir, 'policies')));
    const repo = await copyOf(resticRepo, 'policies');
    const policies = [
      ['--keep-last', '2'],
      ['--keep-daily', '2', '--keep-tag', 'keep'],
      ['--keep-last', '1', '--group-by', 'host'],
      ['--keep-within', '1d', '--group-by', ''],
      ['--keep-monthly', '1', '--host', 'other'],
      [],
    ];
    for (const policy of policies) {
      const theirs = await restic(['forget', '--dry-run', '--no-lock', '--json', ...policy], r(repo));
      const ours = await arcaOk(['--json', 'forget', '--dry-run', ...policy], r(repo));
      assert.deepEqual(groups(ours.out), groups(theirs.stdout), `forget ${policy.join(' ')}`);
    }
    // With one group, restic's text (tables, reasons, summary) comes out the same.
    const single = ['forget', '--dry-run', '--host', host, '--keep-last', '2', '--keep-tag', 'keep'];
    const text = await restic([...single, '--no-lock'], r(repo));
    assert.equal((await arcaOk(single, r(repo))).out, text.stdout);
    // Explicit IDs remove exactly those; an unknown one is ignored with a warning, as restic does.
    const [oldest] = await resticSnapshotsJson(repo, pw);
    const byId = await arcaOk(['forget', oldest!.short_id, 'deadbeef'], r(repo));
    assert.match(byId.err, /Ignoring "deadbeef"/);
    const left = (await resticSnapshotsJson(repo, pw)).map((s) => s.id);
    assert.equal(left.length, steps.length - 1);
    assert.ok(!left.includes(oldest!.id));
  });

  test('arca forget --prune removes unreferenced data; restic checks and restores the rest', async (t) => {
    t.after(() => removeTree(path.join(dir, 'forget-prune')));
    const repo = await copyOf(resticRepo, 'forget-prune');
    const planned = await restic(['forget', '--dry-run', '--no-lock', '--json', '--keep-last', '2'], r(repo));
    const expected = (JSON.parse(planned.stdout) as { keep: { id: string }[] }[])
      .flatMap((g) => g.keep.map((s) => s.id))
      .sort();
    const sizeBefore = await repoBytes(repo);
    const run = await arcaOk(['forget', '--keep-last', '2', '--prune'], r(repo));
    assert.match(run.out, /2 snapshots have been removed, running prune/);
    assert.match(
      run.out,
      /repacking packs\nrebuilding index\ndeleting obsolete index files\nremoving \d+ old packs\ndone/,
    );
    const remaining = (await resticSnapshotsJson(repo, pw)).map((s) => s.id).sort();
    assert.deepEqual(remaining, expected);
    assert.ok((await repoBytes(repo)) < sizeBefore * 0.8, 'the repository shrinks');
    await assertHealthy(repo, 'after arca forget --prune', { thorough: true });
    // Nothing is left to do, by restic's judgement too.
    const again = await restic(['prune', '--dry-run'], r(repo));
    assert.match(again.stdout, /total prune: +0 blobs \/ 0 B/);
  });

  test('arca prunes what restic forgot, and restic prunes what arca forgot', async (t) => {
    t.after(() => removeTree(path.join(dir, 'both-ways')));
    const repo = await copyOf(arcaRepo, 'both-ways');
    await restic(['forget', '--keep-last', '1'], r(repo));
    const sizeBefore = await repoBytes(repo);
    await arcaOk(['prune'], r(repo));
    assert.ok((await repoBytes(repo)) < sizeBefore, 'arca prune frees space');
    assert.deepEqual(
      (await resticSnapshotsJson(repo, pw)).map((s) => s.id),
      [arcaSnapshots[2]],
    );
    await assertHealthy(repo, 'arca prune after restic forget', { thorough: true });

    const b = await arcaOk(['--json', 'backup', 'src'], { ...r(repo), cwd: dir });
    contents.set(
      (JSON.parse(b.out.trim().split('\n').pop()!) as { snapshot_id: string }).snapshot_id,
      current,
    );
    await arcaOk(['forget', '--keep-last', '1'], r(repo));
    const sizeMiddle = await repoBytes(repo);
    await restic(['prune'], r(repo));
    assert.ok((await repoBytes(repo)) < sizeMiddle, 'restic prune frees space');
    assert.equal((await resticSnapshotsJson(repo, pw)).length, 1);
    await assertHealthy(repo, 'restic prune after arca forget', { thorough: true });
  });

  test('dry runs change nothing and plan what restic plans', async (t) => {
    t.after(() => removeTree(path.join(dir, 'dry')));
    const repo = await copyOf(forgotten, 'dry');
    const before = await listing(repo);
    for (const maxUnused of ['5%', '0', 'unlimited', '100k']) {
      const theirs = await restic(['prune', '--dry-run', '-v', '--max-unused', maxUnused], r(repo));
      const ours = await arcaOk(['-v', 'prune', '--dry-run', '--max-unused', maxUnused], r(repo));
      assert.equal(pruneStats(ours.out), pruneStats(theirs.stdout), `--max-unused ${maxUnused}`);
    }
    const json = JSON.parse((await arcaOk(['--json', 'prune', '--dry-run'], r(repo))).out) as Record<
      string,
      number
    >;
    assert.ok(json['total_prune_size']! > 0);
    assert.equal(json['packs_deleted'], 0);
    await arcaOk(['forget', '--dry-run', '--keep-last', '1', '--prune'], r(repo));
    assert.deepEqual(await listing(repo), before);
  });

  test('prune refuses, deleting nothing, when a snapshot’s tree is missing', async (t) => {
    t.after(() => removeTree(path.join(dir, 'missing-tree')));
    const repo = await copyOf(forgotten, 'missing-tree');
    const opened = await Repository.open(new LocalBackend(repo), password);
    const lost = hashId(Buffer.from('a tree nobody stored'));
    const bad = await opened.saveJsonUnpacked('snapshots', {
      time: '2022-02-01T00:00:00Z',
      tree: lost,
      paths: ['/nowhere'],
      hostname: host,
    });
    const before = await listing(repo);
    for (const args of [['prune'], ['forget', '--keep-last', '1', '--prune', '--dry-run']]) {
      const run = await arca(args, r(repo));
      assert.equal(run.code, 1, run.err);
      assert.match(
        run.err,
        new RegExp(`snapshot ${bad.slice(0, 8)} cannot be read completely: tree ${lost.slice(0, 8)}`),
      );
      assert.match(run.err, /nothing was changed/);
      assert.deepEqual(await listing(repo), before);
    }
  });

  test('a prune killed at any stage leaves every snapshot restorable', async (t) => {
    const points = [
      'prune-after-repack',
      'prune-after-index',
      'prune-after-index-delete',
      'prune-after-pack-delete',
    ];
    t.after(() => Promise.all(points.map((p) => removeTree(path.join(dir, p)))));
    await Promise.all(
      points.map(async (point) => {
        const repo = await copyOf(forgotten, point);
        const killed = await arca(['prune', '--max-unused', '0'], {
          ...r(repo),
          env: { ARCA_TEST_CRASH_AT: point },
        });
        assert.equal(killed.code, 128 + os.constants.signals.SIGKILL, `${point}: ${killed.err}`);
        // A killed process leaves its lock behind; unlock removes it as stale.
        await arcaOk(['unlock'], r(repo));
        await assertHealthy(repo, `killed ${point}`, { thorough: true });
        // Running prune again finishes the job.
        await arcaOk(['prune', '--max-unused', '0'], r(repo));
        await assertHealthy(repo, `re-run after ${point}`, { thorough: false });
      }),
    );
  });
});
