import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import type { Sources } from '../policy/sources.js';
import { hasDumps, mysqlOptionValue, writeDumps } from './dumps.js';

const mode = async (p: string) => (await stat(p)).mode & 0o777;

/** Waits until `check` holds, polling at most `tries` times. */
async function eventually(check: () => boolean, what: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (check()) return;
    await sleep(50);
  }
  assert.fail(`gave up waiting for ${what}`);
}

/** True while process `pid` runs (a zombie counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('hasDumps is true only for sources with a dump', () => {
  assert.equal(hasDumps({ paths: ['/srv'] }), false);
  assert.equal(hasDumps({ paths: ['/srv'], postgres: [] }), false);
  assert.equal(hasDumps({ commands: [{ command: 'true', filename: 'x' }] }), true);
  assert.equal(hasDumps({ sqlite: [{ path: '/srv/app.db' }] }), true);
});

test('sqlite: a consistent, complete copy of a WAL database while another connection writes', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const dbPath = path.join(dir, 'app.db');
  const writer = new Database(dbPath);
  t.after(() => writer.close());
  writer.pragma('journal_mode = WAL');
  writer.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, batch INTEGER, payload BLOB)');
  writer.exec('CREATE TABLE batches (batch INTEGER PRIMARY KEY, rows INTEGER)');
  const insertItem = writer.prepare('INSERT INTO items (batch, payload) VALUES (?, ?)');
  const insertBatch = writer.prepare('INSERT INTO batches (batch, rows) VALUES (?, ?)');
  const payload = Buffer.alloc(1000, 7);
  const addBatch = (batch: number, rows: number) => {
    for (let i = 0; i < rows; i++) insertItem.run(batch, payload);
    insertBatch.run(batch, rows);
  };
  // About 16 MB: the copy takes many steps, and the writer writes between them.
  const initialBatches = 160;
  writer.transaction(() => {
    for (let b = 0; b < initialBatches; b++) addBatch(b, 100);
  })();

  // A write transaction left open while the backup starts.
  writer.exec('BEGIN IMMEDIATE');
  addBatch(initialBatches, 50);

  const staging = path.join(dir, 'state', 'staging');
  let done = false;
  const dumping = writeDumps({ sqlite: [{ path: dbPath }] }, staging).finally(() => {
    done = true;
  });
  // Once the copy has begun, the open transaction commits, and more follow between its steps.
  const copyFile = path.join(staging, 'sqlite', 'app.db');
  let commits = 0;
  for (let i = 0; i < 1_000_000 && !done; i++) {
    await nextTurn();
    if (done || !existsSync(copyFile)) continue;
    if (writer.inTransaction) writer.exec('COMMIT');
    else writer.transaction(() => addBatch(initialBatches + 1 + commits, 10))();
    commits++;
  }
  if (writer.inTransaction) writer.exec('COMMIT');
  const [result] = await dumping;
  assert.ok(commits > 0, 'the writer committed while the backup ran');

  assert.deepEqual(result && { kind: result.kind, name: result.name }, {
    kind: 'sqlite',
    name: 'sqlite/app.db',
  });
  assert.equal(result!.file, path.join(staging, 'sqlite', 'app.db'));
  assert.equal(result!.bytes, (await stat(result!.file)).size);
  assert.deepEqual(await readdir(path.join(staging, 'sqlite')), ['app.db'], 'no journal left behind');
  assert.equal(await mode(staging), 0o700);
  assert.equal(await mode(result!.file), 0o600);

  const copy = new Database(result!.file, { readonly: true });
  t.after(() => copy.close());
  assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  const batches = copy.prepare('SELECT batch, rows FROM batches ORDER BY batch').all() as {
    batch: number;
    rows: number;
  }[];
  for (let b = 0; b < initialBatches; b++) assert.equal(batches[b]?.batch, b, `batch ${b} is in the copy`);

  const counts = new Map(
    (
      copy.prepare('SELECT batch, count(*) AS n FROM items GROUP BY batch').all() as {
        batch: number;
        n: number;
      }[]
    ).map((r) => [r.batch, r.n]),
  );
  assert.equal(counts.size, batches.length, 'no rows of a transaction the copy does not hold');
  for (const { batch, rows } of batches) assert.equal(counts.get(batch), rows, `every row of batch ${batch}`);
});

test('sqlite: a missing database is not-found', async (t) => {
  const dir = await tempDir(t, 'dumps');
  await assert.rejects(
    writeDumps({ sqlite: [{ path: path.join(dir, 'gone.db') }] }, path.join(dir, 'staging')),
    (err) => err instanceof ArcaError && err.code === 'not-found' && err.message.includes('gone.db'),
  );
});

test('commands: output is streamed into the file, 0600, under the staging directory emptied first', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const staging = path.join(dir, 'staging');
  await mkdir(staging, { recursive: true });
  await writeFile(path.join(staging, 'left-over'), 'old');
  const size = 50 * 1024 * 1024;
  const results = await writeDumps(
    {
      commands: [
        { command: `yes abcdefghij | head -c ${size}`, filename: 'big/stream.txt' },
        { command: 'printf small', filename: 'small.txt' },
      ],
    },
    staging,
  );
  assert.deepEqual(
    results.map((r) => [r.kind, r.name, r.file, r.bytes]),
    [
      ['commands', 'big/stream.txt', path.join(staging, 'big/stream.txt'), size],
      ['commands', 'small.txt', path.join(staging, 'small.txt'), 5],
    ],
  );
  assert.ok(results.every((r) => r.ms >= 0));
  assert.deepEqual((await readdir(staging)).sort(), ['big', 'small.txt']);
  assert.equal(await mode(staging), 0o700);
  assert.equal(await mode(path.join(staging, 'big')), 0o700);
  assert.equal(await mode(results[0]!.file), 0o600);

  const line = Buffer.from('abcdefghij\n');
  const block = Buffer.concat(Array.from({ length: 100_000 }, () => line));
  const expected = createHash('sha256');
  for (let left = size; left > 0; left -= block.length)
    expected.update(block.subarray(0, Math.min(left, block.length)));
  const actual = createHash('sha256');
  for await (const chunk of (await import('node:fs')).createReadStream(results[0]!.file))
    actual.update(chunk);
  assert.equal(actual.digest('hex'), expected.digest('hex'));
});

test('commands: a failure names the output and the last line of stderr, never the command', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const staging = path.join(dir, 'staging');
  const command =
    "export DB_PASSWORD=hunter2; echo partial; echo 'warming up' >&2; echo 'no such table' >&2; exit 2";
  await assert.rejects(writeDumps({ commands: [{ command, filename: 'sqlite/app.db' }] }, staging), (err) => {
    assert.ok(err instanceof ArcaError);
    assert.equal(err.code, 'io');
    assert.equal(err.message, 'source command for sqlite/app.db failed (exit code 2): no such table');
    return true;
  });
  assert.equal(existsSync(path.join(staging, 'sqlite/app.db')), false, 'the partial output is removed');
});

test('commands: a command killed by a signal fails', async (t) => {
  const dir = await tempDir(t, 'dumps');
  await assert.rejects(
    writeDumps({ commands: [{ command: 'kill -KILL $$', filename: 'out' }] }, dir + '/s'),
    {
      code: 'io',
      message: 'source command for out failed (killed by SIGKILL)',
    },
  );
});

test('commands: a dump that runs out of time is killed and fails', async (t) => {
  const dir = await tempDir(t, 'dumps');
  await assert.rejects(
    writeDumps({ commands: [{ command: 'sleep 60', filename: 'out' }] }, dir + '/s', { timeoutMs: 200 }),
    { code: 'io', message: 'source command for out failed (timed out after 200ms)' },
  );
});

test('commands: aborting stops the command and everything it started', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const staging = path.join(dir, 'staging');
  const controller = new AbortController();
  const dumping = writeDumps(
    { commands: [{ command: 'sleep 60 & echo $!; wait', filename: 'out' }] },
    staging,
    { signal: controller.signal },
  );
  const out = path.join(staging, 'out');
  const pid = () => Number((existsSync(out) ? readFileSync(out, 'utf8') : '').trim());
  await eventually(() => pid() > 0, 'the command to start');
  const sleeper = pid();
  controller.abort();
  await assert.rejects(dumping, { code: 'interrupted', message: 'source command for out interrupted' });
  await eventually(() => !running(sleeper), 'the background sleep to end');

  await assert.rejects(
    writeDumps({ commands: [{ command: 'true', filename: 'x' }] }, staging, { signal: controller.signal }),
    {
      code: 'interrupted',
    },
  );
});

/** A directory with fake `pg_dump` and `mysqldump` that record how they were called into `$FAKE_RECORD`. */
async function fakeTools(dir: string): Promise<{ bin: string; record: string }> {
  const bin = path.join(dir, 'bin');
  const record = path.join(dir, 'record');
  await mkdir(bin);
  await mkdir(record);
  const common = `#!/bin/sh
: > "$FAKE_RECORD/argv"
for a in "$@"; do printf '%s\\0' "$a" >> "$FAKE_RECORD/argv"; done
printf '%s' "\${PGPASSWORD-<unset>}" > "$FAKE_RECORD/pgpassword"
printf '%s' "\${MYSQL_PWD-<unset>}" > "$FAKE_RECORD/mysql_pwd"
case "$1" in --defaults-extra-file=*)
  f="\${1#--defaults-extra-file=}"
  printf '%s' "$f" > "$FAKE_RECORD/defaults_path"
  cp "$f" "$FAKE_RECORD/defaults"
  stat -c %a "$f" > "$FAKE_RECORD/defaults_mode";;
esac
if [ -n "$FAKE_FAIL" ]; then echo "$FAKE_FAIL" >&2; exit 1; fi
`;
  await writeFile(path.join(bin, 'pg_dump'), `${common}echo '-- PostgreSQL database dump'\n`);
  await writeFile(path.join(bin, 'mysqldump'), `${common}echo '-- MySQL dump'\n`);
  await chmod(path.join(bin, 'pg_dump'), 0o755);
  await chmod(path.join(bin, 'mysqldump'), 0o755);
  return { bin, record };
}

