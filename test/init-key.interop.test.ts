/**
 * Repositories and keys made by arca work with restic and the other way round: `arca init`
 * writes a repository restic opens and checks, `arca key add|remove|passwd` change which
 * passwords restic accepts, `arca key list` shows what `restic key list` shows, and
 * `arca unlock` removes exactly the locks restic considers stale. No arca output may ever
 * contain a password.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { LocalBackend } from '../src/backend/local.js';
import { initRepository } from '../src/repo/init.js';
import { calibrateKdf } from '../src/repo/kdf.js';
import type { KeyFile } from '../src/repo/key.js';
import { degree, isIrreducible, parsePolynomial } from '../src/repo/polynomial.js';
import { Repository } from '../src/repo/repository.js';
import { type ArcaOptions, type ArcaResult, arca } from './support/arca.js';
import { cheapKdf } from './support/cheap-key.js';
import { restic, resticCat, resticInit, writePasswordFile } from './support/restic.js';
import { tempDir } from './support/tmp.js';
import { requireTool } from './support/tools.js';

const secrets = ['first-Pa55word', 'second-Pa55word', 'third-Pa55word', 'source-Pa55word'] as const;
const [pw1, pw2, pw3, pwSource] = secrets;

/** A directory with one password file per secret. */
async function setup(
  t: TestContext,
  prefix: string,
): Promise<{ dir: string; files: Record<string, string> }> {
  const dir = await tempDir(t, prefix);
  const files: Record<string, string> = {};
  for (const [i, secret] of secrets.entries()) {
    const sub = path.join(dir, `pw${i}`);
    await mkdir(sub);
    files[secret] = await writePasswordFile(sub, `${secret}\n`);
  }
  return { dir, files };
}

/** Runs arca and fails the test if any password shows up in what it printed. */
async function run(args: readonly string[], opts: ArcaOptions): Promise<ArcaResult> {
  const r = await arca(args, opts);
  for (const s of secrets) {
    assert.ok(!r.out.includes(s) && !r.err.includes(s), `arca ${args.join(' ')} printed a password`);
  }
  return r;
}

async function runOk(args: readonly string[], opts: ArcaOptions): Promise<ArcaResult> {
  const r = await run(args, opts);
  assert.equal(r.code, 0, `arca ${args.join(' ')}: ${r.err}`);
  return r;
}

interface ResticConfig {
  version: number;
  id: string;
  chunker_polynomial: string;
}

async function resticConfig(repo: string, passwordFile: string): Promise<ResticConfig> {
  return JSON.parse((await resticCat(repo, passwordFile, 'config')).toString('utf8')) as ResticConfig;
}

async function resticOpens(repo: string, passwordFile: string): Promise<boolean> {
  return (await restic(['cat', 'config'], { repo, passwordFile, allowFail: true })).code === 0;
}

function keyIds(repo: string): string[] {
  return readdirSync(path.join(repo, 'keys')).sort();
}

