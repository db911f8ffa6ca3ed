/**
 * Where backups are kept (R32–R36): each repository's location, the site it is at, its
 * media, whether it is offsite and immutable, and how to reach it. Credentials are given
 * by reference only (R38): see credentials.ts.
 */
import { z } from 'zod';
import { locationKind } from '../backend/location.js';
import { credentialSchema, settingSchema } from './credentials.js';
import { triggerSchema } from './schedules.js';

/** Kinds of storage media, for the "two media" rule. */
export const mediaTypes = ['disk', 'nas', 'object-storage', 'tape', 'removable', 'optical'] as const;

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name' });
const optionName = z
  .string()
  .regex(/^[a-z0-9]+\.[a-z0-9.-]+$/, { error: 'expected a backend option name such as s3.region' });

/** One repository. */
export const repositorySchema = z
  .strictObject({
    location: z
      .string({ error: 'expected a repository location' })
      .min(1, { error: 'must not be empty' })
      .refine((l) => locationKind(l) !== undefined, {
        error: 'unsupported location (use a path, local:, sftp:, s3: or rest:)',
      })
      .meta({
        description:
          'where the repository is, as restic writes it: /path, sftp:user@host:/path, ' +
          's3:https://host/bucket/prefix or rest:https://host:8000/path/',
      }),
    site: z
      .string({ error: 'expected a site name' })
      .min(1, { error: 'must not be empty' })
      .meta({ description: 'the site (building, region, provider) that holds it' }),
    media: z.enum(mediaTypes).meta({ description: 'the kind of storage media' }),
    offsite: z.boolean().meta({
      description: 'far enough from the main site to survive a disaster there (R32)',
    }),
    immutable: z.boolean().meta({
      description:
        'its backups cannot be deleted or changed with the credentials arca holds: append-only REST, ' +
        'S3 object lock in compliance mode, offline media (R34)',
    }),
    password: credentialSchema.meta({ description: 'the repository password, by reference' }),
    env: z.record(envName, settingSchema).optional().meta({
      description:
        'environment variables for the backend (AWS_ACCESS_KEY_ID, ARCA_REST_PASSWORD…); secret ones by reference',
    }),
    options: z
      .record(optionName, settingSchema)
      .optional()
      .meta({ description: 'backend options, as -o key=value (s3.region, sftp.identity…)' }),
    prune: z
      .strictObject({
        schedule: triggerSchema.meta({ description: 'when prune runs: a cron expression or {every: 7d}' }),
        max_unused: z
          .string()
          .regex(/^(\d+(\.\d+)?%|\d+(\.\d+)?[kKmMgGtT]?|unlimited)$/, {
            error: 'expected a percentage (5%), a size (100M) or unlimited',
          })
          .optional()
          .meta({ description: "unused space prune may leave, as restic's --max-unused (default 5%)" }),
      })
      .optional()
      .meta({
        description:
          'when unreferenced data is removed from this repository (forget runs after every backup); ' +
          'leave out for immutable repositories',
      }),
  })
  .superRefine((repo, ctx) => {
    const kind = locationKind(repo.location);
    for (const key of Object.keys(repo.options ?? {})) {
      if (kind !== undefined && !key.startsWith(`${kind}.`)) {
        ctx.addIssue({
          code: 'custom',
          path: ['options', key],
          message:
            kind === 'local'
              ? 'a local repository takes no backend options'
              : `not an option of the ${kind} backend (its options start with "${kind}.")`,
        });
      }
    }
  })
  .meta({ description: 'a repository that receives backups or copies' });
export type Repository = z.output<typeof repositorySchema>;
