/**
 * `arca policy init|schema|check` as a user types them: the example that `init` writes is
 * valid and checks without errors; a policy that breaks the control exits 2 with each
 * finding's requirement ID; `schema` prints a JSON Schema; bad input never gets a stack trace.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { arca } from './support/arca.js';
import { tempDir } from './support/tmp.js';

test('init writes a policy that check accepts; breaking RPO and MTD makes check fail with the requirement IDs', async (t) => {
  const dir = await tempDir(t, 'policy-cli');
  const env = { XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  const file = path.join(dir, 'arca.yaml');
  const init = await arca(['policy', 'init', '--output', file], { cwd: dir, env });
  assert.equal(init.code, 0, init.err);
  const again = await arca(['policy', 'init', '--output', file], { cwd: dir, env });
  assert.equal(again.code, 1);
  assert.match(again.err, /already exists.*--force/);

  const ok = await arca(['policy', 'check'], { cwd: dir, env });
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /warning R32 .*offsite/);
  assert.match(ok.out, /0 errors/);
  const strict = await arca(['policy', 'check', '--strict', '--policy', file], { cwd: dir, env });
  assert.equal(strict.code, 2);

  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace('rpo: 24h', 'rpo: 12h').replace('mtd: 3d', 'mtd: 4h'));
  const bad = await arca(['--json', 'policy', 'check', '--policy', file], { cwd: dir, env });
  assert.equal(bad.code, 2, bad.out + bad.err);
  const findings = JSON.parse(bad.out) as { severity: string; requirement: string }[];
  const errors = findings.filter((f) => f.severity === 'error').map((f) => f.requirement);
  assert.deepEqual(errors.sort(), ['R14', 'R15']);

  await writeFile(file, text.replace('media: disk', 'media: floppy'));
  const invalid = await arca(['policy', 'check', '--policy', file], { cwd: dir, env });
  assert.equal(invalid.code, 2);
  assert.match(invalid.err, /repositories\.local\.media/);
  assert.doesNotMatch(invalid.err, /\n\s+at /, 'no stack trace');
});

test('schema prints a JSON Schema naming the top-level keys', async () => {
  const r = await arca(['policy', 'schema']);
  assert.equal(r.code, 0, r.err);
  const schema = JSON.parse(r.out) as { properties: Record<string, unknown> };
  for (const key of ['metadata', 'repositories', 'datasets']) assert.ok(key in schema.properties, key);
});