/** Every file below `dir` with its SHA-256, to prove that nothing changed. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel))) {
      const r = path.join(rel, name);
      if (statSync(path.join(dir, r)).isDirectory()) {
        out[`${r}/`] = '';
        walk(r);
      } else
        out[r] = createHash('sha256')
          .update(readFileSync(path.join(dir, r)))
          .digest('hex');
    }
  };
  walk('');
  return out;
}

/** The PID of a process that has just exited, so that no process has it. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

test('initRepository with given KDF parameters, version and polynomial', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'init-direct');
  const repo = path.join(dir, 'repo');
  const pol = 0x3da3358b4dc173n; // a restic/chunker test polynomial
  await initRepository(new LocalBackend(repo), pw1, {
    kdf: cheapKdf,
    version: 1,
    chunkerPolynomial: pol,
  });
  const cfg = await resticConfig(repo, files[pw1]!);
  assert.equal(cfg.version, 1);
  assert.equal(cfg.chunker_polynomial, '3da3358b4dc173');
  const [keyId] = keyIds(repo);
  const kf = JSON.parse(readFileSync(path.join(repo, 'keys', keyId!), 'utf8')) as KeyFile;
  assert.deepEqual([kf.N, kf.r, kf.p], [1024, 8, 1]);
  // An init that stopped after the key leaves no config; a second init must not add a
  // key for another master key next to the orphan.
  await rm(path.join(repo, 'config'));
  await assert.rejects(initRepository(new LocalBackend(repo), pw1, { kdf: cheapKdf }), /already holds key/);
  assert.deepEqual(keyIds(repo), [keyId]);
  await assert.rejects(
    initRepository(new LocalBackend(path.join(dir, 'bad')), pw1, {
      kdf: cheapKdf,
      chunkerPolynomial: 6n,
    }),
    /not irreducible/,
  );
});

test('KDF calibration follows simple-scrypt: r = 8, N from the memory limit, p ≥ 1', async () => {
  // 1 MiB allows N = 512 (128 · 8 · 1024 would be exactly 1 MiB, not below it).
  const small = await calibrateKdf(100, 1);
  assert.equal(small.r, 8);
  assert.ok(small.N <= 512 && (small.N & (small.N - 1)) === 0, `N=${small.N}`);
  assert.ok(small.p >= 1);
});

test('arca init makes a repository restic reads and checks', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'init');
  const repo = path.join(dir, 'repo');
  const r = await runOk(['init'], { repo, passwordFile: files[pw1] });
  const m = /^created restic repository ([0-9a-f]{10}) at (.*)$/m.exec(r.out);
  assert.ok(m, r.out);
  assert.equal(m[2], repo);
  assert.match(r.out, /Losing your password means that your data is\nirrecoverably lost\./);

  const cfg = await resticConfig(repo, files[pw1]!);
  assert.equal(cfg.version, 2);
  assert.ok(cfg.id.startsWith(m[1]!));
  const pol = parsePolynomial(cfg.chunker_polynomial);
  assert.equal(degree(pol), 53);
  assert.ok(isIrreducible(pol));
  const check = await restic(['check'], { repo, passwordFile: files[pw1]!, allowFail: true });
  assert.equal(check.code, 0, check.stdout + check.stderr);

  // The key was made with calibrated parameters, as restic's are.
  const kf = JSON.parse(readFileSync(path.join(repo, 'keys', keyIds(repo)[0]!), 'utf8')) as KeyFile;
  assert.equal(kf.r, 8);
  assert.ok(kf.N <= 32768 && (kf.N & (kf.N - 1)) === 0 && kf.p >= 1, JSON.stringify(kf));

  const v1 = path.join(dir, 'v1');
  const j = await runOk(['--json', 'init', '--repository-version', '1'], {
    repo: v1,
    passwordFile: files[pw1],
  });
  const doc = JSON.parse(j.out) as { message_type: string; id: string; repository: string };
  assert.equal(doc.message_type, 'initialized');
  assert.equal(doc.repository, v1);
  const cfg1 = await resticConfig(v1, files[pw1]!);
  assert.deepEqual([cfg1.version, cfg1.id], [1, doc.id]);

  const bad = await run(['init', '--repository-version', '3'], {
    repo: path.join(dir, 'v3'),
    passwordFile: files[pw1],
  });
  assert.equal(bad.code, 2);
  assert.match(bad.err, /only repository versions between 1 and 2 are allowed/);
});

test('arca init refuses an existing repository and changes nothing', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'init-exists');
  const repo = path.join(dir, 'repo');
  await resticInit(repo, files[pw1]!);
  const before = fingerprint(repo);
  const r = await run(['init'], { repo, passwordFile: files[pw2] });
  assert.equal(r.code, 1);
  assert.match(r.err, /already exists/);
  assert.deepEqual(fingerprint(repo), before);
});

test('arca key list shows what restic key list shows', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'key-list');
  const repo = path.join(dir, 'repo');
  await resticInit(repo, files[pw1]!);
  await restic(['key', 'add', '--new-password-file', files[pw2]!, '--user', 'alice', '--host', 'elsewhere'], {
    repo,
    passwordFile: files[pw1]!,
  });
  type Listing = { current: boolean; id: string; userName: string; hostName: string; created: string };
  const byId = (a: Listing, b: Listing): number => a.id.localeCompare(b.id);
  const theirs = JSON.parse(
    (await restic(['key', 'list', '--json'], { repo, passwordFile: files[pw1]! })).stdout,
  ) as Listing[];
  const ours = JSON.parse(
    (await runOk(['--json', 'key', 'list'], { repo, passwordFile: files[pw1] })).out,
  ) as Listing[];
  assert.deepEqual(ours.sort(byId), theirs.sort(byId));
  assert.equal(ours.filter((k) => k.current).length, 1);

  // The table has restic's columns and layout (rows may come in another order).
  const lines = (s: string): string[] =>
    s
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => l !== '');
  const theirTable = lines((await restic(['key', 'list'], { repo, passwordFile: files[pw1]! })).stdout);
  const ourTable = lines((await runOk(['key', 'list'], { repo, passwordFile: files[pw1] })).out);
  assert.deepEqual(ourTable.slice(0, 2), theirTable.slice(0, 2));
  assert.deepEqual([...ourTable].sort(), [...theirTable].sort());
});

test('arca key add, remove and passwd change which passwords restic and arca accept', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'key-change');
  const repo = path.join(dir, 'repo');
  await runOk(['init'], { repo, passwordFile: files[pw1] });
  const [first] = keyIds(repo);

  const added = await runOk(
    ['key', 'add', '--new-password-file', files[pw2]!, '--host', 'h2', '--user', 'u2'],
    {
      repo,
      passwordFile: files[pw1],
    },
  );
  const second = /^saved new key with ID ([0-9a-f]{64})$/m.exec(added.out)?.[1];
  assert.ok(second, added.out);
  assert.deepEqual(keyIds(repo), [first, second].sort());
  assert.ok(await resticOpens(repo, files[pw2]!));
  const listed = JSON.parse(
    (await restic(['key', 'list', '--json'], { repo, passwordFile: files[pw2]! })).stdout,
  ) as {
    current: boolean;
    id: string;
    userName: string;
    hostName: string;
  }[];
  assert.deepEqual(
    listed.filter((k) => k.current).map((k) => [k.id, k.userName, k.hostName]),
    [[second.slice(0, 8), 'u2', 'h2']],
  );

  // Remove the first key by a prefix, using the second password.
  const removed = await runOk(['key', 'remove', first!.slice(0, 6)], { repo, passwordFile: files[pw2] });
  assert.match(removed.out, new RegExp(`removed key ${first}`));
  assert.deepEqual(keyIds(repo), [second]);
  assert.equal(await resticOpens(repo, files[pw1]!), false);
  const refused = await run(['key', 'list'], { repo, passwordFile: files[pw1] });
  assert.equal(refused.code, 12, refused.err);
  assert.match(refused.err, /wrong password/);

  // passwd: the new key replaces the one in use.
  const changed = await runOk(['key', 'passwd', '--new-password-file', files[pw3]!], {
    repo,
    passwordFile: files[pw2],
  });
  const third = /^saved new key with ID ([0-9a-f]{64})$/m.exec(changed.out)?.[1];
  assert.ok(third, changed.out);
  assert.deepEqual(keyIds(repo), [third]);
  assert.equal(await resticOpens(repo, files[pw2]!), false);
  assert.ok(await resticOpens(repo, files[pw3]!));
  assert.equal((await run(['key', 'list'], { repo, passwordFile: files[pw2] })).code, 12);

  // ARCA_NEW_PASSWORD_FILE is the other way to give the new password.
  await runOk(['key', 'add'], {
    repo,
    passwordFile: files[pw3],
    env: { ARCA_NEW_PASSWORD_FILE: files[pw1] },
  });
  assert.ok(await resticOpens(repo, files[pw1]!));

  // Every command released its lock, and the repository is sound.
  assert.deepEqual(readdirSync(path.join(repo, 'locks')), []);
  const check = await restic(['check'], { repo, passwordFile: files[pw3]!, allowFail: true });
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test('arca key remove refuses the key in use and needs a known ID', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'key-refuse');
  const repo = path.join(dir, 'repo');
  await resticInit(repo, files[pw1]!);
  const [current] = keyIds(repo);
  const r = await run(['key', 'remove', current!.slice(0, 8)], { repo, passwordFile: files[pw1] });
  assert.equal(r.code, 1);
  assert.match(r.err, /refusing to remove key currently used to access repository/);
  assert.deepEqual(keyIds(repo), [current]);
  const unknown = await run(['key', 'remove', current!.startsWith('0') ? '1' : '0'], {
    repo,
    passwordFile: files[pw1],
  });
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no key matches/);
  assert.ok(await resticOpens(repo, files[pw1]!));
});

test('arca init --copy-chunker-params takes the polynomial of a restic repository', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'init-copy');
  const source = path.join(dir, 'source');
  await resticInit(source, files[pwSource]!);
  const want = await resticConfig(source, files[pwSource]!);

  const viaFlags = path.join(dir, 'flags');
  const r = await runOk(
    ['init', '--copy-chunker-params', '--from-repo', source, '--from-password-file', files[pwSource]!],
    { repo: viaFlags, passwordFile: files[pw1] },
  );
  assert.match(r.out, /with chunker parameters copied from secondary repository/);
  const got = await resticConfig(viaFlags, files[pw1]!);
  assert.equal(got.chunker_polynomial, want.chunker_polynomial);
  assert.notEqual(got.id, want.id);

  const viaEnv = path.join(dir, 'env');
  await runOk(['init', '--copy-chunker-params'], {
    repo: viaEnv,
    passwordFile: files[pw1],
    env: { ARCA_FROM_REPOSITORY: source, ARCA_FROM_PASSWORD: pwSource },
  });
  assert.equal((await resticConfig(viaEnv, files[pw1]!)).chunker_polynomial, want.chunker_polynomial);

  // A wrong source password creates nothing.
  const wrong = path.join(dir, 'wrong');
  const w = await run(
    ['init', '--copy-chunker-params', '--from-repo', source, '--from-password-file', files[pw2]!],
    {
      repo: wrong,
      passwordFile: files[pw1],
    },
  );
  assert.equal(w.code, 12);
  assert.match(w.err, /source repository/);
  assert.throws(() => statSync(wrong), { code: 'ENOENT' });
});

test('arca unlock removes stale locks, and all locks with --remove-all', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const { dir, files } = await setup(t, 'unlock');
  const repo = path.join(dir, 'repo');
  await resticInit(repo, files[pw1]!);
  const r = await Repository.open(new LocalBackend(repo), pw1);
  const lock = { time: new Date().toISOString(), hostname: os.hostname(), username: os.userInfo().username };
  const stale = await r.saveJsonUnpacked('locks', { ...lock, exclusive: true, pid: await deadPid() });
  const live = await r.saveJsonUnpacked('locks', { ...lock, exclusive: false, pid: process.pid });
  const resticLocks = async (): Promise<string[]> =>
    (await restic(['list', 'locks', '--no-lock'], { repo, passwordFile: files[pw1]! })).stdout
      .split('\n')
      .filter(Boolean)
      .sort();
  assert.deepEqual(await resticLocks(), [stale, live].sort());

  const u = await runOk(['unlock'], { repo, passwordFile: files[pw1] });
  assert.match(u.out, /successfully removed 1 locks/);
  assert.deepEqual(await resticLocks(), [live]);

  await runOk(['unlock', '--remove-all'], { repo, passwordFile: files[pw1] });
  assert.deepEqual(await resticLocks(), []);
});
