/**
 * How often a dataset's restore is tested (R23): a drill restores a recent snapshot into an
 * isolated place and measures it against the RTO and RPO. CIS 11.5 asks for at least
 * quarterly.
 */
import { z } from 'zod';
import { durationSchema } from './duration.js';

/** The `drill` aspect of a dataset. */
export const drillSchema = z
  .strictObject({
    every: durationSchema.meta({
      description: 'the time between restore drills, at most 3 months (e.g. 30d, 13w)',
    }),
  })
  .meta({ description: 'restore-drill cadence (R23)' });
export type Drill = z.output<typeof drillSchema>;
