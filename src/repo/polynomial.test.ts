import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArcaError } from '../errors.js';
import {
  degree,
  formatPolynomial,
  gcd,
  isIrreducible,
  mod,
  mulMod,
  parsePolynomial,
  randomPolynomial,
} from './polynomial.js';

// Test vectors from restic/chunker's polynomials_test.go.

test('degree', () => {
  assert.equal(degree(0n), -1);
  assert.equal(degree(1n), 0);
  assert.equal(degree(0x3af4b284899n), 41);
  assert.equal(degree(0x3da3358b4dc173n), 53);
  assert.equal(degree(0x8000000000000000n), 63);
});

test('mod', () => {
  const cases: [bigint, bigint, bigint][] = [
    [10n, 50n, 10n],
    [0n, 1n, 0n],
    [0b101101001n, 0b1010n, 0b1n],
    [2n, 2n, 0n],
    [0x8000000000000000n, 0x8000000000000000n, 0n],
    [0b1100n, 0b100n, 0n],
    [0b1100001111n, 0b10011n, 0n],
  ];
  for (const [x, d, r] of cases) assert.equal(mod(x, d), r, `${x} mod ${d}`);
  assert.throws(() => mod(5n, 0n), RangeError);
});

test('gcd', () => {
  const cases: [bigint, bigint, bigint][] = [
    [10n, 50n, 2n],
    [0n, 1n, 1n],
    [0b101101001n, 0b1010n, 0b1n],
    [2n, 2n, 2n],
    [0b1010n, 0b11n, 0b11n],
    [0x8000000000000000n, 0x8000000000000000n, 0x8000000000000000n],
    [0b1100n, 0b101n, 0b11n],
    [0b1100001111n, 0b10011n, 0b10011n],
    [0x3da3358b4dc173n, 0x3da3358b4dc173n, 0x3da3358b4dc173n],
    [0x3da3358b4dc173n, 0x230d2259defdn, 1n],
    [0x230d2259defdn, 0x51b492b3eff2n, 0b10011n],
  ];
  for (const [a, b, g] of cases) {
    assert.equal(gcd(a, b), g, `gcd(${a}, ${b})`);
    assert.equal(gcd(b, a), g, `gcd(${b}, ${a})`);
  }
});

test('mulMod', () => {
  assert.equal(mulMod(0x1230n, 0x230n, 0x55n), 0x22n);
  assert.equal(mulMod(0x0eae8c07dbbb3026n, 0xd5d6db9de04771den, 0xdd2bda3b77c9n), 0x425ae8595b7an);
});

test('isIrreducible matches restic on its test polynomials', () => {
  const cases: [bigint, boolean][] = [
    [0x38f1e565e288dfn, false],
    [0x3da3358b4dc173n, true],
    [0x30a8295b9d5c91n, false],
    [0x255f4350b962cbn, false],
    [0x267f776110a235n, false],
    [0x2f4dae10d41227n, false],
    [0x2482734cacca49n, true],
    [0x312daf4b284899n, false],
    [0x29dfb6553d01d1n, false],
    [0x3548245eb26257n, false],
    [0x3199e7ef4211b3n, false],
    [0x362f39017dae8bn, false],
    [0x200d57aa6fdacbn, false],
    [0x35e0a4efa1d275n, false],
    [0x2ced55b026577fn, false],
    [0x260b012010893dn, false],
    [0x2df29cbcd59e9dn, false],
    [0x3f2ac7488bd429n, false],
    [0x3e5cb1711669fbn, false],
    [0x226d8de57a9959n, false],
    [0x3c8de80aaf5835n, false],
    [0x2026a59efb219bn, false],
    [0x39dfa4d13fb231n, false],
    [0x3143d0464b3299n, false],
  ];
  for (const [f, irreducible] of cases) assert.equal(isIrreducible(f), irreducible, f.toString(16));
  // The polynomial of the restic repository DEPS.md verified against.
  assert.equal(isIrreducible(0x2c1d2d5b6782afn), true);
  // (x^2+x+1)(x^3+x+1) = x^5+x^4+1: reducible, though it has no root in GF(2).
  assert.equal(isIrreducible(0b110001n), false);
  assert.equal(isIrreducible(0b111n), true);
  assert.equal(isIrreducible(0b1011n), true);
});

test('randomPolynomial gives irreducible polynomials of degree 53', () => {
  const seen = new Set<bigint>();
  for (let i = 0; i < 5; i++) {
    const p = randomPolynomial();
    assert.equal(degree(p), 53);
    assert.equal(p & 1n, 1n);
    assert.equal(isIrreducible(p), true);
    seen.add(p);
  }
  assert.equal(seen.size, 5);
});

test('parsePolynomial and formatPolynomial use the config form', () => {
  assert.equal(parsePolynomial('2c1d2d5b6782af'), 0x2c1d2d5b6782afn);
  assert.equal(parsePolynomial('3DA3358B4DC173'), 0x3da3358b4dc173n);
  assert.equal(formatPolynomial(0x3da3358b4dc173n), '3da3358b4dc173');
  assert.equal(formatPolynomial(parsePolynomial('2c1d2d5b6782af')), '2c1d2d5b6782af');
  for (const bad of ['', '0x2c1d', '2c1d 2d', '-1', '1ffffffffffffffff', 'xyz']) {
    assert.throws(
      () => parsePolynomial(bad),
      (e: unknown) => e instanceof ArcaError && e.code === 'corrupt',
      bad,
    );
  }
});
