/**
 * The shell side of a restoration procedure: for one repository of the policy, the
 * environment to set (password and backend credentials, by reference: the lines read them
 * from where the policy says they are and never contain a value), and the global arguments
 * arca and plain restic need to reach it. arca writes locations as restic does; where the
 * two still differ (arca's `sftp.identity`/`sftp.known-hosts` options, which restic spells
 * as an `ssh` command, and the REST credentials arca takes from `ARCA_REST_*`), restic gets
 * its own form here.
 */
import { locationKind } from '../backend/location.js';
import { parseSftpLocation } from '../backend/sftp.js';
import { isSecretName, isSecretRef, type SecretRef, type Setting } from '../policy/credentials.js';
import type { Repository as PolicyRepository } from '../policy/repositories.js';
import { code } from './md.js';

/** A piece of a shell word: literal text, or a shell expression (`${VAR}`, `$(cmd)`) expanded when run. */
export type Part = string | { expr: string };

const bare = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `s` as one shell word, single-quoted when it needs to be. */
export function shellQuote(s: string): string {
  return s !== '' && bare.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** One shell word made of `parts`; double-quoted when an expression is in it, so that it expands. */
export function shellWord(parts: readonly Part[]): string {
  if (parts.every((p) => typeof p === 'string')) return shellQuote(parts.join(''));
  const body = parts
    .map((p) => (typeof p === 'string' ? p.replace(/["$`\\]/g, (c) => `\\${c}`) : p.expr))
    .join('');
  return `"${body}"`;
}

/**
 * The shell expression that yields a secret from where `ref` says it is; the value is never
 * written. A command reference is run exactly as the policy writes it: it names where the
 * secret is (`gcloud secrets versions access latest --secret=arca-repo`), and rewriting it
 * would break it; a command with a secret written into it is a policy-check error (R38).
 */
export function refExpression(ref: SecretRef): string {
  if ('env' in ref) return `\${${ref.env}}`;
  if ('file' in ref) return `$(head -n 1 ${shellQuote(ref.file)})`;
  return `$(${ref.command})`;
}

/** Where a secret comes from, in words (markdown), for the "how to get the keys" section. */
export function describeRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${code(ref.env)}`;
  if ('file' in ref) return `the first line of ${code(ref.file)}`;
  return `what ${code(ref.command)} prints`;
}

/** True for a backend setting whose plain value may be shown: not a secret, not a key. */
function showable(name: string): boolean {
  return !isSecretName(name) && !/access.?key|api.?key|key.?id|user|auth|cred/i.test(name);
}

/** How to reach one repository from a shell. */
export interface RepositoryShell {
  /** Shell lines that set the password and backend credentials for arca and restic. */
  env: string[];
  /** `-r LOCATION` and `-o key=value` words for restic. */
  restic: string[];
  /** The same for arca. */
  arca: string[];
  /** Things the reader must know (settings restic does not have, credentials written into the policy). */
  notes: string[];
}

/** The environment and global arguments arca and restic need for repository `name`. */
export function repositoryShell(name: string, repo: PolicyRepository): RepositoryShell {
  const env: string[] = [
    'unset RESTIC_PASSWORD RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND ARCA_PASSWORD ARCA_PASSWORD_FILE ARCA_PASSWORD_COMMAND',
    ...passwordLines(name, repo.password),
  ];
  const notes: string[] = [];
  for (const [key, value] of Object.entries(repo.env ?? {})) env.push(...settingLines(key, value, notes));
  const kind = locationKind(repo.location) ?? 'local';
  const arcaOptions = Object.entries(repo.options ?? {}).flatMap(([key, value]) => {
    const v = optionValue(key, value, notes);
    return v === undefined ? [] : ['-o', shellWord([`${key}=`, ...v])];
  });
  const base = { env, notes };
  switch (kind) {
    case 'sftp':
      return { ...base, ...sftpArgs(repo, arcaOptions, notes) };
    case 'rest':
      return { ...base, ...restArgs(repo, arcaOptions, env, notes) };
    default: {
      // Local and S3 locations and options read the same in both tools.
      const resticOptions = Object.entries(repo.options ?? {}).flatMap(([key, value]) => {
        if (!resticKnows.has(key)) {
          notes.push(`restic has no option ${code(key)}; it is left out of the restic commands.`);
          return [];
        }
        const v = optionValue(key, value, []);
        return v === undefined ? [] : ['-o', shellWord([`${key}=`, ...v])];
      });
      const loc = shellQuote(repo.location);
      return { ...base, restic: ['-r', loc, ...resticOptions], arca: ['-r', loc, ...arcaOptions] };
    }
  }
}

/** The extended options restic 0.14 knows, for the backends arca shares with it. */
const resticKnows = new Set([
  'local.connections',
  'local.layout',
  's3.bucket-lookup',
  's3.connections',
  's3.layout',
  's3.list-objects-v1',
  's3.region',
  's3.retries',
  's3.storage-class',
  'rest.connections',
]);

function passwordLines(name: string, password: PolicyRepository['password']): string[] {
  if (typeof password === 'string') {
    // Written into the policy by mistake: never repeated here; the reader types it.
    return [
      `# The policy holds the password of repository ${name} in plain text (arca policy check reports it);`,
      '# it is not shown here. Type it (it is not echoed):',
      "printf 'repository password: ' >&2; stty -echo; read -r RESTIC_PASSWORD; stty echo; echo >&2",
      'export RESTIC_PASSWORD ARCA_PASSWORD="$RESTIC_PASSWORD"',
    ];
  }
  if ('file' in password) {
    const f = shellQuote(password.file);
    return [`export RESTIC_PASSWORD_FILE=${f} ARCA_PASSWORD_FILE=${f}`];
  }
  if ('env' in password) {
    return [
      `export RESTIC_PASSWORD="\${${password.env}:?set ${password.env} to the password of repository ${name}}"`,
      'export ARCA_PASSWORD="$RESTIC_PASSWORD"',
    ];
  }
  return [
    `RESTIC_PASSWORD="${refExpression(password)}"`,
    'export RESTIC_PASSWORD ARCA_PASSWORD="$RESTIC_PASSWORD"',
  ];
}

function settingLines(key: string, value: Setting, notes: string[]): string[] {
  if (isSecretRef(value)) {
    if ('env' in value && value.env === key) return [`: "\${${key}:?set ${key}}"`, `export ${key}`];
    return [`${key}="${refExpression(value)}"`, `export ${key}`];
  }
  if (showable(key)) return [`export ${key}=${shellQuote(String(value))}`];
  notes.push(
    `${code(key)} is written into the policy in plain text; it is not shown here (set it yourself, and move it to a reference).`,
  );
  return [`: "\${${key}:?set ${key}}"`, `export ${key}`];
}

/** An option's value as word parts; undefined (with a note) for a plain secret. */
function optionValue(key: string, value: Setting, notes: string[]): Part[] | undefined {
  if (isSecretRef(value)) return [{ expr: refExpression(value) }];
  if (showable(key.replace(/^[a-z0-9]+\./, ''))) return [String(value)];
  notes.push(`option ${code(key)} is written into the policy in plain text; it is not shown here.`);
  return undefined;
}

/** restic reaches SFTP through `ssh`; arca's identity, port, known-hosts, host-key and timeout options become ssh's. */
function sftpArgs(repo: PolicyRepository, arcaOptions: string[], notes: string[]) {
  const t = parseSftpLocation(repo.location);
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const resticLoc = shellQuote(`sftp:${t.user}@${host}:${t.path}`);
  const opts = repo.options ?? {};
  const get = (k: string): Part[] | undefined => {
    const v = opts[`sftp.${k}`];
    return v === undefined ? undefined : optionValue(`sftp.${k}`, v, []);
  };
  const ssh: Part[] = ['ssh'];
  const identity = get('identity');
  if (identity) ssh.push(' -i ', ...identity);
  const port = get('port') ?? (t.port === undefined ? undefined : [String(t.port)]);
  if (port) ssh.push(' -p ', ...port);
  const knownHosts = get('known-hosts');
  if (knownHosts) ssh.push(' -o UserKnownHostsFile=', ...knownHosts);
  const policy = opts['sftp.host-key-policy'];
  const strict = policy === 'off' ? 'no' : policy === 'accept-new' ? 'accept-new' : 'yes';
  ssh.push(` -o StrictHostKeyChecking=${strict}`);
  const timeout = get('timeout');
  if (timeout) ssh.push(' -o ConnectTimeout=', ...timeout);
  ssh.push(` ${t.user}@${host} -s sftp`);
  const custom = ssh.length > 3 || Object.keys(opts).some((k) => k.startsWith('sftp.'));
  for (const k of Object.keys(opts)) {
    if (!['identity', 'port', 'known-hosts', 'host-key-policy', 'timeout'].includes(k.slice(5)))
      notes.push(`restic has no option ${code(k)}; it is left out of the restic commands.`);
  }
  return {
    restic: ['-r', resticLoc, ...(custom ? ['-o', shellWord(['sftp.command=', ...ssh])] : [])],
    arca: ['-r', shellQuote(repo.location), ...arcaOptions],
  };
}

/**
 * restic (0.14) takes REST credentials only in the URL; arca also reads `ARCA_REST_USERNAME`
 * and `ARCA_REST_PASSWORD`. The restic location names those variables, so no value is written.
 */
function restArgs(repo: PolicyRepository, arcaOptions: string[], env: string[], notes: string[]) {
  const url = new URL(repo.location.slice('rest:'.length));
  const inlinePassword = url.password !== '';
  const user = url.username;
  url.password = '';
  const arcaLoc = `rest:${url.href}`;
  url.username = '';
  const hostAndPath = url.href.slice(`${url.protocol}//`.length);
  const names = Object.keys(repo.env ?? {});
  const userPart: Part[] =
    user !== '' ? [user] : names.includes('ARCA_REST_USERNAME') ? [{ expr: `\${ARCA_REST_USERNAME}` }] : [];
  const withPassword = inlinePassword || names.includes('ARCA_REST_PASSWORD');
  if (inlinePassword && !names.includes('ARCA_REST_PASSWORD')) {
    notes.push(
      'the policy writes the REST password into the location; it is not shown here: set `ARCA_REST_PASSWORD`.',
    );
    env.push(`: "\${ARCA_REST_PASSWORD:?set ARCA_REST_PASSWORD}"`, 'export ARCA_REST_PASSWORD');
  }
  if (withPassword)
    notes.push('a REST user name or password with special characters must be percent-encoded for restic.');
  const userinfo: Part[] =
    userPart.length === 0 && !withPassword
      ? []
      : [...userPart, ...(withPassword ? [':', { expr: `\${ARCA_REST_PASSWORD}` }] : []), '@'];
  const resticOptions = Object.keys(repo.options ?? {}).flatMap((key) => {
    if (key === 'rest.connections') {
      const v = optionValue(key, repo.options![key]!, []);
      return v === undefined ? [] : ['-o', shellWord([`${key}=`, ...v])];
    }
    notes.push(`restic has no option ${code(key)}; it is left out of the restic commands.`);
    return [];
  });
  return {
    restic: ['-r', shellWord([`rest:${url.protocol}//`, ...userinfo, hostAndPath]), ...resticOptions],
    arca: ['-r', shellQuote(arcaLoc), ...arcaOptions],
  };
}
