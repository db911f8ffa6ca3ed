/**
 * `arca runbook` end to end: a policy with two local repositories, `arca run` to back a
 * dataset up and copy it, then `arca runbook --dataset files --out DIR`. The restic commands
 * are taken out of the markdown by their markers and run, as a person would paste them,
 * with the real restic: they must restore the data (compared with the source tree), list
 * the snapshots, and find nothing missing when the restored tree is compared with
 * `restic ls`. The runbook must never contain a password.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findBlock } from '../src/runbook/blocks.js';
import { arcaOk } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { compareTrees } from './support/compare-trees.js';
import { run } from './support/run.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const passwords = { local: 'runbook local password', second: 'runbook second password' };
const today = new Date().toISOString().slice(0, 10);
const nextYear = `${Number(today.slice(0, 4)) + 1}${today.slice(4, 8)}01`;

describe('arca runbook, end to end', { skip: skipUnless('restic', 'restic') }, () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  let data: string;
  let markdown: string;

  /**
   * Runs a shell script made of runbook blocks, as pasted, from `root`; with `restoreDir` set
   * as RESTORE_DIR (the runbook restores into $RESTORE_DIR/files), else with it unset.
   */
  async function runBlocks(markers: string[], restoreDir?: string) {
    const script = markers.flatMap((m) => findBlock(markdown, m).lines).join('\n');
    const shellEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: root, TMPDIR: root };
    if (restoreDir !== undefined) shellEnv.RESTORE_DIR = restoreDir;
    shellEnv.XDG_CACHE_HOME = path.join(root, 'restic-cache');
    const r = await run('/bin/sh', ['-ec', script], { env: shellEnv, cwd: root, timeoutMs: 300_000 });
    const out = { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
    assert.equal(out.code, 0, `the runbook's commands failed:\n${script}\n${out.stderr}`);
    return out;
  }

  before(async () => {
    root = await makeTempDir('runbook');
    data = path.join(root, 'data');
    await mkdir(path.join(data, 'docs', 'deep'), { recursive: true });
    await writeFile(path.join(data, 'docs', 'a.txt'), 'alpha\n'.repeat(500));
    await writeFile(path.join(data, 'docs', 'deep', 'c.txt'), 'gamma');
    await writeFile(path.join(data, 'b.bin'), Buffer.alloc(200_000, 7));
    const repos: Record<string, { dir: string; pw: string }> = {};
    for (const name of ['local', 'second'] as const) {
      const pw = path.join(root, `${name}-password`);
      await writeFile(pw, `${passwords[name]}\n`, { mode: 0o600 });
      const dir = path.join(root, `repo ${name}`);
      await arcaOk(['init'], { repo: dir, passwordFile: pw });
      await useCheapKey(dir, passwords[name]);
      repos[name] = { dir, pw };
    }
    const policy = path.join(root, 'arca.yaml');
    await writeFile(
      policy,
      `metadata:
  id: POL-RUNBOOK
  version: "2"
  owner: security officer
  approved_by: tests
  approved_on: ${today}
  next_review: ${nextYear}
repositories:
  local:
    location: ${JSON.stringify(repos.local!.dir)}
    site: main
    media: disk
    offsite: false
    immutable: false
    password: {file: ${JSON.stringify(repos.local!.pw)}}
  second:
    location: ${JSON.stringify(`local:${repos.second!.dir}`)}
    site: annex
    media: removable
    offsite: true
    immutable: false
    password: {file: ${JSON.stringify(repos.second!.pw)}}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 2
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources:
      paths: [${JSON.stringify(data)}]
    schedule:
      full: "0 3 * * *"
    copies: [local, second]
    retention:
      keep: {last: 5}
    drill:
      every: 30d
      validate:
        - name: docs are there
          command: test -s "$ARCA_RESTORE_DIR${data}/docs/a.txt"
`,
    );
    env = {
      ARCA_POLICY: policy,
      ARCA_JOURNAL: path.join(root, 'state', 'journal.db'),
      XDG_STATE_HOME: path.join(root, 'state-home'),
      XDG_CACHE_HOME: path.join(root, 'cache-home'),
    };
    await arcaOk(['run', '--dataset', 'files'], { env });
    const out = path.join(root, 'runbook');
    const r = await arcaOk(['runbook', '--dataset', 'files', '--out', out], { env });
    assert.match(r.out, /files\.md/);
    markdown = await readFile(path.join(out, 'files.md'), 'utf8');
    assert.match(await readFile(path.join(out, 'index.md'), 'utf8'), /\[files\]\(files\.md\)/);
  });

  after(async () => {
    if (root) await removeTree(root);
  });

  test('the runbook says where the copies are, from the policy and the journal, and holds no password', () => {
    for (const pw of Object.values(passwords)) assert.ok(!markdown.includes(pw));
    assert.match(markdown, /policy \*\*POL-RUNBOOK\*\* version 2/);
    assert.match(markdown, /\| second \| `local:.*repo second` \| annex \| removable \| yes \| no \|/);
    assert.match(markdown, /\| Last good backup \| \d{4}-\d\d-\d\dT.*, snapshot `[0-9a-f]{8}`/);
    assert.match(markdown, /\*\*Never drilled\*\*/);
    assert.match(markdown, /set `RESTORE_DIR` to a directory you can write to \(no root needed\)/);
  });

  // From local into the RESTORE_DIR the operator sets; from second with it unset (./restore).
  for (const [repo, restoreDir] of [
    ['local', 'restored-local'],
    ['second', undefined],
  ] as const) {
    test(`restic restores the data with the runbook's commands from ${repo}`, async () => {
      const dir = restoreDir === undefined ? undefined : path.join(root, restoreDir);
      const target = path.join(dir ?? path.join(root, 'restore'), 'files');
      const env = `env: credentials (repository ${repo})`;
      const listed = await runBlocks([env, `restic: snapshots (repository ${repo})`], dir);
      assert.match(listed.stdout, /dataset:files/);
      await runBlocks([env, `restic: restore latest (repository ${repo})`], dir);
      const diffs = await compareTrees(data, path.join(target, data), { xattrs: false });
      assert.deepEqual(diffs, []);
      // The listing comes from the primary repository: the copy must hold the same tree.
      await runBlocks(
        [
          'env: credentials (repository local)',
          'restic: compare with ls (repository local)',
          'check: docs are there',
        ],
        dir,
      );
    });
  }

  test('the check block of the runbook runs restic check', async () => {
    const r = await runBlocks(['env: credentials (repository local)', 'restic: check (repository local)']);
    assert.match(r.stdout, /no errors were found/);
  });
});
