/**
 * arca and restic 0.14 sharing repositories on real remote servers started on 127.0.0.1:
 * what arca writes through a remote, restic checks (`--read-data`) and restores exactly;
 * what restic writes, arca checks and restores; `arca copy` moves snapshots between a
 * remote and a local repository. For the REST server, also: the metadata cache spares a
 * second command the downloads and repairs a damaged cached file. Over REST and S3, backup,
 * restore and check finish correctly through a proxy that fails, cuts and delays requests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { arca, arcaOk } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { compareTrees } from './support/compare-trees.js';
import { startFlakyProxy } from './support/flaky-proxy.js';
import { type RemoteTarget, restTarget, s3Bucket, s3Target, sftpTarget } from './support/remote-target.js';
import { restic, writePasswordFile } from './support/restic.js';
import { skipUnlessSshd } from './support/sshd.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const password = 'far away';

async function makeSource(root: string): Promise<string> {
  const src = path.join(root, 'src');
  await mkdir(path.join(src, 'etc', 'conf.d'), { recursive: true });
  await writeFile(path.join(src, 'db.dump'), randomBytes(6 * 1024 * 1024 + 3));
  await writeFile(path.join(src, 'etc', 'app.conf'), 'listen = 127.0.0.1\n'.repeat(200));
  await writeFile(path.join(src, 'etc', 'conf.d', 'small'), randomBytes(100));
  for (let i = 0; i < 40; i++) await writeFile(path.join(src, 'etc', `f${i}`), `file ${i}\n`);
  return src;
}

/** The end-to-end cases every remote kind passes. */
function remoteInterop(kind: string, start: () => Promise<RemoteTarget>, skip: string | false): void {
  describe(`remote repository: ${kind}`, { skip }, () => {
    let target: RemoteTarget;
    let root: string;
    let pw: string;
    let src: string;
    const run = (name: string, args: string[]) =>
      arca([...target.arcaArgs, ...args], {
        repo: target.location(name),
        passwordFile: pw,
        env: target.arcaEnv,
      });
    const runOk = async (name: string, args: string[]) => {
      const r = await run(name, args);
      assert.equal(r.code, 0, `arca ${args.join(' ')}: ${r.err}`);
      return r;
    };
    const resticOn = (name: string, args: string[]) =>
      restic([...target.resticArgs, ...args], {
        repo: target.resticRepo(name),
        passwordFile: pw,
        env: target.resticEnv,
      });

    before(async () => {
      target = await start();
      root = await makeTempDir(`remote-${target.kind}`);
      pw = await writePasswordFile(root, password);
      src = await makeSource(root);
    });
    after(async () => {
      await target?.stop();
      await removeTree(root);
    });

    test('what arca writes, restic lists, checks with --read-data and restores exactly', async () => {
      await runOk('by-arca', ['init']);
      await useCheapKey(target.open('by-arca'), password);
      await runOk('by-arca', ['backup', '--tag', 'remote', src]);
      const listed = JSON.parse((await resticOn('by-arca', ['snapshots', '--json'])).stdout) as {
        id: string;
        paths: string[];
        tags?: string[];
      }[];
      assert.equal(listed.length, 1);
      assert.deepEqual(listed[0]?.paths, [src]);
      assert.deepEqual(listed[0]?.tags, ['remote']);
      const check = await resticOn('by-arca', ['check', '--read-data']);
      assert.match(check.stdout, /no errors were found/);
      const target1 = path.join(root, 'restic-restored');
      await resticOn('by-arca', ['restore', 'latest', '--target', target1]);
      assert.deepEqual(await compareTrees(src, path.join(target1, src)), []);
      // arca reads it back through the remote too.
      const target2 = path.join(root, 'arca-restored');
      await runOk('by-arca', ['restore', 'latest', '--target', target2]);
      assert.deepEqual(await compareTrees(src, path.join(target2, src)), []);
    });

    test('what restic writes, arca checks with --read-data and restores exactly', async () => {
      await resticOn('by-restic', ['init']);
      await useCheapKey(target.open('by-restic'), password);
      await resticOn('by-restic', ['backup', src]);
      const check = await runOk('by-restic', ['check', '--read-data']);
      assert.match(check.out, /no errors were found/);
      const dest = path.join(root, 'from-restic');
      await runOk('by-restic', ['restore', 'latest', '--target', dest]);
      assert.deepEqual(await compareTrees(src, path.join(dest, src)), []);
    });

    test('arca copy carries snapshots from a local repository to the remote and back', async () => {
      const local = path.join(root, 'local-repo');
      await arcaOk(['init'], { repo: local, passwordFile: pw });
      await useCheapKey(local, password);
      await arcaOk(['backup', src], { repo: local, passwordFile: pw });
      await runOk('copied', ['init']);
      await useCheapKey(target.open('copied'), password);
      await runOk('copied', [
        'copy',
        '--from-repo',
        local,
        '--from-password-file',
        pw,
        '--verify-subset',
        '100%',
      ]);
      const again = await runOk('copied', [
        '--json',
        'copy',
        '--from-repo',
        local,
        '--from-password-file',
        pw,
      ]);
      assert.match(again.out, /"snapshots_copied":\[\]/);
      const check = await resticOn('copied', ['check', '--read-data']);
      assert.match(check.stdout, /no errors were found/);
      // And back from the remote into a second local repository.
      const back = path.join(root, 'back-repo');
      await arcaOk(['init'], { repo: back, passwordFile: pw });
      await useCheapKey(back, password);
      await arcaOk(
        [...target.arcaArgs, 'copy', '--from-repo', target.location('copied'), '--from-password-file', pw],
        { repo: back, passwordFile: pw, env: target.arcaEnv },
      );
      const dest = path.join(root, 'copied-back');
      await arcaOk(['restore', 'latest', '--target', dest], { repo: back, passwordFile: pw });
      assert.deepEqual(await compareTrees(src, path.join(dest, src)), []);
    });
  });
}

