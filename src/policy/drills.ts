/**
 * Restore drills (R23–R27): how often a dataset's restore is tested, which share of its files
 * a scheduled drill restores (the rest is forecast from the measured throughput), where the
 * isolated sandbox is made, and the user's checks that the restored data works (a row count,
 * an integrity check of a database dump). CIS 11.5 asks for a drill at least quarterly.
 */
import path from 'node:path';
import { z } from 'zod';
import { durationSchema } from './duration.js';

const text = z.string({ error: 'expected a text' }).min(1, { error: 'must not be empty' });

/** `10%`, `0.5%`, `100%`: more than 0, at most 100. */
const percent = z
  .string({ error: 'expected a percentage such as 10%' })
  .regex(/^\d+(\.\d+)?%$/, { error: 'expected a percentage such as 10%' })
  .refine((p) => Number.parseFloat(p) > 0 && Number.parseFloat(p) <= 100, {
    error: 'expected a percentage above 0% and at most 100%',
  });

/** A user check run against the restored data. */
const checkSchema = z.strictObject({
  name: text.meta({ description: 'what the check shows, e.g. "orders row count"' }),
  command: text.meta({
    description:
      'a shell command run after the restore (ARCA_RESTORE_DIR, ARCA_DUMP_DIR, ARCA_DATASET, ARCA_SNAPSHOT_ID ' +
      'in its environment); the check passes when it exits 0',
  }),
});
export type DrillCheck = z.output<typeof checkSchema>;

/** The `drill` aspect of a dataset. */
export const drillSchema = z
  .strictObject({
    every: durationSchema.meta({
      description: 'the time between restore drills, at most 3 months (e.g. 30d, 13w)',
    }),
    validate: z
      .array(checkSchema)
      .optional()
      .meta({ description: 'checks that the restored data is complete and works (R27), run in order' }),
    sample: percent.optional().meta({
      description:
        'a scheduled drill restores this share of the files, chosen with a recorded seed, and forecasts ' +
        'the full restore time from the measured throughput (default: every file)',
    }),
    sandbox: z
      .string({ error: 'expected an absolute path' })
      .refine((p) => path.isAbsolute(p), { error: 'expected an absolute path' })
      .optional()
      .meta({
        description:
          'the directory under which each drill creates its private sandbox (default: $XDG_STATE_HOME/arca/drills); ' +
          'never a source path or a repository',
      }),
  })
  .meta({ description: 'restore drills (R23–R27)' });
export type Drill = z.output<typeof drillSchema>;

/** A sample percentage as written (`10%`) as a number (10). */
export function parsePercent(text: string): number {
  return Number.parseFloat(text);
}
