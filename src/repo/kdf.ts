import { randomBytes } from 'node:crypto';
import { ArcaError } from '../errors.js';
import { deriveUserKey, type KdfParams } from './key.js';

/** How long one key derivation may take: restic's `KDFTimeout`. */
export const kdfTimeoutMs = 500;
/** How much memory one key derivation may use, in MiB: restic's `KDFMemory`. */
export const kdfMemoryMiB = 60;

// simple-scrypt fixes r at 8 ("should not be used to tune the memory usage").
const blockSize = 8;

/**
 * Picks scrypt parameters the way restic does (`sscrypt.Calibrate(KDFTimeout, KDFMemory)`):
 * r = 8; N = the largest power of two with 128·r·N below the memory limit (32768 for
 * 60 MiB), halved while one derivation takes longer than the timeout; then p raised
 * until a derivation takes about the timeout. The result depends on this machine's speed.
 */
export async function calibrateKdf(timeoutMs = kdfTimeoutMs, memoryMiB = kdfMemoryMiB): Promise<KdfParams> {
  // simple-scrypt measures with its default 16-byte salt and this fixed password.
  const salt = randomBytes(16);
  const measure = (p: KdfParams): Promise<number> => timeDerivation(salt, p);

  const memBytes = memoryMiB * 1024 * 1024;
  let N = 1;
  while (128 * blockSize * N < memBytes) N *= 2;
  N /= 2;
  if (N < 2) throw new ArcaError('usage', `a KDF memory limit of ${memoryMiB} MiB is too small`);

  const params: KdfParams = { N, r: blockSize, p: 1 };
  let dur = await measure(params);
  while (dur > timeoutMs && params.N > 2) {
    params.N /= 2;
    dur = await measure(params);
  }

  // Approximate p from the run with p = 1, then correct it while the machine's load
  // makes the real run too slow (simple-scrypt's two loops).
  params.p = Math.max(1, Math.floor(timeoutMs / dur));
  dur = await measure(params);
  // simple-scrypt would compute p = 0 (and fail) when even p = 1 is too slow; keep 1.
  while (dur > timeoutMs && params.p > 1) {
    params.p = Math.max(1, Math.floor(timeoutMs / (dur / params.p)));
    dur = await measure(params);
  }
  return params;
}

async function timeDerivation(salt: Buffer, params: KdfParams): Promise<number> {
  const start = process.hrtime.bigint();
  await deriveUserKey('weakpassword', salt, params);
  return Number(process.hrtime.bigint() - start) / 1e6;
}