const readArgv = async (record: string) =>
  (await readFile(path.join(record, 'argv'), 'utf8')).split('\0').slice(0, -1);

test('postgres: pg_dump with the server options, the password in PGPASSWORD only', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const { bin, record } = await fakeTools(dir);
  const password = 'pg s3cret#1';
  const env = { PATH: `${bin}:${process.env['PATH']}`, FAKE_RECORD: record, SHOP_PW: password };
  const sources: Sources = {
    postgres: [
      {
        database: 'shop',
        host: 'db.example',
        port: 5433,
        user: 'backup',
        password: { env: 'SHOP_PW' },
        args: ['--no-owner'],
      },
      { database: 'crm', filename: 'crm.sql' },
    ],
  };
  const staging = path.join(dir, 'staging');
  const [shop, crm] = await writeDumps(sources, staging, { env });
  // The second call overwrote the record: check it, then run the first alone.
  assert.deepEqual(await readArgv(record), ['--format=plain', '--no-password', 'crm']);
  assert.equal(await readFile(path.join(record, 'pgpassword'), 'utf8'), '<unset>');
  assert.equal(crm?.name, 'crm.sql');
  assert.equal(crm?.file, path.join(staging, 'crm.sql'));

  assert.equal(shop?.name, 'postgres/shop.sql');
  assert.equal(await readFile(shop!.file, 'utf8'), '-- PostgreSQL database dump\n');
  assert.equal(await mode(shop!.file), 0o600);

  await writeDumps({ postgres: [sources.postgres![0]!] }, staging, { env });
  const argv = await readArgv(record);
  assert.deepEqual(argv, [
    '--format=plain',
    '--no-password',
    '--host',
    'db.example',
    '--port',
    '5433',
    '--username',
    'backup',
    '--no-owner',
    'shop',
  ]);
  assert.ok(!argv.some((a) => a.includes('s3cret')), 'the password is not on the command line');
  assert.equal(await readFile(path.join(record, 'pgpassword'), 'utf8'), password);
});

