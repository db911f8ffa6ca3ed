/**
 * When a dataset is backed up, per backup level (R15, R16). Every snapshot arca writes is
 * complete; the level says what a run reads and compares against: `full` reads every file
 * (no parent), `differential` compares against the last full, `incremental` against the
 * dataset's last snapshot. Each level runs on a cron expression or at an interval.
 */
import { z } from 'zod';
import { ArcaError } from '../errors.js';
import { nextRun, parseCron } from './cron.js';
import { durationSchema } from './duration.js';

import { backupLevels } from './levels.js';

export { type BackupLevel, backupLevels } from './levels.js';

const cronSchema = z
  .string()
  .superRefine((text, ctx) => {
    try {
      // A check from a fixed leap-year start: an expression that never runs is a mistake. Whether
      // it runs does not depend on the time zone, so UTC keeps the check the same on every machine.
      if (nextRun(parseCron(text, 'UTC'), new Date(Date.UTC(2000, 0, 1))) === null)
        ctx.addIssue({ code: 'custom', message: `cron expression ${JSON.stringify(text)} never runs` });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof ArcaError ? err.message : String(err) });
    }
  })
  .meta({
    description:
      'a cron expression: minute hour day-of-month month day-of-week (or a leading second field), ' +
      'e.g. "30 1 * * 1-5", read in scheduler.timezone; quote it in YAML',
  });

const intervalSchema = z
  .strictObject({ every: durationSchema.meta({ description: 'the time between runs, e.g. 6h' }) })
  .meta({ description: 'an interval: {every: 6h}' });

/** When one level runs: a cron expression or an interval. */
export const triggerSchema = z.union([cronSchema, intervalSchema], {
  error: 'expected a cron expression such as "30 1 * * *" or an interval such as {every: 6h}',
});
export type Trigger = z.output<typeof triggerSchema>;

/** The `schedule` aspect of a dataset. */
export const scheduleSchema = z
  .strictObject({
    full: triggerSchema.optional().meta({ description: 'when a full backup runs (reads every file)' }),
    differential: triggerSchema
      .optional()
      .meta({ description: 'when a differential backup runs (compares against the last full)' }),
    incremental: triggerSchema
      .optional()
      .meta({ description: 'when an incremental backup runs (compares against the last snapshot)' }),
  })
  .superRefine((s, ctx) => {
    if (backupLevels.every((level) => s[level] === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'no level is scheduled: give full, differential or incremental',
      });
    }
    if (s.differential !== undefined && s.full === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['differential'],
        message: 'a differential compares against the last full, so full must be scheduled too',
      });
    }
  })
  .meta({ description: 'when each backup level runs (R15, R16)' });
export type Schedule = z.output<typeof scheduleSchema>;
