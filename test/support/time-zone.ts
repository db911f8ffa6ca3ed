/** Running code under another time zone, for tests of local-time rules (restic's keep rules). */

/** Runs `fn` with the process time zone set to `tz` (Node applies TZ changes immediately). */
export function inZone<T>(tz: string, fn: () => T): T {
  const saved = process.env['TZ'];
  process.env['TZ'] = tz;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  }
}
