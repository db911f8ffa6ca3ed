/**
 * A drill's measurements (R26): the restore's throughput, and the restore time compared with
 * the RTO. A full drill measures that time; a sample restores part of the snapshot, so the
 * full restore time is forecast from the measured throughput and the snapshot's size, and is
 * marked a forecast, never passed off as a measurement.
 */

/** What was restored, how long it took, and what the whole snapshot holds. */
export interface RestoreFacts {
  restoreSeconds: number;
  bytesRestored: number;
  filesRestored: number;
  snapshotBytes: number;
  snapshotFiles: number;
  /** True when only a sample of the files was restored. */
  sample: boolean;
}

/** The measured throughput and the (measured or forecast) full restore time. */
export interface RestoreTiming {
  bytes_per_second: number;
  files_per_second: number;
  restore_time_kind: 'measured' | 'forecast';
  restore_time_seconds: number;
}

/** Throughput per second of `count` in `seconds` (a restore too quick to time counts as a millisecond). */
function rate(count: number, seconds: number): number {
  return count / Math.max(seconds, 0.001);
}

/**
 * Throughput and restore time. A sample's forecast is snapshot bytes ÷ bytes per second; with
 * no bytes restored (only empty files), snapshot files ÷ files per second; with nothing
 * restored at all, the time measured.
 */
export function restoreTiming(f: RestoreFacts): RestoreTiming {
  const bytesPerSecond = rate(f.bytesRestored, f.restoreSeconds);
  const filesPerSecond = rate(f.filesRestored, f.restoreSeconds);
  let seconds = f.restoreSeconds;
  if (f.sample) {
    if (f.bytesRestored > 0) seconds = f.snapshotBytes / bytesPerSecond;
    else if (f.filesRestored > 0) seconds = f.snapshotFiles / filesPerSecond;
  }
  return {
    bytes_per_second: round(bytesPerSecond),
    files_per_second: round(filesPerSecond),
    restore_time_kind: f.sample ? 'forecast' : 'measured',
    restore_time_seconds: round(seconds),
  };
}

/** A number kept to 3 decimals, as the record stores it. */
export function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
