/**
 * A backup killed at any moment (kill -9) leaves every earlier snapshot intact and the
 * repository valid for arca and restic, and the next backup completes and reuses what the
 * killed one had already uploaded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { arca, projectRoot } from './support/arca.js';
import { useCheapKey } from './support/cheap-key.js';
import { compareTrees } from './support/compare-trees.js';
import { backupSummary } from './support/json-lines.js';
import { resticCheck, writePasswordFile } from './support/restic.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const skip = skipUnless('restic', 'restic');

function countFiles(dir: string): number {
  let n = 0;
  for (const d of readdirSync(dir)) n += readdirSync(path.join(dir, d)).length;
  return n;
}

function noise(seed: number, size: number): Buffer {
  const key = Buffer.alloc(32, seed);
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

interface Summary {
  message_type: string;
  data_added: number;
  snapshot_id?: string;
}

const points: { name: string; env?: string; afterMs?: number; reuses: boolean }[] = [
  { name: 'during packing (after the first pack)', env: 'backup-after-first-pack', reuses: true },
  { name: 'between the packs and their index', env: 'backup-before-index', reuses: true },
  { name: 'before the snapshot', env: 'backup-before-snapshot', reuses: true },
  { name: 'as soon as the first new pack file appears', afterMs: 0, reuses: false },
  { name: '150 ms after the first new pack file appears', afterMs: 150, reuses: false },
];

describe('interrupted backups', {
  skip,
}, () => {
  for (const p of points) {
    test(`killed ${p.name}`, async (t) => {
      const dir = await makeTempDir('interrupt');
      t.after(() => removeTree(dir));
      const repo = path.join(dir, 'repo');
      const pw = await writePasswordFile(dir, 'pw');
      const o = { repo, passwordFile: pw, cwd: dir };
      mkdirSync(path.join(dir, 'src', 'small'), { recursive: true });
      for (let i = 0; i < 50; i++) writeFileSync(path.join(dir, 'src', 'small', `f${i}`), noise(i, 4000 + i));
      writeFileSync(path.join(dir, 'src', 'base.bin'), noise(99, 3 * 1024 * 1024));
      assert.equal((await arca(['init'], o)).code, 0);
      await useCheapKey(repo, 'pw');
      const first = backupSummary<Summary>((await arca(['backup', '--json', 'src'], o)).out);
      // What the killed backup was adding: several packs' worth of new data.
      for (let i = 0; i < 4; i++)
        writeFileSync(path.join(dir, 'src', `big${i}.bin`), noise(200 + i, 14 * 1024 * 1024));

      const args = ['backup', '--json', 'src'];
      let code: number;
      if (p.env) {
        code = (await arca(args, { ...o, env: { ARCA_TEST_CRASH_AT: p.env } })).code;
      } else {
        const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'arca.js'), ...args], {
          cwd: dir,
          env: { ...process.env, ARCA_REPOSITORY: repo, ARCA_PASSWORD_FILE: pw },
          stdio: 'ignore',
        });
        const exited = new Promise<number>((resolve) =>
          child.on('exit', (c, signal) => resolve(signal === 'SIGKILL' ? 137 : (c ?? 1))),
        );
        // Kill it while it writes: once the repository holds more files than before.
        const before = countFiles(path.join(repo, 'data'));
        let done = false;
        void exited.then(() => {
          done = true;
        });
        for (let i = 0; i < 3000 && !done && countFiles(path.join(repo, 'data')) === before; i++) {
          await new Promise((r) => setTimeout(r, 5));
        }
        await new Promise((r) => setTimeout(r, p.afterMs));
        child.kill('SIGKILL');
        code = await exited;
      }
      assert.equal(code, 137, 'the backup should have been killed');

      // A killed process leaves its lock behind, as with restic; unlock removes stale locks.
      assert.equal((await arca(['unlock'], o)).code, 0);
      const check1 = await arca(['check'], o);
      assert.equal(check1.code, 0, check1.out + check1.err);
      const rcheck = await resticCheck(repo, pw, false);
      assert.ok(rcheck.ok, rcheck.output);

      // The earlier snapshot is intact.
      const out = path.join(dir, 'restored');
      assert.equal((await arca(['restore', first.snapshot_id!, '--target', out, '--verify'], o)).code, 0);
      const base = path.join(out, 'src');
      assert.deepEqual(
        (await compareTrees(path.join(dir, 'src', 'small'), path.join(base, 'small'))).filter(
          (d) => !d.startsWith('"."'),
        ),
        [],
      );

      // The next backup completes, and reuses what the killed one uploaded.
      const again = await arca(['backup', '--json', 'src'], o);
      assert.equal(again.code, 0, again.err);
      const s = backupSummary<Summary>(again.out);
      if (p.reuses && code === 137) {
        assert.ok(
          s.data_added < 4 * 14 * 1024 * 1024,
          `expected reuse, but ${s.data_added} bytes were added again`,
        );
      }
      const final = await resticCheck(repo, pw, true);
      assert.ok(final.ok, final.output);
      const arcaFinal = await arca(['check', '--read-data'], o);
      assert.equal(arcaFinal.code, 0, arcaFinal.out + arcaFinal.err);
    });
  }
});
