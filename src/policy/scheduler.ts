/**
 * How the runner behaves (R17, R19): the time zone its cron expressions are read in, and how
 * a failed run is retried before it is reported.
 */
import { z } from 'zod';
import { knownTimeZone } from './cron.js';
import { durationMs, durationSchema } from './duration.js';

/** How failed runs are retried: `attempts` more tries, waiting `delay`, doubling up to `max_delay`. */
export const retrySchema = z
  .strictObject({
    attempts: z
      .int({ error: 'expected a whole number' })
      .min(0, { error: 'must be 0 or more' })
      .max(20, { error: 'must be at most 20' })
      .optional()
      .meta({ description: 'how many times a failed run is tried again before it is reported (default 3)' }),
    delay: durationSchema.optional().meta({ description: 'the wait before the first retry (default 1m)' }),
    max_delay: durationSchema.optional().meta({
      description: 'the longest wait; each retry waits twice as long as the one before (default 30m)',
    }),
  })
  .meta({ description: 'retries of a failed run, with exponential backoff' });
export type Retry = z.output<typeof retrySchema>;

/** The `scheduler` aspect of the policy. */
export const schedulerSchema = z
  .strictObject({
    timezone: z
      .string()
      .refine(knownTimeZone, { error: 'expected an IANA time zone such as Europe/Berlin or UTC' })
      .optional()
      .meta({ description: "the time zone of the cron expressions (default: the machine's)" }),
    retry: retrySchema.optional(),
    journal_snapshots: z
      .int({ error: 'expected a whole number' })
      .min(1, { error: 'must be at least 1' })
      .optional()
      .meta({
        description: 'how many snapshots of the journal each repository keeps (default 30); each is complete',
      }),
  })
  .meta({ description: 'how the runner and the daemon behave' });
export type Scheduler = z.output<typeof schedulerSchema>;

/** The retry settings with their defaults filled in, in milliseconds. */
export function retrySettings(r: Retry | undefined): {
  attempts: number;
  delayMs: number;
  maxDelayMs: number;
} {
  return {
    attempts: r?.attempts ?? 3,
    delayMs: r?.delay === undefined ? 60_000 : durationMs(r.delay),
    maxDelayMs: r?.max_delay === undefined ? 30 * 60_000 : durationMs(r.max_delay),
  };
}
