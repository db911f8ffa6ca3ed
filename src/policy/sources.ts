/**
 * What a dataset backs up (R05, R07–R10): paths with excludes, and commands whose output is
 * backed up as a file in the snapshot, with built-in helpers for PostgreSQL (`pg_dump`),
 * MySQL/MariaDB (`mysqldump`) and SQLite (its online backup, consistent while in use).
 * The helpers are declared here; the runner turns each into a command.
 */
import path from 'node:path';
import { z } from 'zod';
import { credentialSchema } from './credentials.js';

const absolutePath = z.string({ error: 'expected an absolute path' }).refine((p) => path.isAbsolute(p), {
  error: 'expected an absolute path (the scheduler has no working directory)',
});

const fileName = z
  .string({ error: 'expected a file name' })
  .min(1, { error: 'must not be empty' })
  .refine((f) => !f.startsWith('/') && !f.split('/').includes('..') && !f.includes('\0'), {
    error: 'expected a relative file name without ".."',
  })
  .meta({ description: 'the name the output gets in the snapshot' });

const text = z.string({ error: 'expected a text' }).min(1, { error: 'must not be empty' });

const serverFields = {
  host: text
    .optional()
    .meta({ description: 'server host name or socket directory (default: the local socket)' }),
  port: z.int().min(1).max(65535).optional().meta({ description: 'server port' }),
  user: text.optional().meta({ description: 'database user' }),
  password: credentialSchema.optional().meta({ description: 'database password, by reference' }),
  args: z
    .array(z.string())
    .optional()
    .meta({ description: 'extra command-line arguments for the dump tool' }),
  filename: fileName.optional(),
};

const commandSource = z.strictObject({
  command: text.meta({ description: 'a shell command whose standard output is backed up' }),
  filename: fileName,
});
const postgresSource = z.strictObject({
  database: text.meta({ description: 'the database to dump with pg_dump' }),
  ...serverFields,
});
const mysqlSource = z.strictObject({
  database: text.meta({ description: 'the database to dump with mysqldump (--single-transaction)' }),
  ...serverFields,
});
const sqliteSource = z.strictObject({
  path: absolutePath.meta({ description: 'the SQLite database file, copied with its online backup' }),
  filename: fileName.optional(),
});
export type CommandSource = z.output<typeof commandSource>;
export type PostgresSource = z.output<typeof postgresSource>;
export type MysqlSource = z.output<typeof mysqlSource>;
export type SqliteSource = z.output<typeof sqliteSource>;

/** The name a dump gets in the snapshot: its `filename`, or `postgres/DB.sql`, `mysql/DB.sql`, `sqlite/FILE`. */
export function dumpFilename(
  kind: 'commands' | 'postgres' | 'mysql' | 'sqlite',
  s: CommandSource | PostgresSource | MysqlSource | SqliteSource,
): string {
  if (s.filename !== undefined) return s.filename;
  if (kind === 'sqlite') return `sqlite/${path.basename((s as SqliteSource).path)}`;
  return `${kind}/${(s as PostgresSource).database}.sql`;
}

const dumpKinds = ['commands', 'postgres', 'mysql', 'sqlite'] as const;

/** The `sources` aspect of a dataset. */
export const sourcesSchema = z
  .strictObject({
    paths: z.array(absolutePath).optional().meta({ description: 'files and directories to back up' }),
    exclude: z
      .array(z.string())
      .optional()
      .meta({ description: "patterns to leave out of paths, with restic's --exclude rules" }),
    commands: z.array(commandSource).optional().meta({ description: 'commands whose output is backed up' }),
    postgres: z.array(postgresSource).optional().meta({ description: 'PostgreSQL databases (pg_dump)' }),
    mysql: z.array(mysqlSource).optional().meta({ description: 'MySQL or MariaDB databases (mysqldump)' }),
    sqlite: z.array(sqliteSource).optional().meta({ description: 'SQLite databases (online backup)' }),
  })
  .superRefine((s, ctx) => {
    const count = (s.paths?.length ?? 0) + dumpKinds.reduce((n, k) => n + (s[k]?.length ?? 0), 0);
    if (count === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'nothing to back up: give paths, commands, postgres, mysql or sqlite',
      });
    }
    if ((s.exclude?.length ?? 0) > 0 && (s.paths?.length ?? 0) === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['exclude'],
        message: 'exclude applies to paths, and there are none',
      });
    }
    const seen = new Map<string, string>();
    for (const kind of dumpKinds) {
      (s[kind] ?? []).forEach((source, i) => {
        const name = dumpFilename(kind, source);
        const other = seen.get(name);
        if (other !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [kind, i],
            message: `its output would be stored as ${JSON.stringify(name)}, as ${other}'s is; give it another filename`,
          });
        } else seen.set(name, `${kind}[${i}]`);
      });
    }
  })
  .meta({ description: 'what the dataset backs up' });
export type Sources = z.output<typeof sourcesSchema>;
