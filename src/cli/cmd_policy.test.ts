import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError, ExitCode } from '../errors.js';
import { readPolicy } from '../policy/load.js';
import { registerPolicy } from './cmd_policy.js';
import type { Output } from './context.js';
import { policyCheck, policyInit, policySchemaText, reportPolicyCheck } from './policy_actions.js';

/** An Output that collects what a command prints. */
function collector(json = false): Output & { lines: string[]; infos: string[] } {
  const lines: string[] = [];
  const infos: string[] = [];
  return {
    json,
    quiet: false,
    verbose: false,
    interactive: false,
    lines,
    infos,
    info: (l) => infos.push(l),
    print: (l) => lines.push(l),
    printJson: (doc) => lines.push(JSON.stringify(doc)),
    warn: (l) => infos.push(l),
  };
}

async function setUp(t: import('node:test').TestContext) {
  const dir = await tempDir(t, 'policy-cmd');
  const env = { XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  return { dir, env, now: new Date('2030-05-01T08:00:00Z') };
}

test('policy init writes the example on embedded defaults, which checks clean of errors', async (t) => {
  const { dir, env, now } = await setUp(t);
  const file = policyInit({ env, cwd: dir, now });
  assert.equal(file, path.join(dir, 'arca.yaml'));
  const { policy } = readPolicy(file);
  assert.equal(policy.repositories['local']?.location, path.join(dir, 'data', 'arca', 'repository'));
  assert.deepEqual(policy.repositories['local']?.password, {
    file: path.join(dir, 'config', 'arca', 'password'),
  });
  assert.deepEqual(policy.datasets['files']?.sources.paths, [dir]);
  assert.equal(policy.metadata.approved_on, '2030-05-01');

  const r = policyCheck({ env, cwd: dir, now });
  assert.equal(r.file, file);
  assert.equal(r.errors, 0);
  assert.deepEqual(
    r.findings.map((f) => f.requirement),
    ['R32', 'R34'],
  );
  const out = collector();
  reportPolicyCheck(r, out);
  assert.equal(out.lines.length, 2);
  assert.match(out.lines[0]!, /^warning R32 dataset files: no offsite copy/);
  assert.deepEqual(out.infos, [`${file}: valid, 0 errors, 2 warnings`]);
});

test('policy init refuses to replace a file without --force, and prints with --output -', async (t) => {
  const { dir, env, now } = await setUp(t);
  const file = path.join(dir, 'mine.yaml');
  writeFileSync(file, 'keep me\n');
  assert.throws(
    () => policyInit({ output: 'mine.yaml', env, cwd: dir, now }),
    (e: unknown) => e instanceof ArcaError && e.code === 'exists' && /--force/.test(e.message),
  );
  assert.equal(readFileSync(file, 'utf8'), 'keep me\n');
  assert.equal(policyInit({ output: 'mine.yaml', force: true, env, cwd: dir, now }), file);
  assert.match(readFileSync(file, 'utf8'), /^# arca backup policy/);
  let printed = '';
  assert.equal(
    policyInit({ output: '-', env, cwd: dir, now }, (s) => {
      printed += s;
    }),
    '-',
  );
  assert.equal(printed, readFileSync(file, 'utf8'));
  // ARCA_POLICY names the default file for init as for check.
  const named = policyInit({ env: { ...env, ARCA_POLICY: 'named.yaml' }, cwd: dir, now });
  assert.equal(named, path.join(dir, 'named.yaml'));
  assert.equal(policyCheck({ env: { ...env, ARCA_POLICY: 'named.yaml' }, cwd: dir, now }).errors, 0);
});

test('policy check: errors exit with 2 after printing every finding; --strict and --json', async (t) => {
  const { dir, env, now } = await setUp(t);
  const file = policyInit({ env, cwd: dir, now });
  writeFileSync(file, readFileSync(file, 'utf8').replace('rto: 8h', 'rto: 4d'));
  const r = policyCheck({ policy: file, env, cwd: dir, now });
  assert.equal(r.errors, 1);
  const out = collector();
  assert.throws(
    () => reportPolicyCheck(r, out),
    (e: unknown) =>
      e instanceof ArcaError &&
      e.exitCode === ExitCode.usage &&
      e.message === `${file}: 1 error, 2 warnings against the backup control`,
  );
  assert.deepEqual(
    out.lines.map((l) => l.split(' ').slice(0, 2).join(' ')),
    ['error R14', 'warning R32', 'warning R34'],
  );

  const json = collector(true);
  assert.throws(() => reportPolicyCheck(r, json), ArcaError);
  const doc = JSON.parse(json.lines[0]!) as {
    severity: string;
    requirement: string;
    subject: string;
    message: string;
  }[];
  assert.deepEqual(doc[0], {
    severity: 'error',
    requirement: 'R14',
    subject: 'dataset files',
    message: 'its rto of 4d is longer than its mtd of 3d',
  });

  writeFileSync(file, readFileSync(file, 'utf8').replace('rto: 4d', 'rto: 8h'));
  const strict = policyCheck({ policy: file, strict: true, env, cwd: dir, now });
  assert.equal(strict.errors, 2);
  assert.throws(() => reportPolicyCheck(strict, collector()), ArcaError);
});

test('policy check reports an invalid or missing file as ArcaError', async (t) => {
  const { dir, env, now } = await setUp(t);
  assert.throws(
    () => policyCheck({ env, cwd: dir, now }),
    (e: unknown) => e instanceof ArcaError && e.code === 'not-found',
  );
  writeFileSync(path.join(dir, 'arca.yaml'), 'metadata: {}\n');
  assert.throws(
    () => policyCheck({ env, cwd: dir, now }),
    (e: unknown) =>
      e instanceof ArcaError &&
      e.exitCode === ExitCode.usage &&
      e.message.split('\n')[0] === `${path.join(dir, 'arca.yaml')}:1:11: metadata.id: missing (required)`,
  );
});

test('policy schema prints the JSON Schema', () => {
  const schema = JSON.parse(policySchemaText()) as { properties: Record<string, unknown> };
  assert.ok(schema.properties['datasets']);
});

test('the commands are registered under policy and read the global --json', async (t) => {
  const { dir, env } = await setUp(t);
  const file = policyInit({ env, cwd: dir, output: path.join(dir, 'p.yaml') });
  const program = new Command('arca')
    .option('--json')
    .option('-q, --quiet')
    .option('--policy <file>')
    .exitOverride();
  registerPolicy(program);
  let stdout = '';
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => {
    stdout += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['policy', 'check', '--policy', file, '--json'], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  const findings = JSON.parse(stdout) as { requirement: string }[];
  assert.deepEqual(
    findings.map((f) => f.requirement),
    ['R32', 'R34'],
  );
});
