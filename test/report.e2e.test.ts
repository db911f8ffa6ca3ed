/**
 * The evidence pack end to end, as a user makes it: a policy with two local repositories,
 * `arca run` twice, a restore-drill record (written as the drill command writes it, by
 * contract), then `arca report --out DIR`. index.json must name every file with its real
 * SHA-256; report.json's numbers must be those the journal holds; the HTML must render in
 * a real headless browser (Debian's chromium) with its charts and without a console error
 * or a failed request; and the pack must be a snapshot tagged arca-report in each
 * repository, as restic sees it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Journal } from '../src/journal/journal.js';
import type { JournalRecord } from '../src/journal/record.js';
import { arca, arcaOk } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { restic, writePasswordFile } from './support/restic.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const password = 'report test password';
const today = new Date().toISOString().slice(0, 10);
const nextYear = `${Number(today.slice(0, 4)) + 1}${today.slice(4, 8)}01`;

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface ReportJson {
  period: { from: string; to: string };
  journal: { ok: boolean; records: number };
  datasets: {
    name: string;
    last_backup: { at: string; snapshot_id: string } | null;
    backups: { total: number; success: number };
    achieved_rpo: { seconds: number | null };
    last_drill: { drill_id: string; restore_time_seconds: number; rto_met: boolean } | null;
    simulated_drills_ignored: number;
    copies: { repository: string; snapshots: number }[];
    rule_32110: { digits: { digit: string; status: string }[] };
    encryption: { name: string; info: { kdf: string; kdf_params: { N: number } } | null }[];
  }[];
  requirements: { control: string; status: string }[];
}

describe('arca report, end to end', { skip: skipUnless('restic', 'restic') }, () => {
  let root: string;
  let pw: string;
  let env: NodeJS.ProcessEnv;
  let journalFile: string;
  let policyFile: string;
  const repoDir = (name: string) => path.join(root, `repo-${name}`);

  before(async () => {
    root = await makeTempDir('report-e2e');
    pw = await writePasswordFile(root, password);
    journalFile = path.join(root, 'state', 'journal.db');
    env = {
      ARCA_JOURNAL: journalFile,
      XDG_STATE_HOME: path.join(root, 'state-home'),
      XDG_CACHE_HOME: path.join(root, 'cache-home'),
    };
    for (const name of ['local', 'usb']) {
      await arcaOk(['init'], { repo: repoDir(name), passwordFile: pw, env });
      await useCheapKey(repoDir(name), password);
    }
    await mkdir(path.join(root, 'data'), { recursive: true });
    await writeFile(path.join(root, 'data', 'a.txt'), 'alpha\n'.repeat(1000));
    await writeFile(path.join(root, 'data', 'b.bin'), Buffer.alloc(50_000, 3));
    policyFile = path.join(root, 'arca.yaml');
    const repo = (name: string, site: string, media: string, offsite: boolean) => `
  ${name}:
    location: ${JSON.stringify(repoDir(name))}
    site: ${site}
    media: ${media}
    offsite: ${offsite}
    immutable: false
    password: {file: ${JSON.stringify(pw)}}`;
    await writeFile(
      policyFile,
      `metadata:
  id: POL-REPORT
  version: "3"
  owner: tests
  approved_by: tests
  approved_on: ${today}
  next_review: ${nextYear}
repositories:${repo('local', 'main', 'disk', false)}${repo('usb', 'vault', 'removable', true)}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 1
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources:
      paths: [${JSON.stringify(path.join(root, 'data'))}]
    schedule:
      full: {every: 1d}
    copies: [local, usb]
    retention:
      keep: {last: 10}
    drill: {every: 30d}
scheduler:
  retry: {attempts: 0, delay: 1s}
`,
    );
  });

  after(async () => {
    if (root) await removeTree(root);
  });

  test('writes a verifiable pack whose numbers are the journal’s and stores it in each repository', async () => {
    const opts = { env: { ...env, ARCA_POLICY: policyFile } };
    await arcaOk(['run'], opts);
    await writeFile(path.join(root, 'data', 'c.txt'), 'gamma\n'.repeat(300));
    await arcaOk(['run', '--dataset', 'files'], opts);

    // A drill as the drill command records it (restore-drill/v1), and a simulated one that must not count.
    const journal = Journal.open(journalFile);
    let records: JournalRecord[];
    try {
      const last = journal.list({ operation: 'backup', dataset: 'files', result: 'success' }).at(-1)!;
      const started = new Date();
      const drill = (drillId: string, simulated: boolean, seconds: number, forecast = false) =>
        journal.append({
          operation: 'drill',
          result: seconds > 14400 ? 'partial' : 'success',
          started_at: started,
          ended_at: new Date(started.getTime() + 1500),
          dataset: 'files',
          repository: repoDir('usb'),
          level: 'full',
          snapshot_id: last.snapshot_id,
          bytes_read: 56_000,
          files_read: 3,
          policy_hash: last.policy_hash,
          details: {
            schema: 'restore-drill/v1',
            drill_id: drillId,
            kind: 'ad-hoc',
            simulated,
            scope: 'full',
            source: { repository_name: 'usb', site: 'vault', offsite: true, immutable: false },
            measurements: {
              restore_seconds: seconds,
              restore_time_kind: forecast ? 'forecast' : 'measured',
              restore_time_seconds: seconds,
              rto_seconds: 14400,
              rto_met: seconds <= 14400,
              rpo_seconds: 86400,
              rpo_met: true,
            },
            failure: { stage: null, reason: null },
            corrective_action: null,
          },
        });
      // A sample's forecast of 5h34m against the RTO of 4h: drawn as a forecast that missed.
      drill('DRL-test-forecast', false, 20_000, true);
      drill('DRL-test-real', false, 1.25);
      drill('DRL-test-sim', true, 99);
      records = journal.list();
    } finally {
      journal.close();
    }

    const out = path.join(root, 'pack');
    await arcaOk(['report', '--out', out], opts);

    // index.json names every artifact with its real hash and size.
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as {
      artifacts: { name: string; sha256: string; bytes: number }[];
    };
    assert.deepEqual(index.artifacts.map((a) => a.name).sort(), ['report.html', 'report.json', 'report.md']);
    for (const a of index.artifacts) {
      const bytes = await readFile(path.join(out, a.name));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), a.sha256, a.name);
      assert.equal(bytes.length, a.bytes, a.name);
    }

    // report.json holds what the journal holds.
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as ReportJson;
    const backups = records.filter((r) => r.operation === 'backup' && r.dataset === 'files');
    const good = backups.filter((r) => r.result === 'success');
    const d = report.datasets.find((x) => x.name === 'files')!;
    assert.equal(d.backups.total, backups.length);
    assert.equal(d.backups.success, good.length);
    assert.equal(good.length, 2);
    assert.equal(d.last_backup?.at, good.at(-1)!.started_at);
    assert.equal(d.last_backup?.snapshot_id, good.at(-1)!.snapshot_id);
    const times = good.map((r) => Date.parse(r.started_at));
    const gaps = [times[1]! - times[0]!, Date.parse(report.period.to) - times[1]!];
    assert.equal(d.achieved_rpo.seconds, Math.max(...gaps) / 1000);
    assert.equal(d.last_drill?.drill_id, 'DRL-test-real');
    assert.equal(d.last_drill?.restore_time_seconds, 1.25);
    assert.equal(d.simulated_drills_ignored, 1);
    assert.deepEqual(
      d.copies.map((c) => [c.repository, c.snapshots]),
      [
        ['local', 2],
        ['usb', 2],
      ],
    );
    const digits = Object.fromEntries(d.rule_32110.digits.map((x) => [x.digit, x.status]));
    assert.deepEqual(digits, {
      '3': 'pass',
      '2': 'pass',
      '1 offsite': 'pass',
      '1 immutable': 'fail',
      '0': 'fail',
    });
    assert.equal(d.encryption[0]!.info?.kdf, 'scrypt');
    assert.equal(d.encryption[0]!.info?.kdf_params.N, 1024);
    assert.equal(report.journal.ok, true);
    assert.ok(report.journal.records >= records.length);
    assert.equal(report.requirements.find((r) => r.control === '27002 8.13(d)')?.status, 'organisational');

    // The pack is a snapshot of its own in each repository, recorded in the journal.
    for (const name of ['local', 'usb']) {
      const listed = JSON.parse(
        (
          await restic(['snapshots', '--json', '--tag', 'arca-report'], {
            repo: repoDir(name),
            passwordFile: pw,
          })
        ).stdout,
      ) as { paths: string[] }[];
      assert.equal(listed.length, 1, name);
      const ls = await restic(['ls', 'latest', '--tag', 'arca-report'], {
        repo: repoDir(name),
        passwordFile: pw,
      });
      assert.match(ls.stdout, /index\.json/);
      assert.match(ls.stdout, /report\.html/);
    }
    const reader = Journal.open(journalFile, { readonly: true });
    try {
      const stored = reader.list({ operation: 'report' });
      assert.equal(stored.length, 2);
      assert.ok(stored.every((r) => r.result === 'success' && r.snapshot_id !== null));
    } finally {
      reader.close();
    }

    // --no-store writes only the chosen files.
    const jsonOnly = path.join(root, 'json-only');
    const r = await arca(['report', '--out', jsonOnly, '--format', 'json', '--no-store'], opts);
    assert.equal(r.code, 0, r.err);
    const onlyIndex = JSON.parse(await readFile(path.join(jsonOnly, 'index.json'), 'utf8')) as ReportJson & {
      artifacts: { name: string }[];
    };
    assert.deepEqual(
      onlyIndex.artifacts.map((a) => a.name),
      ['report.json'],
    );
  });

  test('the HTML renders in headless chromium with its charts, no console error and no failed request', {
    skip: skipUnless('chromium', 'chromium'),
  }, async () => {
    const out = path.join(root, 'pack');
    const html = path.join(out, 'report.html');
    const { chromium } = await import('playwright-core');
    const profile = path.join(root, 'chromium-profile');
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: chromiumArgs,
      headless: true,
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
      assert.match(await page.title(), /Backup evidence pack: POL-REPORT/);
      assert.ok((await page.locator('svg.chart').count()) >= 3, 'charts are present');
      assert.ok((await page.locator('svg.chart polyline').count()) >= 2, 'time series are drawn');
      assert.ok((await page.locator('svg.chart rect.bar').count()) >= 1, 'restore times are drawn');
      // A forecast over the RTO keeps the forecast's dashed outline (it is not a measured miss), and the legend says which is which.
      const style = (selector: string) =>
        page
          .locator(selector)
          .first()
          .evaluate((e) => {
            // Runs in the page (the tests are type-checked without the DOM library).
            type Style = { fill: string; stroke: string; strokeDasharray: string };
            const s = (globalThis as unknown as { getComputedStyle(e: unknown): Style }).getComputedStyle(e);
            return { fill: s.fill, stroke: s.stroke, dash: s.strokeDasharray };
          });
      const forecastMiss = await style('svg.chart > rect.bar.forecast.miss');
      const measured = await style('svg.chart > rect.bar:not(.forecast):not(.miss)');
      const measuredMiss = await style('svg.chart .legend-items rect.bar.miss:not(.forecast)');
      assert.equal(forecastMiss.stroke, 'rgb(207, 34, 46)');
      assert.notEqual(forecastMiss.dash, 'none');
      assert.notEqual(forecastMiss.fill, measuredMiss.fill);
      assert.equal(measured.dash, 'none');
      assert.equal(measuredMiss.fill, 'rgb(207, 34, 46)');
      assert.match(
        (await page.locator('svg.chart .legend-items').first().textContent()) ?? '',
        /measured.*forecast.*measured, missed.*forecast, missed.*RTO 4h/,
      );
      assert.match((await page.locator('body').textContent()) ?? '', /3-2-1-1-0/);
      // Self-contained: the only request is the file itself.
      assert.deepEqual(requests, [pathToFileURL(html).href]);
      await page.emulateMedia({ media: 'print' });
      assert.ok((await page.pdf()).length > 1000, 'it prints');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