test('postgres: a failing pg_dump names the output and its error', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const { bin, record } = await fakeTools(dir);
  const env = {
    PATH: `${bin}:${process.env['PATH']}`,
    FAKE_RECORD: record,
    FAKE_FAIL: 'pg_dump: error: connection to server failed',
  };
  await assert.rejects(writeDumps({ postgres: [{ database: 'shop' }] }, path.join(dir, 's'), { env }), {
    code: 'io',
    message:
      'pg_dump for postgres/shop.sql failed (exit code 1): pg_dump: error: connection to server failed',
  });
});

/** What MySQL's option file reader makes of `line` (mysys/my_default.cc): [name, value]. */
function readMysqlOption(line: string): [string, string] {
  let quote = '';
  let escaped = false;
  let end = line.length;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if ((c === "'" || c === '"') && !escaped) {
      if (quote === '') quote = c;
      else if (quote === c) quote = '';
    }
    if (quote === '' && c === '#') {
      end = i;
      break;
    }
    escaped = quote !== '' && c === '\\' && !escaped;
  }
  const text = line.slice(0, end);
  const eq = text.indexOf('=');
  let value = text.slice(eq + 1).trim();
  if ((value[0] === '"' || value[0] === "'") && value.length > 1 && value[0] === value[value.length - 1]) {
    value = value.slice(1, -1);
  }
  const decoded: Record<string, string> = {
    n: '\n',
    t: '\t',
    r: '\r',
    b: '\b',
    s: ' ',
    '"': '"',
    "'": "'",
    '\\': '\\',
  };
  let out = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && i !== value.length - 1) {
      const next = value[++i]!;
      out += decoded[next] ?? `\\${next}`;
    } else out += value[i];
  }
  return [text.slice(0, eq).trim(), out];
}

