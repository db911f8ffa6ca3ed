import { randomBytes } from 'node:crypto';
import { ArcaError } from '../errors.js';

/**
 * Polynomials over GF(2), as restic's chunker (`restic/chunker`, `polynomials.go`) uses them: bit i
 * of the (unsigned 64-bit) value is the coefficient of x^i, addition is XOR.
 *
 * Speed does not matter here (the chunker evaluates these once per polynomial to build its
 * tables), so everything is plain BigInt.
 */

/** restic gives up after this many random candidates; at ~1/53 success each, that never happens. */
const randomPolynomialTries = 1_000_000;

/** Degree of `x`; -1 for the zero polynomial. */
export function degree(x: bigint): number {
  return x === 0n ? -1 : x.toString(2).length - 1;
}

/** Remainder of `x` divided by `d` (`d` must not be zero). */
export function mod(x: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('polynomial division by zero');
  const dd = degree(d);
  for (let diff = degree(x) - dd; diff >= 0; diff = degree(x) - dd) x ^= d << BigInt(diff);
  return x;
}

/** `x * f mod g`. */
export function mulMod(x: bigint, f: bigint, g: bigint): bigint {
  const dg = BigInt(degree(g));
  let a = mod(x, g);
  let res = 0n;
  // Shift-and-add with a reduction after every shift keeps `a` below x^deg(g); the result is the
  // same polynomial as restic's slower MulMod.
  for (let b = f; b !== 0n; b >>= 1n) {
    if (b & 1n) res ^= a;
    a <<= 1n;
    if ((a >> dg) & 1n) a ^= g;
  }
  return res;
}

/** Greatest common divisor of `x` and `f`. */
export function gcd(x: bigint, f: bigint): bigint {
  while (f !== 0n) [x, f] = [f, mod(x, f)];
  return x;
}

/** `(x^(2^p) - x) mod g`, the term Ben-Or's test needs. */
function _qp(p: number, g: bigint): bigint {
  let res = 2n; // the polynomial "x"
  // Squaring p times turns x into x^(2^p).
  for (let i = 0; i < p; i++) res = mulMod(res, res, g);
  return mod(res ^ 2n, g);
}

/**
 * True iff `pol` is irreducible over GF(2): Ben-Or's test exactly as restic runs it, so a
 * polynomial from a restic config is judged the same way restic judges it.
 */
export function isIrreducible(pol: bigint): boolean {
  const half = Math.trunc(degree(pol) / 2);
  for (let i = 1; i <= half; i++) {
    if (gcd(pol, _qp(i, pol)) !== 1n) return false;
  }
  return true;
}

/** A fresh random irreducible polynomial of degree 53, chosen the way `restic init` does. */
export function randomPolynomial(): bigint {
  for (let i = 0; i < randomPolynomialTries; i++) {
    let f = randomBytes(8).readBigUInt64LE(0);
    // Degree exactly 53 (the largest prime below 64 - 8, so digest << 8 fits in 64 bits in Go)
    // and a constant term, without which x would divide f.
    f &= (1n << 54n) - 1n;
    f |= (1n << 53n) | 1n;
    if (isIrreducible(f)) return f;
  }
  throw new Error('unable to find a random irreducible polynomial');
}

/** Parses a polynomial as restic's config stores it: hex digits without prefix. */
export function parsePolynomial(hex: string): bigint {
  // Go's strconv.ParseUint(s, 16, 64): hex digits of either case, no prefix, at most 64 bits.
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) {
    throw new ArcaError('corrupt', `invalid chunker polynomial ${JSON.stringify(hex)}`);
  }
  return BigInt(`0x${hex}`);
}

/** Formats a polynomial as restic's config stores it: lower-case hex without prefix. */
export function formatPolynomial(pol: bigint): string {
  return pol.toString(16);
}
