/**
 * A dataset: an asset being protected, with its business objectives (R13, R14: tier, RPO,
 * RTO, MTD, owner, classification) and its aspects, one file each: what it backs up
 * (sources.ts), when (schedules.ts), where to (copies.ts), for how long (retention.ts) and
 * how often its restore is tested (drills.ts).
 */
import { z } from 'zod';
import { copiesSchema } from './copies.js';
import { drillSchema } from './drills.js';
import { durationSchema } from './duration.js';
import { hooksSchema } from './hooks.js';
import { retentionSchema } from './retention.js';
import { scheduleSchema } from './schedules.js';
import { sourcesSchema } from './sources.js';

/** One dataset. */
export const datasetSchema = z
  .strictObject({
    owner: z
      .string({ error: 'expected a text' })
      .min(1, { error: 'must not be empty' })
      .meta({ description: 'who is accountable for the data (role or name)' }),
    classification: z
      .string({ error: 'expected a text' })
      .min(1, { error: 'must not be empty' })
      .meta({ description: 'information classification, e.g. internal or confidential' }),
    tier: z.int({ error: 'expected a whole number' }).min(1, { error: 'must be 1 or more' }).meta({
      description: 'criticality tier from the business impact analysis; 1 is the most critical',
    }),
    rpo: durationSchema.meta({
      description: 'recovery point objective: the most data that may be lost (R13, R15)',
    }),
    rto: durationSchema.meta({
      description: 'recovery time objective: how long a restore may take (R13, R14)',
    }),
    mtd: durationSchema.meta({ description: 'maximum tolerable downtime; the RTO must fit within it (R14)' }),
    sources: sourcesSchema,
    schedule: scheduleSchema,
    copies: copiesSchema,
    retention: retentionSchema.optional(),
    drill: drillSchema.optional(),
    hooks: hooksSchema.optional(),
  })
  .meta({ description: 'an asset being protected' });
export type Dataset = z.output<typeof datasetSchema>;
