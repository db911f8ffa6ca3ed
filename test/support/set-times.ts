/**
 * Sets access and modification times with nanosecond precision. Node cannot: libuv rounds
 * the times it passes to utimensat to microseconds, and the interoperability tests must
 * notice a restorer that loses the last three digits. GNU touch passes them intact.
 */
import { runOk } from './run.js';

/** Times as nanoseconds since the epoch, the unit of `lstat(p, { bigint: true }).mtimeNs`. */
export interface TimesNs {
  atimeNs: bigint;
  mtimeNs: bigint;
}

/** How many paths one touch invocation gets, well below the argument-size limit. */
const batchSize = 256;

/** Sets both times on every path, never following symlinks (the link itself gets the times). */
export async function setTimes(paths: readonly string[], times: TimesNs): Promise<void> {
  for (let start = 0; start < paths.length; start += batchSize) {
    const batch = paths.slice(start, start + batchSize);
    // GNU touch reads `@SECONDS.NANOSECONDS` exactly, also before 1970 (`@-1.500000000`).
    await runOk('touch', ['-h', '-a', '-d', '@' + formatNs(times.atimeNs), '--', ...batch]);
    await runOk('touch', ['-h', '-m', '-d', '@' + formatNs(times.mtimeNs), '--', ...batch]);
  }
}

/** Nanoseconds since the epoch as exact `seconds.nanoseconds` (`-1.500000000` for -1.5 s). */
export function formatNs(ns: bigint): string {
  const abs = ns < 0n ? -ns : ns;
  return `${ns < 0n ? '-' : ''}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
}
