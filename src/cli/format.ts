/** Formatting shared by the commands' human-readable output. */

const goModeTypeChars = 'dalTLDpSugct?';

/** Go's `FileMode.String()` (what `restic ls -l` prints), e.g. `drwxr-xr-x`, `Lrwxrwxrwx`. */
export function goModeString(mode: number): string {
  let s = '';
  for (let i = 0; i < goModeTypeChars.length; i++) {
    if (mode & (2 ** (31 - i))) s += goModeTypeChars[i];
  }
  if (s === '') s = '-';
  const rwx = 'rwxrwxrwx';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-';
  return s;
}

/** A time as `2006-01-02 15:04:05` in the local time zone, as restic prints it. */
export function localTime(t: string | number | Date): string {
  const d = t instanceof Date ? t : new Date(t);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `n` bytes as a value in the largest binary unit it reaches (`{ value: 1.5, unit: 'KiB' }`). */
export function binaryUnits(n: number): { value: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return { value: v, unit: units[i]! };
}

/** Bytes in binary units, as restic prints them (`1.234 MiB`). */
export function formatBytes(n: number): string {
  const { value, unit } = binaryUnits(n);
  return unit === 'B' ? `${n} B` : `${value.toFixed(3)} ${unit}`;
}

/** A duration in seconds as `1:02:03` or `2:03`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const p = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${p(m)}:${p(s % 60)}` : `${m}:${p(s % 60)}`;
}

/** Lays out rows as a table with a header and rule lines, like restic's tables. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.reduce((a, w) => a + w + 2, -2));
  return [line(header), rule, ...rows.map(line), rule];
}

/** Parses a repeatable option's values into a flat list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
