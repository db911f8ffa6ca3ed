/**
 * How long a dataset's snapshots are kept (R41, R42): restic's keep rules, which `forget`
 * applies exactly as restic does (src/ops/retention.ts), plus archive rules that override
 * them: snapshots with an archive tag are never forgotten, and while a legal hold is set
 * nothing of the dataset is.
 */
import { z } from 'zod';
import type { KeepPolicy } from '../ops/retention.js';
import { dateSchema } from './date.js';
import { durationSchema, parsePolicyDuration, tryParseDuration } from './duration.js';

const count = z
  .union([z.int().min(0), z.literal('unlimited')], { error: 'expected a whole number or "unlimited"' })
  .optional();

const within = durationSchema
  .refine((text) => ((d) => (d?.minutes ?? 0) === 0 && (d?.seconds ?? 0) === 0)(tryParseDuration(text)), {
    error: 'keep-within counts whole hours (m means minutes here; write 26w or 180d for about six months)',
  })
  .optional()
  .meta({ description: 'keep every snapshot this close to the newest one (restic --keep-within), e.g. 30d' });

const tag = z
  .string()
  .min(1, { error: 'must not be empty' })
  .refine((t) => !t.includes(','), { error: 'one tag per entry (no commas)' });

const keepSchema = z
  .strictObject({
    last: count.meta({ description: 'keep the newest n snapshots (--keep-last)' }),
    hourly: count.meta({ description: 'keep the newest snapshot of each of the last n hours' }),
    daily: count.meta({ description: 'keep the newest snapshot of each of the last n days' }),
    weekly: count.meta({ description: 'keep the newest snapshot of each of the last n weeks' }),
    monthly: count.meta({ description: 'keep the newest snapshot of each of the last n months' }),
    yearly: count.meta({ description: 'keep the newest snapshot of each of the last n years' }),
    within,
    tags: z
      .array(z.string().min(1, { error: 'must not be empty' }))
      .optional()
      .meta({
        description: 'keep snapshots with all tags of any entry ("a,b" means both a and b), as --keep-tag',
      }),
  })
  .superRefine((k, ctx) => {
    if (Object.values(k).every((v) => v === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'no keep rule: give last, hourly, daily, weekly, monthly, yearly, within or tags',
      });
    }
  })
  .meta({ description: "restic's keep rules" });

const legalHoldSchema = z
  .strictObject({
    reason: z.string().min(1, { error: 'must not be empty' }).meta({ description: 'why the data is held' }),
    ref: z.string().optional().meta({ description: 'a case or ticket reference' }),
    since: dateSchema.optional().meta({ description: 'when the hold began' }),
  })
  .meta({ description: 'while present, no snapshot of the dataset is forgotten' });

const archiveSchema = z
  .strictObject({
    tags: z
      .array(tag)
      .optional()
      .meta({ description: 'snapshots with any of these tags are never forgotten' }),
    legal_hold: legalHoldSchema.optional(),
  })
  .meta({ description: 'archive rules, which override the keep rules' });

/** The `retention` aspect of a dataset. */
export const retentionSchema = z
  .strictObject({
    keep: keepSchema,
    archive: archiveSchema.optional(),
    basis: z
      .string()
      .min(1, { error: 'must not be empty' })
      .optional()
      .meta({ description: 'the legal, regulatory or contractual basis of the retention period (R41)' }),
  })
  .meta({ description: 'how long snapshots are kept (R41, R42)' });
export type Retention = z.output<typeof retentionSchema>;

/**
 * The keep policy `forget` applies to the dataset's snapshots, archive tags included; null
 * while a legal hold is set, when nothing may be forgotten.
 */
export function keepPolicyFor(r: Retention): KeepPolicy | null {
  if (r.archive?.legal_hold !== undefined) return null;
  const n = (c: number | 'unlimited' | undefined) => (c === 'unlimited' ? -1 : c);
  const policy: KeepPolicy = {
    last: n(r.keep.last),
    hourly: n(r.keep.hourly),
    daily: n(r.keep.daily),
    weekly: n(r.keep.weekly),
    monthly: n(r.keep.monthly),
    yearly: n(r.keep.yearly),
  };
  if (r.keep.within !== undefined) {
    const d = parsePolicyDuration(r.keep.within);
    policy.within = { years: d.years, months: 0, days: d.weeks * 7 + d.days, hours: d.hours };
  }
  const tags = [...(r.keep.tags ?? []), ...(r.archive?.tags ?? [])];
  if (tags.length > 0) policy.tags = tags;
  return policy;
}
