import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, type TestContext, test } from 'node:test';
import { useCheapKey } from '../../test/support/cheap-key.js';
import {
  resticBackup,
  resticCat,
  resticCheck,
  resticInit,
  resticSnapshotsJson,
  writePasswordFile,
} from '../../test/support/restic.js';
import { makeTempDir, removeTree, tempDir } from '../../test/support/tmp.js';
import { requireTool } from '../../test/support/tools.js';
import { LocalBackend } from '../backend/local.js';
import { ArcaError } from '../errors.js';
import { decompress } from './compression.js';
import { type MasterKey, newRandomKey, open, seal } from './crypto.js';
import { Repository } from './repository.js';
import { loadUnpacked, saveUnpacked, type UnpackedType } from './unpacked.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const zstdMagic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

function isCorrupt(message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, 'corrupt', err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

async function newBackend(t: TestContext): Promise<{ backend: LocalBackend; key: MasterKey }> {
  const backend = new LocalBackend(await tempDir(t, 'unpacked'));
  await backend.create();
  return { backend, key: newRandomKey() };
}

/** Stores `sealed` under its SHA-256 as restic would, bypassing saveUnpacked's encoding. */
async function storeRaw(backend: LocalBackend, type: UnpackedType, sealed: Buffer): Promise<string> {
  const id = sha256(sealed);
  await backend.save({ type, name: id }, sealed);
  return id;
}

const doc = Buffer.from(
  JSON.stringify({ time: '2022-08-25T12:00:00Z', tree: 'ab'.repeat(32), paths: ['/srv'] }),
);

describe('saveUnpacked and loadUnpacked', () => {
  test('v2: compressed with the 0x02 prefix, named by the SHA-256 of the stored bytes', async (t) => {
    const { backend, key } = await newBackend(t);
    for (const type of ['index', 'snapshots', 'locks'] as const) {
      const id = await saveUnpacked(backend, key, 2, type, doc);
      const raw = await backend.load({ type, name: id });
      assert.equal(sha256(raw), id);
      const plain = open(key, raw);
      assert.equal(plain[0], 0x02);
      assert.deepEqual(plain.subarray(1, 5), zstdMagic, 'one zstd frame follows the prefix');
      assert.deepEqual(decompress(plain.subarray(1), 'test'), doc);
      assert.deepEqual(await loadUnpacked(backend, key, 2, type, id), doc);
    }
  });

  test('v1: the plaintext is the JSON itself', async (t) => {
    const { backend, key } = await newBackend(t);
    const id = await saveUnpacked(backend, key, 1, 'snapshots', doc);
    const raw = await backend.load({ type: 'snapshots', name: id });
    assert.equal(sha256(raw), id);
    assert.deepEqual(open(key, raw), doc);
    assert.deepEqual(await loadUnpacked(backend, key, 1, 'snapshots', id), doc);
  });

  test('large documents round-trip in both versions', async (t) => {
    const { backend, key } = await newBackend(t);
    const big = Buffer.from(
      JSON.stringify({
        packs: Array.from({ length: 20000 }, (_, i) => ({ id: sha256(Buffer.from([i])), i })),
      }),
    );
    for (const version of [1, 2]) {
      const id = await saveUnpacked(backend, key, version, 'index', big);
      assert.deepEqual(await loadUnpacked(backend, key, version, 'index', id), big);
    }
  });

  test('the config is never compressed, even in v2, and has the fixed name config', async (t) => {
    const { backend, key } = await newBackend(t);
    const config = Buffer.from('{"version":2,"id":"x","chunker_polynomial":"3da3358b4dc173"}');
    assert.equal(await saveUnpacked(backend, key, 2, 'config', config), '');
    const raw = await readFile(path.join(backend.root, 'config'));
    assert.deepEqual(open(key, raw), config, 'no 0x02 prefix');
    assert.deepEqual(await loadUnpacked(backend, key, 2, 'config', ''), config);
  });

  test('a file whose content does not hash to its name is corrupt', async (t) => {
    const { backend, key } = await newBackend(t);
    const id = await saveUnpacked(backend, key, 2, 'snapshots', doc);
    const raw = await backend.load({ type: 'snapshots', name: id });

    const otherName = sha256(Buffer.from('another name'));
    await backend.save({ type: 'snapshots', name: otherName }, raw);
    await assert.rejects(
      () => loadUnpacked(backend, key, 2, 'snapshots', otherName),
      isCorrupt(new RegExp(`^snapshot ${otherName.slice(0, 8)}: file content does not match its name`)),
    );

    const damaged = Buffer.from(raw);
    damaged[damaged.length - 1]! ^= 0x40;
    await backend.remove({ type: 'snapshots', name: id });
    await backend.save({ type: 'snapshots', name: id }, damaged);
    await assert.rejects(() => loadUnpacked(backend, key, 2, 'snapshots', id), isCorrupt(/SHA-256 mismatch/));

    // Correctly named but sealed under another key: the MAC check catches it.
    const foreign = await storeRaw(backend, 'index', seal(newRandomKey(), doc));
    await assert.rejects(
      () => loadUnpacked(backend, key, 2, 'index', foreign),
      isCorrupt(/MAC verification failed/),
    );
  });

  test('v2 accepts raw JSON plaintext (first byte { or [) and an empty plaintext', async (t) => {
    const { backend, key } = await newBackend(t);
    for (const text of ['{"packs":[]}\n', '[1,2,3]', '']) {
      const id = await storeRaw(backend, 'index', seal(key, Buffer.from(text)));
      assert.equal((await loadUnpacked(backend, key, 2, 'index', id)).toString(), text);
    }
  });

  test('v2 rejects an unknown encoding byte and a broken zstd frame as corrupt', async (t) => {
    const { backend, key } = await newBackend(t);
    for (const first of [0x00, 0x01, 0x03, 0x20, 0x22, 0x7a, 0xff]) {
      const id = await storeRaw(backend, 'snapshots', seal(key, Buffer.concat([Buffer.from([first]), doc])));
      await assert.rejects(
        () => loadUnpacked(backend, key, 2, 'snapshots', id),
        isCorrupt(new RegExp(`unsupported encoding format ${first}$`)),
      );
    }
    const broken = await storeRaw(backend, 'snapshots', seal(key, Buffer.concat([Buffer.from([2]), doc])));
    await assert.rejects(
      () => loadUnpacked(backend, key, 2, 'snapshots', broken),
      isCorrupt(/zstd decompression failed/),
    );
  });

  test('a missing file is not-found', async (t) => {
    const { backend, key } = await newBackend(t);
    await assert.rejects(
      () => loadUnpacked(backend, key, 2, 'snapshots', 'ab'.repeat(32)),
      (err: unknown) => err instanceof ArcaError && err.code === 'not-found',
    );
  });
});

interface ResticRepo {
  dir: string;
  repo: string;
  passwordFile: string;
  snapshotId: string;
}

const password = 'unpacked test';

const fixtures = new Map<1 | 2, Promise<ResticRepo>>();
after(async () => {
  for (const f of fixtures.values()) {
    const r = await f.catch(() => undefined);
    if (r) await removeTree(r.dir);
  }
});

/** A restic repository of the given format version holding one snapshot. */
function resticRepo(version: 1 | 2): Promise<ResticRepo> {
  let f = fixtures.get(version);
  if (!f) {
    f = (async () => {
      const dir = await makeTempDir(`unpacked-restic-v${version}`);
      const repo = path.join(dir, 'repo');
      const passwordFile = await writePasswordFile(dir, password);
      await resticInit(repo, passwordFile, { repositoryVersion: version });
      await useCheapKey(repo, password);
      await writeFile(path.join(dir, 'file.txt'), 'some content\n');
      const snapshotId = await resticBackup(repo, passwordFile, ['file.txt'], { cwd: dir });
      return { dir, repo, passwordFile, snapshotId };
    })();
    fixtures.set(version, f);
  }
  return f;
}

describe('unpacked files and restic', { concurrency: true }, () => {
  for (const version of [2, 1] as const) {
    test(`v${version}: restic's snapshot loads, and restic reads snapshots saved by arca`, async (t) => {
      if (!requireTool(t, 'restic', 'restic')) return;
      const r = await resticRepo(version);
      const repo = await Repository.open(new LocalBackend(r.repo), password);
      assert.equal(repo.version, version);

      const raw = await repo.backend.load({ type: 'snapshots', name: r.snapshotId });
      assert.equal(open(repo.key, raw)[0], version === 2 ? 0x02 : 0x7b, 'restic compresses only in v2');
      const theirs = JSON.parse((await repo.loadUnpacked('snapshots', r.snapshotId)).toString()) as {
        tree: string;
      };
      const shown = JSON.parse(
        (await resticCat(r.repo, r.passwordFile, 'snapshot', r.snapshotId)).toString(),
      );
      assert.deepEqual(theirs, shown);

      const ours = {
        time: '2024-02-29T23:59:58.123456789+01:00',
        tree: theirs.tree,
        paths: ['/arca/test'],
        hostname: 'arca-host',
        username: 'arca-user',
        tags: ['saved-by-arca'],
      };
      const id = await repo.saveJsonUnpacked('snapshots', ours);
      assert.equal(
        open(repo.key, await repo.backend.load({ type: 'snapshots', name: id }))[0],
        version === 2 ? 2 : 0x7b,
      );
      assert.deepEqual(
        JSON.parse((await resticCat(r.repo, r.passwordFile, 'snapshot', id)).toString()),
        ours,
      );

      const ids = [id];
      if (version === 2) {
        // The raw-JSON form (no 0x02 prefix) is valid in v2 too.
        const rawJson = { ...ours, tags: ['raw-json'] };
        const plainId = await saveUnpacked(
          repo.backend,
          repo.key,
          1,
          'snapshots',
          Buffer.from(JSON.stringify(rawJson)),
        );
        assert.deepEqual(
          JSON.parse((await resticCat(r.repo, r.passwordFile, 'snapshot', plainId)).toString()),
          rawJson,
        );
        ids.push(plainId);
      }
      const listed = await resticSnapshotsJson(r.repo, r.passwordFile);
      for (const x of ids)
        assert.ok(
          listed.some((s) => s.id === x && s.tree === theirs.tree),
          `snapshot ${x} listed`,
        );

      const check = await resticCheck(r.repo, r.passwordFile, false);
      assert.ok(check.ok, check.output);
    });
  }
});
