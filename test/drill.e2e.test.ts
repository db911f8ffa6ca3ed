/**
 * Restore drills end to end, as a user runs them: a policy with three datasets (files, a
 * SQLite database checked by a row count after the restore, and a large one with a 1 s RTO)
 * and two local repositories, the second standing for the offsite copy. `arca run` backs up
 * and runs the due drills, whose checks work inside the sandbox; `arca drill` rotates to the
 * copy drilled least recently, never touches the original files, records a simulated drill
 * apart, fails at the restore on a corrupted pack (opening a corrective action that a
 * passing drill of the other copy leaves open, and a full drill of the repaired copy
 * closes), refuses a sandbox that is a source path, and reports a forecast restore time
 * over the RTO as missed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { DrillDetails } from '../src/drill/record.js';
import { sampleFiles } from '../src/drill/select.js';
import { arca, arcaOk, projectRoot } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { readJournal } from './support/journal.js';
import { restic, writePasswordFile } from './support/restic.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const password = 'drill test password';
const today = new Date().toISOString().slice(0, 10);
const nextYear = `${Number(today.slice(0, 4)) + 1}${today.slice(4, 8)}01`;

type Details = DrillDetails;

describe('restore drills, end to end', { skip: skipUnless('restic', 'restic') }, () => {
  let root: string;
  let pw: string;
  let data: string;
  let big: string;
  let dbFile: string;
  let journalFile: string;
  let events: string;
  let policyFile: string;
  let env: NodeJS.ProcessEnv;
  const repo = (name: string) => path.join(root, `repo-${name}`);

  const policyText = (filesDrill: string) => `
metadata:
  id: POL-DRILL
  version: "1"
  owner: tests
  approved_by: tests
  approved_on: ${today}
  next_review: ${nextYear}
repositories:
  local:
    location: ${JSON.stringify(repo('local'))}
    site: main
    media: disk
    offsite: false
    immutable: false
    password: {file: ${JSON.stringify(pw)}}
  offsite:
    location: ${JSON.stringify(repo('offsite'))}
    site: second-site
    media: nas
    offsite: true
    immutable: false
    password: {file: ${JSON.stringify(pw)}}
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
      full: {every: 1d}
    copies: [local, offsite]
    retention:
      keep: {last: 5}
    drill: ${filesDrill}
  orders-db:
    owner: sales
    classification: confidential
    tier: 1
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources:
      sqlite:
        - path: ${JSON.stringify(dbFile)}
    schedule:
      full: {every: 1d}
    copies: [local, offsite]
    retention:
      keep: {last: 5}
    drill:
      every: 30d
      validate:
        - name: orders row count
          command: ${JSON.stringify(`${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(root, 'count.mjs'))} 250`)}
        - name: scratch files stay in the sandbox
          command: 'touch scratch.db && touch "$TMPDIR/scratch.tmp" && test "$PWD" = "$ARCA_RESTORE_DIR"'
  big:
    owner: ops
    classification: internal
    tier: 3
    rpo: 24h
    rto: 1s
    mtd: 1h
    sources:
      paths: [${JSON.stringify(big)}]
    schedule:
      full: {every: 1d}
    copies: [offsite]
    retention:
      keep: {last: 5}
notifications:
  command: {run: ${JSON.stringify(`cat >> ${JSON.stringify(path.join(root, 'events.jsonl'))}; echo >> ${JSON.stringify(path.join(root, 'events.jsonl'))}`)}, events: [drill-failure]}
`;
  const drills = () => readJournal(journalFile).filter((r) => r.operation === 'drill');
  const lastDrill = () => drills().at(-1)!;
  const drill = (args: string[], policy = policyFile) =>
    arca(['drill', ...args], { env: { ...env, ARCA_POLICY: policy } });

  before(async () => {
    root = await makeTempDir('drill-e2e');
    pw = await writePasswordFile(root, password);
    data = path.join(root, 'data');
    big = path.join(root, 'big');
    dbFile = path.join(root, 'app.db');
    journalFile = path.join(root, 'state', 'journal.db');
    events = path.join(root, 'events.jsonl');
    policyFile = path.join(root, 'arca.yaml');
    env = {
      ARCA_JOURNAL: journalFile,
      XDG_STATE_HOME: path.join(root, 'state-home'),
      XDG_CACHE_HOME: path.join(root, 'cache-home'),
    };
    for (const name of ['local', 'offsite']) {
      await arcaOk(['init'], { repo: repo(name), passwordFile: pw, env });
      await useCheapKey(repo(name), password);
    }
    await mkdir(path.join(data, 'docs'), { recursive: true });
    await writeFile(path.join(data, 'docs', 'a.txt'), 'alpha\n'.repeat(500));
    await writeFile(path.join(data, 'b.bin'), randomBytes(300_000));
    await chmod(path.join(data, 'b.bin'), 0o640);
    const { symlink } = await import('node:fs/promises');
    await symlink('docs/a.txt', path.join(data, 'link'));
    await mkdir(big);
    await writeFile(path.join(big, 'tiny.txt'), 'x');
    await writeFile(path.join(big, 'large.bin'), randomBytes(8_000_000));
    const db = new Database(dbFile);
    db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)');
    const insert = db.prepare('INSERT INTO orders (item) VALUES (?)');
    for (let i = 0; i < 250; i++) insert.run(`item ${i}`);
    db.close();
    // The row-count check: opens the restored dump read-only and compares the count.
    await writeFile(
      path.join(root, 'count.mjs'),
      `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(path.join(projectRoot, 'package.json'))});
const Database = require('better-sqlite3');
const db = new Database(process.env.ARCA_DUMP_DIR + '/sqlite/app.db', { readonly: true, fileMustExist: true });
const n = db.prepare('SELECT count(*) AS n FROM orders').get().n;
console.log('orders: ' + n + ' rows');
process.exit(n === Number(process.argv[2]) ? 0 : 1);
`,
    );
    await writeFile(policyFile, policyText('{every: 30d}'));
  });

  after(async () => {
    if (root) await removeTree(root);
  });

  test('arca run backs up and runs the due drills, which pass and are recorded as the contract says', async () => {
    const r = await arca(['run'], { env: { ...env, ARCA_POLICY: policyFile }, cwd: root });
    assert.equal(r.code, 0, r.err);
    // The checks ran in the sandbox: their scratch files went with it.
    assert.equal(existsSync(path.join(root, 'scratch.db')), false);
    assert.equal(existsSync(path.join(projectRoot, 'scratch.db')), false);
    const byDataset = new Map(drills().map((d) => [d.dataset, d]));
    assert.deepEqual([...byDataset.keys()].sort(), ['files', 'orders-db']);
    for (const rec of byDataset.values()) {
      const d = rec.details as unknown as Details;
      assert.equal(rec.result, 'success', rec.error ?? '');
      assert.equal(d.schema, 'restore-drill/v1');
      assert.equal(d.kind, 'scheduled');
      assert.equal(d.simulated, false);
      assert.equal(d.selection.repository_name, 'local');
      assert.equal(d.source.level, 'full');
      assert.equal(rec.level, 'full');
      assert.equal(d.failure.stage, null);
      assert.equal(d.measurements.restore_time_kind, 'measured');
      assert.equal(d.measurements.rto_met, true);
      assert.equal(d.measurements.rpo_met, true);
      assert.equal(d.validation.integrity.mismatched, 0);
      assert.ok(d.validation.integrity.files >= 1);
      assert.ok(d.cleanup.removed_at);
    }
    const check = (byDataset.get('orders-db')!.details as unknown as Details).validation.checks;
    assert.deepEqual(
      check.map((c) => [c.check, c.passed]),
      [
        ['orders row count', true],
        ['scratch files stay in the sandbox', true],
      ],
    );
    assert.match(check[0]!.output, /orders: 250 rows/);
    // Nothing is due now: a second run does not drill again.
    const again = await arca(['run'], { env: { ...env, ARCA_POLICY: policyFile } });
    assert.equal(again.code, 0, again.err);
    assert.equal(drills().length, 2);
    const plan = await arcaOk(['plan', '--json'], { env: { ...env, ARCA_POLICY: policyFile } });
    const drillPlan = (JSON.parse(plan.out) as { drills: { dataset: string; due: boolean }[] }).drills;
    assert.deepEqual(
      drillPlan.map((d) => [d.dataset, d.due]),
      [
        ['files', false],
        ['orders-db', false],
      ],
    );
  });

  test('arca drill restores from the other copy into a sandbox and never touches the original', async () => {
    // Changed after the backup: a drill that wrote to the original would undo this.
    const changed = path.join(data, 'docs', 'a.txt');
    await writeFile(changed, 'changed after the backup\n');
    const before = await stat(changed);
    const listing = await readdir(data, { recursive: true });
    const r = await drill(['--dataset', 'files', '--json']);
    assert.equal(r.code, 0, r.err);
    const printed = JSON.parse(r.out.trim().split('\n').at(-1)!) as Details;
    const rec = lastDrill();
    const d = rec.details as unknown as Details;
    assert.equal(printed.drill_id, d.drill_id);
    assert.match(d.drill_id, /^DRL-\d{8}T\d{6}Z-files$/);
    assert.equal(d.kind, 'ad-hoc');
    assert.equal(d.selection.repository_name, 'offsite');
    assert.deepEqual(d.selection.repositories, ['local', 'offsite']);
    assert.equal(d.selection.method, 'least-recently-drilled-copy');
    assert.equal(d.selection.snapshot_rule, 'latest');
    assert.equal(d.selection.population, 1);
    assert.match(d.selection.seed, /^[0-9a-f]{16}$/);
    assert.equal(d.source.offsite, true);
    assert.equal(d.source.site, 'second-site');
    assert.equal(rec.repository, repo('offsite'));
    assert.deepEqual(d.asset, { tier: 2, rpo: '24h', rto: '4h', owner: 'ops', classification: 'internal' });
    assert.equal(d.scope, 'full');
    assert.equal(d.target.environment, 'isolated-sandbox');
    assert.equal(d.target.overwrote_production, false);
    assert.ok(
      d.target.path!.startsWith(path.join(env.XDG_STATE_HOME!, 'arca', 'drills')),
      String(d.target.path),
    );
    await assert.rejects(stat(d.target.path!), /ENOENT/);
    assert.equal(d.measurements.files_restored, 2);
    assert.equal(rec.files_read, 2);
    assert.equal(d.measurements.bytes_restored, 303_000);
    assert.equal(d.measurements.snapshot_bytes, 303_000);
    assert.equal(d.measurements.rto_seconds, 4 * 3600);
    assert.equal(d.validation.integrity.files, 2);
    assert.ok(d.validation.metadata.checked >= 5, JSON.stringify(d.validation));
    assert.equal(d.validation.metadata.mismatched, 0);
    for (const k of ['started_at', 'restore_started_at', 'data_restored_at', 'completed_at'])
      assert.ok(!Number.isNaN(Date.parse(d.timeline[k as keyof Details['timeline']]!)), k);
    assert.equal(d.corrective_action, null);
    // The original is as it was.
    assert.equal(await readFile(changed, 'utf8'), 'changed after the backup\n');
    assert.equal((await stat(changed)).mtimeMs, before.mtimeMs);
    assert.deepEqual((await readdir(data, { recursive: true })).sort(), listing.sort());
  });

  test('a dry run is recorded as simulated and does not move the rotation', async () => {
    const r = await drill(['--dataset', 'files', '--dry-run']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /SIMULATED/);
    assert.match(r.out, /RPO: .*not judged \(simulated\)/);
    const d = lastDrill().details as unknown as Details;
    assert.equal(d.simulated, true);
    assert.equal(d.target.path, null);
    assert.equal(d.measurements.rpo_met, null);
    assert.equal(typeof d.measurements.recovery_point_age_seconds, 'number');
    assert.equal(d.selection.repository_name, 'local');
    const real = await drill(['--dataset', 'files']);
    assert.equal(real.code, 0, real.err);
    assert.equal((lastDrill().details as unknown as Details).selection.repository_name, 'local');
  });

  test('a corrupted pack fails the drill and opens a corrective action that only a full drill of the repaired copy closes', async () => {
    const packs = path.join(repo('local'), 'data');
    // The bytes overwritten, to repair the copy afterwards.
    const saved: { file: string; mode: number; bytes: Buffer }[] = [];
    for (const sub of await readdir(packs)) {
      for (const name of await readdir(path.join(packs, sub))) {
        const file = path.join(packs, sub, name);
        const mode = (await stat(file)).mode & 0o7777;
        await chmod(file, 0o600);
        const fh = await open(file, 'r+');
        try {
          const bytes = Buffer.alloc(64);
          const { bytesRead } = await fh.read(bytes, 0, 64, 40);
          saved.push({ file, mode, bytes: bytes.subarray(0, bytesRead) });
          await fh.write(Buffer.alloc(bytesRead, 0xee), 0, bytesRead, 40);
        } finally {
          await fh.close();
        }
      }
    }
    assert.ok(saved.length > 0);
    const r = await drill(['--dataset', 'files', '--repo', 'local']);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /FAILED at (restore|verify)/);
    const rec = lastDrill();
    const d = rec.details as unknown as Details;
    assert.equal(rec.result, 'failed');
    assert.equal(d.selection.method, 'named');
    assert.ok(['restore', 'verify'].includes(d.failure.stage!), String(d.failure.stage));
    assert.match(d.corrective_action!, /^CA-\d{8}T\d{6}Z-files/);
    const actions = () =>
      readJournal(journalFile).filter(
        (x) => x.operation === 'corrective-action' && x.details.id === d.corrective_action,
      );
    const opened = actions();
    assert.equal(opened.length, 1);
    assert.equal(opened[0]!.result, 'failed');
    assert.equal(opened[0]!.details.status, 'open');
    assert.equal(opened[0]!.details.drill_id, d.drill_id);
    assert.equal(opened[0]!.details.repository_name, 'local');
    assert.equal(opened[0]!.details.scope, 'full');
    assert.equal(opened[0]!.details.snapshot_rule, 'latest');
    assert.equal(opened[0]!.details.stage, d.failure.stage);
    const sent = (await readFile(events, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(
      sent.some((e) => e.event === 'drill-failure' && e.drill_id === d.drill_id && e.dataset === 'files'),
    );

    // The offsite copy is fine, but that says nothing of the damaged local copy: the action stays open.
    const other = await drill(['--dataset', 'files', '--repo', 'offsite']);
    assert.equal(other.code, 0, other.err);
    assert.equal(lastDrill().result, 'success');
    assert.match(
      other.err + other.out,
      /corrective action CA-\S+ stays open: it needs a passing drill from repository local, of every file/,
    );
    assert.equal(actions().length, 1);

    // Repaired, the local copy passes a full drill, which closes the action.
    for (const { file, mode, bytes } of saved) {
      const fh = await open(file, 'r+');
      try {
        await fh.write(bytes, 0, bytes.length, 40);
      } finally {
        await fh.close();
      }
      await chmod(file, mode);
    }
    const ok = await drill(['--dataset', 'files', '--repo', 'local', '--full']);
    assert.equal(ok.code, 0, ok.out + ok.err);
    const closer = lastDrill();
    assert.equal(closer.result, 'success');
    const closed = actions().filter((x) => x.result === 'success');
    assert.equal(closed.length, 1);
    assert.equal(closed[0]!.details.status, 'closed');
    assert.equal(closed[0]!.details.closed_by_drill, closer.details.drill_id);
  });

  test('a sandbox that is a source path is refused and nothing is written there', async () => {
    const other = path.join(root, 'refusing.yaml');
    await writeFile(other, policyText(`{every: 30d, sandbox: ${JSON.stringify(data)}}`));
    const listing = (await readdir(data, { recursive: true })).sort();
    const r = await drill(['--dataset', 'files', '--repo', 'offsite'], other);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /refusing drill sandbox .*: it is a source path of dataset files/);
    assert.deepEqual((await readdir(data, { recursive: true })).sort(), listing);
    const rec = lastDrill();
    assert.equal(rec.result, 'failed');
    assert.equal((rec.details as unknown as Details).failure.stage, 'select');
    assert.equal((rec.details as unknown as Details).target.path, null);
  });

  test('a sample forecasts the full restore time, and one over the RTO is reported as missed', async () => {
    const large = Buffer.from(path.join(big, 'large.bin'));
    const tiny = Buffer.from(path.join(big, 'tiny.txt'));
    // A seed whose half-sample is the 1-byte file: its throughput forecasts the 8 MB far over 1 s.
    let seed = '';
    for (let i = 0; i < 100 && seed === ''; i++)
      if (sampleFiles([large, tiny], 50, `seed${i}`).has(tiny.toString('latin1'))) seed = `seed${i}`;
    assert.notEqual(seed, '');
    const r = await drill(['--dataset', 'big', '--sample', '50%', '--seed', seed]);
    assert.equal(r.code, 3, r.out + r.err);
    assert.match(r.out, /forecast .* against 1s: MISSED/);
    const rec = lastDrill();
    const d = rec.details as unknown as Details;
    assert.equal(rec.result, 'partial');
    assert.equal(d.scope, 'sample');
    assert.equal(d.sample_percent, 50);
    assert.equal(d.selection.seed, seed);
    assert.equal(d.measurements.restore_time_kind, 'forecast');
    assert.equal(d.measurements.files_restored, 1);
    assert.equal(d.measurements.bytes_restored, 1);
    assert.equal(d.measurements.snapshot_bytes, 8_000_001);
    assert.equal(d.measurements.rto_met, false);
    assert.equal(d.measurements.rpo_met, true);
    assert.ok(d.measurements.restore_time_seconds! > 1);
    assert.equal(d.failure.stage, null);
    assert.match(d.corrective_action!, /^CA-/);
    // The same seed picks the same file again.
    const again = await drill(['--dataset', 'big', '--sample', '50%', '--seed', seed, '--json']);
    assert.equal(again.code, 3);
    assert.equal((lastDrill().details as unknown as Details).measurements.bytes_restored, 1);
    // restic agrees that the repository was left as it was: the drill only reads.
    const check = await restic(['check'], { repo: repo('offsite'), passwordFile: pw, allowFail: true });
    assert.equal(check.code, 0, check.stderr);
  });
});
