import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clampGoYear, formatGoTime, goTimeFromNs } from '../repo/gojson.js';
import { goTimeString } from './fs_node.js';

/** The uncached computation goTimeString must agree with. */
function reference(ns: bigint): string {
  const offset = -new Date(Number(ns / 1_000_000n)).getTimezoneOffset();
  return formatGoTime(clampGoYear(goTimeFromNs(ns, offset)));
}

test('goTimeString gives the same text from its per-second cache as computed afresh', () => {
  const times = [
    0n,
    1n,
    999_999_999n,
    1_000_000_000n,
    1_700_000_000_100_000_000n,
    1_700_000_000_123_456_789n,
    -5n,
    -1_500_000_000_000_000_000n,
    253_402_300_799_999_999_999n,
    300_000_000_000_000_000_000n,
  ];
  // Deterministic pseudo-random times, several in the same second (cache hits with other fractions).
  let x = 12345;
  for (let i = 0; i < 2000; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const sec = BigInt(1_600_000_000 + (x % 500));
    times.push(sec * 1_000_000_000n + BigInt((x * 7919) % 1_000_000_000));
  }
  for (const ns of times) {
    assert.equal(goTimeString(ns), reference(ns), String(ns));
    assert.equal(goTimeString(ns), reference(ns), `${ns} again`);
  }
});
