/** Reading the JSON lines arca and restic print with `--json`. */
import assert from 'node:assert/strict';

/** Every line of `out` that is a JSON object, parsed. */
export function jsonLines<T = Record<string, unknown>>(out: string): T[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

/** The `message_type: "summary"` line of a backup's `--json` output; fails the test when there is none. */
export function backupSummary<T extends { message_type: string }>(out: string): T {
  const s = jsonLines<T>(out).find((j) => j.message_type === 'summary');
  assert.ok(s, `no summary line in:\n${out}`);
  return s;
}
