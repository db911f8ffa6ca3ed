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
    await runOk('touch', ['-h', '-a', '-d', touchDate(times.atimeNs), '--', ...batch]);
    await runOk('touch', ['-h', '-m', '-d', touchDate(times.mtimeNs), '--', ...batch]);
  }
}

/** `@SECONDS.NANOSECONDS`, which GNU touch reads exactly, also before 1970 (`@-1.500000000`). */
function touchDate(ns: bigint): string {
  const abs = ns < 0n ? -ns : ns;
  const sign = ns < 0n ? '-' : '';
  return `@${sign}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
}
