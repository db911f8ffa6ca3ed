import cliProgress from 'cli-progress';
import type { Output } from './context.js';
import { formatBytes, formatDuration } from './format.js';

/** A progress line on the terminal: files, bytes, rate and ETA. Does nothing when output is not interactive. */
export interface Progress {
  update(
    filesDone: number,
    bytesDone: number,
    totals?: { files?: number; bytes?: number },
    current?: string,
  ): void;
  stop(): void;
}

/** Starts a progress display for `label` (e.g. "restore"), on stderr, only on a terminal. */
export function startProgress(
  out: Output,
  label: string,
  totals: { files: number; bytes: number },
): Progress {
  if (!out.interactive || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const started = Date.now();
  let t = { ...totals };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
      barsize: 24,
      format: (_opts, params, payload: { text: string }) => {
        const pct = (params.progress * 100).toFixed(1).padStart(5);
        return `${label} [${'#'.repeat(Math.round(params.progress * 24)).padEnd(24, '.')}] ${pct}% ${payload.text}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(1, t.bytes), 0, { text: '' });
  return {
    update(filesDone, bytesDone, newTotals, current) {
      if (newTotals) t = { files: newTotals.files ?? t.files, bytes: newTotals.bytes ?? t.bytes };
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? bytesDone / secs : 0;
      const eta = rate > 0 ? (t.bytes - bytesDone) / rate : 0;
      bar.setTotal(Math.max(1, t.bytes));
      bar.update(bytesDone, {
        text:
          `${filesDone}/${t.files} files ${formatBytes(bytesDone)}/${formatBytes(t.bytes)} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}` +
          (current ? ` ${shorten(current, 40)}` : ''),
      });
    },
    stop() {
      bar.stop();
    },
  };
}

/** Keeps the end of a long path, which says most about where the work is. */
function shorten(s: string, max: number): string {
  return s.length <= max ? s : `…${s.slice(s.length - max + 1)}`;
}
