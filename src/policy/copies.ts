/**
 * Which repositories a dataset must reach (R20, R32, R34): it is backed up to the first,
 * then copied to the others and each copy verified.
 */
import { z } from 'zod';
import { nameSchema } from './names.js';

/** The `copies` aspect of a dataset: repository names, the backup target first. */
export const copiesSchema = z
  .array(nameSchema)
  .min(1, { error: 'name at least one repository (the first receives the backup)' })
  .superRefine((names, ctx) => {
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i)
        ctx.addIssue({ code: 'custom', path: [i], message: `repository ${name} is named twice` });
    });
  })
  .meta({ description: 'repositories the dataset must reach: backed up to the first, copied to the others' });
export type Copies = z.output<typeof copiesSchema>;
