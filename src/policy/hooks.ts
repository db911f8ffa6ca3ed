/**
 * Commands run around a dataset's backup: `before` (a failure stops the run, which is then
 * retried), `after` (once the backup, its copies and retention succeeded) and `on_failure`
 * (when a run has failed for good, after its last retry). Each runs in a shell with the run's
 * facts in the environment: ARCA_DATASET, ARCA_LEVEL, ARCA_POLICY_ID, and ARCA_SNAPSHOT_ID
 * (after) or ARCA_ERROR (on_failure).
 */
import { z } from 'zod';
import { durationSchema } from './duration.js';

const command = z.string({ error: 'expected a shell command' }).min(1, { error: 'must not be empty' });

/** The `hooks` aspect of a dataset. */
export const hooksSchema = z
  .strictObject({
    before: command.optional().meta({
      description: 'runs before the backup (stop a service, flush a cache); a failure fails the run',
    }),
    after: command
      .optional()
      .meta({ description: 'runs after the backup, its copies and retention succeeded' }),
    on_failure: command
      .optional()
      .meta({ description: 'runs when the run has failed after its last retry, with ARCA_ERROR set' }),
    timeout: durationSchema.optional().meta({ description: 'how long a hook may run (default 1h)' }),
  })
  .meta({ description: 'shell commands run around the backup' });
export type Hooks = z.output<typeof hooksSchema>;
