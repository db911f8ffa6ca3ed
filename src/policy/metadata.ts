/**
 * The policy's identity and approval (R01) and its review date (R02): which document this
 * is, which version, who owns it, who approved it and when, and when it is reviewed next.
 */
import { z } from 'zod';
import { dateSchema } from './date.js';

const text = (description: string) =>
  z.string({ error: 'expected a text' }).min(1, { error: 'must not be empty' }).meta({ description });

/** The `metadata` aspect. */
export const metadataSchema = z
  .strictObject({
    id: text('the policy document id, e.g. POL-BKP-001'),
    version: z
      .string({
        error: 'expected a version as a quoted string, e.g. "1.0" (1.10 unquoted is the number 1.1)',
      })
      .min(1, { error: 'must not be empty' })
      .meta({ description: 'the version of this policy; quote it in YAML ("1.0")' }),
    owner: text('who maintains the policy (role or name)'),
    approved_by: text('who approved this version (role or name)'),
    approved_on: dateSchema.meta({ description: 'when this version was approved (YYYY-MM-DD)' }),
    next_review: dateSchema.meta({
      description: 'when the policy is reviewed next (YYYY-MM-DD); at most 12 months after approval',
    }),
  })
  .meta({ description: 'identity, ownership and approval of the policy (R01, R02)' });
export type Metadata = z.output<typeof metadataSchema>;
