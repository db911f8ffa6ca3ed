import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describePolicy, validatePolicy } from '../ops/retention.js';
import { keepPolicyFor, retentionSchema } from './retention.js';

test('keep rules map onto restic keep rules, with archive tags kept', () => {
  const r = retentionSchema.parse({
    keep: {
      last: 3,
      daily: 7,
      weekly: 5,
      monthly: 12,
      yearly: 'unlimited',
      within: '4w2d12h',
      tags: ['month-end,ok'],
    },
    archive: { tags: ['archive', 'audit'] },
  });
  const p = keepPolicyFor(r);
  assert.deepEqual(p, {
    last: 3,
    hourly: undefined,
    daily: 7,
    weekly: 5,
    monthly: 12,
    yearly: -1,
    within: { years: 0, months: 0, days: 30, hours: 12 },
    tags: ['month-end,ok', 'archive', 'audit'],
  });
  validatePolicy(p!);
  assert.equal(
    describePolicy(p!),
    'keep 3 latest, 7 daily, 5 weekly, 12 monthly, all yearly snapshots and all snapshots with tags ' +
      '[[month-end, ok] [archive] [audit]] and all snapshots within 30d12h of the newest',
  );
  assert.deepEqual(keepPolicyFor(retentionSchema.parse({ keep: { within: '2y' } }))?.within, {
    years: 2,
    months: 0,
    days: 0,
    hours: 0,
  });
});

test('a legal hold stops all forgetting', () => {
  const r = retentionSchema.parse({
    keep: { daily: 7 },
    archive: { legal_hold: { reason: 'case 17', since: '2030-01-01' } },
  });
  assert.equal(keepPolicyFor(r), null);
});

test('retention needs a keep rule, and within counts whole hours', () => {
  // Archive tags alone would make forget remove every other snapshot.
  assert.equal(retentionSchema.safeParse({ keep: {}, archive: { tags: ['archive'] } }).success, false);
  assert.equal(retentionSchema.safeParse({ keep: { within: '90m' } }).success, false);
  assert.equal(retentionSchema.safeParse({ keep: { daily: -1 } }).success, false);
  assert.equal(retentionSchema.safeParse({ keep: { daily: 1.5 } }).success, false);
  assert.equal(retentionSchema.safeParse({ keep: { daily: 0 } }).success, true);
});
