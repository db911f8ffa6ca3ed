/**
 * Guards for tests that drive external programs (restic, setfattr, mkfifo…): such a test
 * is skipped on a developer machine without the program, but fails in CI, where a missing
 * program means the interoperability suite silently stopped testing anything.
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** True when an executable called `name` is on PATH. */
export function hasTool(name: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return true;
    } catch {
      // Not in this PATH entry; keep looking.
    }
  }
  return false;
}

/** True when `name` is on PATH; otherwise skips the test (returns false), or fails it when `CI=true`. */
export function requireTool(t: TestContext, name: string, aptPackage: string): boolean {
  if (hasTool(name)) return true;
  const message = `${name} is not installed (apt-get install ${aptPackage})`;
  if (process.env['CI'] === 'true') throw new Error(message);
  t.skip(message);
  return false;
}

/** True when the process runs as root, so it may chown, mknod and set trusted.* xattrs. */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * For `describe(…, { skip: skipUnless('restic', 'restic') })`: false when the tool is there,
 * otherwise the skip message; under `CI=true` a missing tool throws instead, failing the file.
 */
export function skipUnless(name: string, aptPackage: string): false | string {
  if (hasTool(name)) return false;
  const message = `${name} is not installed (apt-get install ${aptPackage})`;
  if (process.env['CI'] === 'true') throw new Error(message);
  return message;
}
