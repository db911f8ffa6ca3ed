import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addMonths, dateSchema, formatDate, parseDate } from './date.js';

test('parseDate accepts real dates only', () => {
  assert.equal(parseDate('2024-02-29'), Date.UTC(2024, 1, 29));
  for (const bad of [
    '2025-02-29',
    '2025-13-01',
    '2025-1-1',
    '2025-01-32',
    '20250101',
    '2025-01-01T00:00:00Z',
    '',
  ]) {
    assert.equal(parseDate(bad), undefined, bad);
  }
  assert.equal(dateSchema.safeParse('2025-02-30').success, false);
  assert.equal(dateSchema.safeParse('2025-03-30').success, true);
});

test('addMonths moves by calendar months and clamps to the end of short months', () => {
  const d = (s: string) => parseDate(s)!;
  assert.equal(formatDate(addMonths(d('2025-01-10'), 12)), '2026-01-10');
  assert.equal(formatDate(addMonths(d('2025-01-31'), 1)), '2025-02-28');
  assert.equal(formatDate(addMonths(d('2024-02-29'), 12)), '2025-02-28');
  assert.equal(formatDate(addMonths(d('2025-11-30'), 3)), '2026-02-28');
  assert.equal(formatDate(new Date('2030-06-01T23:59:59Z')), '2030-06-01');
});