remoteInterop('rest', restTarget, skipUnless('restic', 'restic') || skipUnless('rclone', 'rclone'));
remoteInterop('sftp', sftpTarget, skipUnless('restic', 'restic') || skipUnlessSshd());
remoteInterop('s3', s3Target, skipUnless('restic', 'restic'));

describe('REST through a proxy: cache and faults', {
  skip: skipUnless('restic', 'restic') || skipUnless('rclone', 'rclone'),
}, () => {
  let target: RemoteTarget;
  let root: string;
  let pw: string;
  let src: string;

  before(async () => {
    target = await restTarget();
    root = await makeTempDir('remote-proxy');
    pw = await writePasswordFile(root, password);
    src = await makeSource(root);
  });
  after(async () => {
    await target?.stop();
    await removeTree(root);
  });

  test('a second command reads snapshots, index and trees from the cache; a damaged cached file is fetched again', async (t) => {
    const upstream = new URL(target.location('x').slice('rest:'.length)).origin;
    const proxy = await startFlakyProxy(upstream, null);
    t.after(() => proxy.stop());
    const repo = `rest:${proxy.url}/cached/`;
    const cache = path.join(root, 'cache');
    const run = (args: string[]) => arcaOk(['--cache-dir', cache, ...args], { repo, passwordFile: pw });
    await run(['init']);
    await useCheapKey(target.open('cached'), password);
    await run(['backup', src]);
    await run(['ls', 'latest']);
    const gets = (from: number) =>
      proxy.requests.slice(from).filter((r) => r.method === 'GET' && !r.path.endsWith('/'));
    const mark = proxy.requests.length;
    const listing = (await run(['ls', 'latest'])).out;
    assert.match(listing, /app\.conf/);
    const fetched = gets(mark).map((r) => r.path);
    assert.deepEqual(
      fetched.filter((p) => /\/(snapshots|index|data)\//.test(p)),
      [],
      `fetched again: ${fetched.join(', ')}`,
    );

    // Damage the cached index file: the next command notices, fetches it again and repairs the cache.
    const repoCache = path.join(
      cache,
      (await readdir(cache)).find((n) => /^[0-9a-f]{64}$/.test(n)) as string,
    );
    const indexDir = path.join(repoCache, 'index');
    const sub = (await readdir(indexDir))[0] as string;
    const [indexFile] = await readdir(path.join(indexDir, sub));
    await writeFile(path.join(indexDir, sub, indexFile as string), 'garbage');
    const mark2 = proxy.requests.length;
    await run(['ls', 'latest']);
    assert.ok(
      gets(mark2).some((r) => r.path.includes(`/index/${indexFile}`)),
      'the damaged index file was fetched again',
    );
    const mark3 = proxy.requests.length;
    await run(['ls', 'latest']);
    assert.ok(!gets(mark3).some((r) => r.path.includes('/index/')), 'the cache was repaired');
    // --no-cache goes to the server every time.
    const mark4 = proxy.requests.length;
    await arcaOk(['--no-cache', 'ls', 'latest'], { repo, passwordFile: pw });
    assert.ok(gets(mark4).some((r) => r.path.includes('/index/')));

    // check reads the server, not the cache: an index damaged there is found although the
    // cached copy is good (and with --with-cache, as restic, it trusts the cached copy).
    const onServer = path.join(target.dir('cached'), 'index', indexFile as string);
    const original = await readFile(onServer);
    await chmod(onServer, 0o600);
    await writeFile(
      onServer,
      Buffer.concat([original.subarray(0, 40), Buffer.from([original[40]! ^ 1]), original.subarray(41)]),
    );
    const check = await arca(['--cache-dir', cache, 'check'], { repo, passwordFile: pw });
    assert.equal(check.code, 1, check.out + check.err);
    assert.match(check.out + check.err, /index/);
    const cached = await arca(['--cache-dir', cache, 'check', '--with-cache'], { repo, passwordFile: pw });
    assert.equal(cached.code, 0, cached.out + cached.err);
    await writeFile(onServer, original);
  });

  test('a password in a location never reaches the output', async () => {
    const secret = 'S3cretPW';
    const url = new URL(target.location('x').slice('rest:'.length));
    const withPassword = `rest:http://bob:${secret}@${url.host}/nothing-here/`;
    const local = path.join(root, 'pw-local');
    await arcaOk(['init'], { repo: local, passwordFile: pw });
    const copied = await arca(['copy', '--from-repo', withPassword, '--from-password-file', pw], {
      repo: local,
      passwordFile: pw,
    });
    assert.equal(copied.code, 10, copied.err);
    const direct = await arca(['snapshots'], { repo: withPassword, passwordFile: pw });
    assert.equal(direct.code, 10, direct.err);
    for (const r of [copied, direct]) {
      assert.doesNotMatch(r.out + r.err, new RegExp(secret));
      assert.match(r.err, /rest:http:\/\/bob@/);
    }
  });

  test('backup, restore and check finish correctly while requests fail, break off and stall', async (t) => {
    const upstream = new URL(target.location('x').slice('rest:'.length)).origin;
    await survivesFaults(t, target, upstream, (proxy) => `rest:${proxy}/flaky/`, root, src);
  });
});

describe('S3 through a proxy: faults', { skip: skipUnless('restic', 'restic') }, () => {
  let target: RemoteTarget;
  let root: string;
  let src: string;

  before(async () => {
    target = await s3Target();
    root = await makeTempDir('remote-s3-proxy');
    src = await makeSource(root);
  });
  after(async () => {
    await target?.stop();
    await removeTree(root);
  });

  test('backup, restore and check finish correctly while requests fail, break off and stall', async (t) => {
    // The proxy passes the Host header on unchanged, so the requests' signatures still verify.
    const upstream = new URL(target.location('x').slice('s3:'.length)).origin;
    await survivesFaults(t, target, upstream, (proxy) => `s3:${proxy}/${s3Bucket}/flaky`, root, src);
  });
});

/**
 * Runs backup, restore and check of `src` through a proxy in front of `upstream` that fails,
 * cuts and delays requests (a different seeded plan for each command), then checks with
 * restic, straight to the server, that the repository `flaky` on it is valid.
 */
async function survivesFaults(
  t: TestContext,
  target: RemoteTarget,
  upstream: string,
  location: (proxyUrl: string) => string,
  root: string,
  src: string,
): Promise<void> {
  const pw = await writePasswordFile(root, password);
  const proxy = await startFlakyProxy(upstream, null);
  t.after(() => proxy.stop());
  const repo = location(proxy.url);
  const opts = { repo, passwordFile: pw, env: target.arcaEnv };
  await arcaOk(['init'], opts);
  await useCheapKey(target.open('flaky'), password);
  const plan = (seed: number) => ({
    seed,
    errorRate: 0.12,
    dropRate: 0.08,
    dropRequestRate: 0.05,
    delayRate: 0.2,
    maxDelayMs: 150,
    maxFaults: 12,
  });
  proxy.setPlan(plan(1));
  await arcaOk(['--no-cache', 'backup', src], opts);
  const backupFaults = proxy.faults.filter((f) => f.kind !== 'delay').length;
  proxy.setPlan(plan(2));
  const dest = path.join(root, 'flaky-restored');
  await arcaOk(['--no-cache', 'restore', 'latest', '--target', dest], opts);
  assert.deepEqual(await compareTrees(src, path.join(dest, src)), []);
  proxy.setPlan(plan(3));
  const check = await arca(['--no-cache', 'check', '--read-data'], opts);
  assert.equal(check.code, 0, check.err);
  assert.ok(backupFaults > 0, 'the proxy injected faults during the backup');
  assert.ok(proxy.faults.filter((f) => f.kind !== 'delay').length > backupFaults, 'and later');
  assert.match(check.err, /retrying/, 'retries are reported');
  // The repository is valid for restic as well (straight to the server, no faults).
  proxy.setPlan(null);
  const direct = { repo: target.resticRepo('flaky'), passwordFile: pw, env: target.resticEnv };
  const rcheck = await restic([...target.resticArgs, 'check', '--read-data'], direct);
  assert.match(rcheck.stdout, /no errors were found/);
  const listed = await restic([...target.resticArgs, 'snapshots', '--json'], direct);
  assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1);
}
