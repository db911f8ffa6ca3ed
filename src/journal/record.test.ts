import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalJson, entryToBody, genesisHash, recordHash, sealRecord } from './record.js';

describe('journal record', () => {
  it('writes canonical JSON: sorted keys at every level, no whitespace, ECMAScript numbers', () => {
    assert.equal(
      canonicalJson({ b: [3, { d: 1, c: null }], a: 'x\n"', é: true, A: 1e-7, '😀': 1e21, '\uff01': 0.5 }),
      '{"A":1e-7,"a":"x\\n\\"","b":[3,{"c":null,"d":1}],"é":true,"😀":1e+21,"！":0.5}',
    );
    assert.equal(canonicalJson([]), '[]');
    assert.equal(canonicalJson(-0), '0');
    assert.throws(() => canonicalJson(Number.NaN), { code: 'usage' });
    assert.throws(() => canonicalJson({ f: () => 1 }), { code: 'usage' });
  });

  it('hashes the UTF-8 canonical form of every field but the hash', () => {
    const body = entryToBody({
      operation: 'backup',
      result: 'success',
      started_at: '2025-01-01T00:00:00Z',
      ended_at: '2025-01-01T00:01:00Z',
      who: 'alice@host',
      dataset: 'é',
    });
    const r = sealRecord(body, 1, genesisHash, new Date('2025-01-01T00:01:01Z'));
    const expected =
      '{"bytes_added":null,"bytes_read":null,"dataset":"é","details":{},"duration_ms":60000,' +
      '"ended_at":"2025-01-01T00:01:00.000Z","error":null,"files_added":null,"files_read":null,' +
      '"level":null,"operation":"backup","policy_hash":null,' +
      `"prev_hash":"${genesisHash}","recorded_at":"2025-01-01T00:01:01.000Z","repository":null,` +
      '"result":"success","seq":1,"snapshot_id":null,"started_at":"2025-01-01T00:00:00.000Z","who":"alice@host"}';
    assert.equal(r.hash, createHash('sha256').update(Buffer.from(expected, 'utf8')).digest('hex'));
    assert.equal(recordHash(r), r.hash);
    assert.notEqual(recordHash({ ...r, seq: 2 }), r.hash);
    assert.notEqual(recordHash({ ...r, extra: null }), r.hash, 'a field added later is hashed too');
  });
});
