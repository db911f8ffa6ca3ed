/**
 * Credentials in the policy: given by reference only (R38), never written into the file.
 *
 * A reference is `{env: VAR}` (an environment variable), `{file: PATH}` (the file's first
 * line) or `{command: CMD}` (what a shell command prints). A password slot also accepts a
 * plain string so that the file still loads: `policy check` then reports it as an error,
 * with the requirement and the place, and the runner refuses a policy with errors. The
 * same check looks everywhere else for secrets written in: passwords inside URLs,
 * `PASSWORD=…` in commands, and backend settings whose name says they are secret.
 */
import { z } from 'zod';

const REF_HINT = 'expected a reference: {env: VAR}, {file: PATH} or {command: CMD}';

/** Where a secret comes from at run time. */
export const secretRefSchema = z
  .union(
    [
      z.strictObject({ env: z.string().min(1).meta({ description: 'an environment variable holding it' }) }),
      z.strictObject({ file: z.string().min(1).meta({ description: 'a file whose first line holds it' }) }),
      z.strictObject({ command: z.string().min(1).meta({ description: 'a shell command that prints it' }) }),
    ],
    { error: REF_HINT },
  )
  .meta({ description: 'a secret by reference: {env: VAR}, {file: PATH} or {command: CMD}' });
export type SecretRef = z.output<typeof secretRefSchema>;

/** A slot that holds a secret: a reference; a plain string loads but is reported as a plaintext credential. */
export const credentialSchema = z.union([secretRefSchema, z.string()], { error: REF_HINT }).meta({
  description:
    'a secret by reference ({env: VAR}, {file: PATH} or {command: CMD}); ' +
    'a plain string is a plaintext credential, which policy check reports as an error',
});
export type Credential = z.output<typeof credentialSchema>;

/** A setting that is usually not secret (a region, a key file path) but may be given by reference. */
export const settingSchema = z
  .union([z.string(), z.number(), z.boolean(), secretRefSchema], {
    error: 'expected a value or a reference {env: VAR}, {file: PATH} or {command: CMD}',
  })
  .meta({ description: 'a value, or a reference when it is secret' });
export type Setting = z.output<typeof settingSchema>;

/** True for a setting name that says its value is secret (`AWS_SECRET_ACCESS_KEY`, `rest.password`). */
export function isSecretName(name: string): boolean {
  return /pass|secret|token|credential|private/i.test(name);
}

/** A secret written into the policy: where (a path into the document) and what it looks like. */
export interface InlineSecret {
  path: (string | number)[];
  what: string;
}

// A URL with a password in it: scheme://user:password@host.
const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i;
// NAME=value where NAME says secret and value is not a $VARIABLE: PGPASSWORD=hunter2.
const ASSIGNED_SECRET = /\b[A-Za-z0-9_]*(?:PASSWORD|PASSPHRASE|SECRET|TOKEN)[A-Za-z0-9_]*=(?![$'"]?\$)\S+/i;
// --password=value or --password value on a command line.
const PASSWORD_OPTION = /--password(?:=|\s+)(?![$'"]?\$)\S+/;

/** What kind of written-in secret `text` contains, if any. */
function secretInText(text: string): string | undefined {
  if (URL_PASSWORD.test(text)) return 'a URL with a password in it';
  if (ASSIGNED_SECRET.test(text)) return 'a secret assigned in a command';
  if (PASSWORD_OPTION.test(text)) return 'a --password given on a command line';
  return undefined;
}

/** True when `v` is a `{env}`, `{file}` or `{command}` reference. */
export function isSecretRef(v: unknown): v is SecretRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const entries = Object.entries(v);
  return (
    entries.length === 1 &&
    ['env', 'file', 'command'].includes(entries[0]![0]) &&
    typeof entries[0]![1] === 'string'
  );
}

/**
 * Every secret written into `doc`. `slots` are the paths (with `*` matching any key or
 * index) of credential slots, where any plain string is a secret; `settings` are paths of
 * maps whose plain values are secret when their key's name says so. Every other string in
 * the document is searched for URL passwords and secrets in command lines.
 */
export function findInlineSecrets(
  doc: unknown,
  slots: readonly string[][],
  settings: readonly string[][],
): InlineSecret[] {
  const found: InlineSecret[] = [];
  const matches = (pattern: readonly string[], path: readonly (string | number)[]) =>
    pattern.length === path.length && pattern.every((p, i) => p === '*' || p === String(path[i]));
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (typeof v === 'string' || typeof v === 'number') {
      if (slots.some((s) => matches(s, path))) found.push({ path, what: 'a password written in plain text' });
      else if (
        settings.some((s) => matches(s, path.slice(0, -1))) &&
        isSecretName(String(path[path.length - 1]))
      ) {
        found.push({ path, what: 'a secret setting written in plain text' });
      } else if (typeof v === 'string') {
        const what = secretInText(v);
        if (what !== undefined) found.push({ path, what });
      }
    } else if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) walk(item, [...path, i]);
    } else if (typeof v === 'object' && v !== null) {
      // A reference names where the secret is; only a command can still carry one.
      if (isSecretRef(v) && !('command' in v)) return;
      for (const [k, item] of Object.entries(v)) walk(item, [...path, k]);
    }
  };
  walk(doc, []);
  return found;
}
