/**
 * The backup policy: one document made of aspects, one file each (metadata, repositories,
 * datasets and theirs, notifications). This file puts them together, checks that they
 * refer to each other correctly, and exports the JSON Schema editors use.
 */
import { z } from 'zod';
import { datasetSchema } from './datasets.js';
import { metadataSchema } from './metadata.js';
import { nameSchema } from './names.js';
import { notificationsSchema } from './notifications.js';
import { repositorySchema } from './repositories.js';
import { schedulerSchema } from './scheduler.js';

/** The whole policy file. */
export const policySchema = z
  .strictObject({
    metadata: metadataSchema,
    repositories: z
      .record(nameSchema, repositorySchema, { error: 'expected a mapping of names to repositories' })
      .meta({ description: 'where backups are stored, by name' }),
    datasets: z
      .record(nameSchema, datasetSchema, { error: 'expected a mapping of names to datasets' })
      .meta({ description: 'what is protected, by name' }),
    notifications: notificationsSchema.optional(),
    scheduler: schedulerSchema.optional(),
  })
  .superRefine((p, ctx) => {
    const repos = Object.keys(p.repositories);
    if (repos.length === 0)
      ctx.addIssue({ code: 'custom', path: ['repositories'], message: 'no repository' });
    if (Object.keys(p.datasets).length === 0)
      ctx.addIssue({ code: 'custom', path: ['datasets'], message: 'no dataset' });
    for (const [name, d] of Object.entries(p.datasets)) {
      d.copies.forEach((repo, i) => {
        if (!repos.includes(repo)) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', name, 'copies', i],
            message: `unknown repository ${JSON.stringify(repo)} (repositories: ${repos.join(', ')})`,
          });
        }
      });
    }
  })
  .meta({
    title: 'arca backup policy',
    description: 'The agreed backup policy arca carries out (ISO/IEC 27001 A.8.13)',
  });
export type Policy = z.output<typeof policySchema>;

/** The JSON Schema of the policy file, for editors (yaml-language-server and the like). */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policySchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