test('mysql: the option file value survives MySQL quoting rules', () => {
  for (const password of ['plain', ' p#a"s\'s\\w;ord ', 'ends with \\', '"quoted"', 'tab\there\nnewline']) {
    assert.deepEqual(readMysqlOption(`password=${mysqlOptionValue(password)}`), ['password', password]);
  }
});

test('mysql: mysqldump gets the password from a 0600 defaults file, its first argument, removed afterwards', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const { bin, record } = await fakeTools(dir);
  const password = ` my#"pa'ss\\word; `;
  const env = { PATH: `${bin}:${process.env['PATH']}`, FAKE_RECORD: record, SHOP_PW: password };
  const sources: Sources = {
    mysql: [
      {
        database: 'shop',
        host: 'db',
        port: 3307,
        user: 'backup',
        password: { env: 'SHOP_PW' },
        args: ['--hex-blob'],
      },
    ],
  };
  const [shop] = await writeDumps(sources, path.join(dir, 'staging'), { env });
  assert.equal(shop?.name, 'mysql/shop.sql');
  assert.equal(await readFile(shop!.file, 'utf8'), '-- MySQL dump\n');

  const defaultsPath = await readFile(path.join(record, 'defaults_path'), 'utf8');
  const argv = await readArgv(record);
  assert.deepEqual(argv, [
    `--defaults-extra-file=${defaultsPath}`,
    '--single-transaction',
    '--routines',
    '--triggers',
    '--events',
    '--host',
    'db',
    '--port',
    '3307',
    '--user',
    'backup',
    '--hex-blob',
    'shop',
  ]);
  assert.ok(!argv.some((a) => a.includes('pa')), 'the password is not on the command line');
  assert.equal(await readFile(path.join(record, 'mysql_pwd'), 'utf8'), '<unset>');
  assert.equal((await readFile(path.join(record, 'defaults_mode'), 'utf8')).trim(), '600');
  const [group, option] = (await readFile(path.join(record, 'defaults'), 'utf8')).split('\n');
  assert.equal(group, '[client]');
  assert.deepEqual(readMysqlOption(option!), ['password', password]);
  assert.ok(path.dirname(defaultsPath).startsWith(os.tmpdir()));
  assert.equal(existsSync(defaultsPath), false, 'the defaults file is gone');
  assert.equal(existsSync(path.dirname(defaultsPath)), false, 'and its directory');

  // Also when mysqldump fails.
  await assert.rejects(
    writeDumps(sources, path.join(dir, 'staging'), { env: { ...env, FAKE_FAIL: 'Access denied for user' } }),
    { code: 'io', message: 'mysqldump for mysql/shop.sql failed (exit code 1): Access denied for user' },
  );
  const failedPath = await readFile(path.join(record, 'defaults_path'), 'utf8');
  assert.notEqual(failedPath, defaultsPath);
  assert.equal(existsSync(failedPath), false, 'the defaults file is gone after a failure');
});

test('mysql: without a password there is no defaults file', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const { bin, record } = await fakeTools(dir);
  const env = { PATH: `${bin}:${process.env['PATH']}`, FAKE_RECORD: record };
  await writeDumps({ mysql: [{ database: 'shop' }] }, path.join(dir, 'staging'), { env });
  assert.deepEqual(await readArgv(record), [
    '--single-transaction',
    '--routines',
    '--triggers',
    '--events',
    'shop',
  ]);
});

test('a dump tool that is not installed is named with the package to install', async (t) => {
  const dir = await tempDir(t, 'dumps');
  const empty = path.join(dir, 'empty-bin');
  await mkdir(empty);
  const env = { PATH: empty, DB_PW: 'x' };
  const staging = path.join(dir, 'staging');
  await assert.rejects(writeDumps({ postgres: [{ database: 'shop' }] }, staging, { env }), {
    code: 'not-found',
    message: "pg_dump not found: install PostgreSQL's client tools (Debian: postgresql-client)",
  });
  await assert.rejects(
    writeDumps({ mysql: [{ database: 'shop', password: { env: 'DB_PW' } }] }, staging, { env }),
    (err) =>
      err instanceof ArcaError &&
      err.code === 'not-found' &&
      err.message.startsWith('mysqldump not found') &&
      err.message.includes('default-mysql-client') &&
      err.message.includes('mariadb-client'),
  );
});
