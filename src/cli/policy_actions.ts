/**
 * What `arca policy init|schema|check` do. Kept apart from the command's registration so
 * that zod and the YAML parser load only when a policy command runs, not with every command.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ArcaError, isErrno } from '../errors.js';
import { examplePolicy } from '../policy/example.js';
import { checkPolicy, type Finding, formatFinding } from '../policy/findings.js';
import { parsePolicy, readPolicy, resolvePolicyFile } from '../policy/load.js';
import { policyJsonSchema } from '../policy/schema.js';
import type { GlobalOptions, Output } from './context.js';
import { createLocalRepository, defaultRepository, localRepositoryExists } from './default_repo.js';
import { recordCli } from './journal_record.js';

/** Where and when a policy command runs; tests pass their own. */
export interface PolicyEnvironment {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  now?: Date;
}

/** Writes the annotated example policy to `output` (default: the policy file) and returns the file; `-` prints it. */
export function policyInit(
  o: { output?: string; force?: boolean } & PolicyEnvironment,
  print: (text: string) => void = (t) => process.stdout.write(t),
): string {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  const defaults = defaultRepository(env);
  const text = examplePolicy({
    repository: defaults.location,
    passwordFile: defaults.passwordFile,
    paths: [cwd],
    today: o.now ?? new Date(),
  });
  // The example is generated from this machine's paths: prove it is still valid before writing.
  parsePolicy(text, 'the generated example');
  if (o.output === '-') {
    print(text);
    return '-';
  }
  const file = o.output === undefined ? resolvePolicyFile(undefined, env, cwd) : path.resolve(cwd, o.output);
  try {
    writeFileSync(file, text, { flag: o.force ? 'w' : 'wx', mode: 0o644 });
  } catch (err) {
    if (isErrno(err, 'EEXIST'))
      throw new ArcaError('exists', `${file} already exists (use --force to replace it)`);
    throw new ArcaError('io', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  return file;
}

/**
 * Creates the local repository the example policy names (and its password file) unless it
 * exists, so that `arca run` works right after `arca policy init`.
 */
export async function setUpDefaultRepository(o: GlobalOptions, out: Output): Promise<void> {
  const { location, passwordFile } = defaultRepository();
  if (localRepositoryExists(location)) return;
  await recordCli(o, { operation: 'init', repository: location }, async (report) => {
    const repo = await createLocalRepository(location, passwordFile, out);
    report.details = { repository_id: repo.config.id, version: repo.version };
  });
}

/** The policy's JSON Schema as printed by `arca policy schema`. */
export function policySchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}

/** The outcome of `arca policy check`. */
export interface PolicyCheckResult {
  file: string;
  findings: Finding[];
  errors: number;
  warnings: number;
}

/** Loads and validates the policy (ArcaError `usage` when invalid), then checks it against the control. */
export function policyCheck(o: { policy?: string; strict?: boolean } & PolicyEnvironment): PolicyCheckResult {
  const file = resolvePolicyFile(o.policy, o.env ?? process.env, o.cwd ?? process.cwd());
  const loaded = readPolicy(file);
  const findings = checkPolicy(loaded.policy, { now: o.now ?? new Date(), strict: o.strict === true });
  const errors = findings.filter((f) => f.severity === 'error').length;
  return { file, findings, errors, warnings: findings.length - errors };
}

/** Prints a check's findings (lines, or a JSON array) and fails with exit code 2 when there are errors. */
export function reportPolicyCheck(r: PolicyCheckResult, out: Output): void {
  if (out.json) out.printJson(r.findings);
  else for (const f of r.findings) out.print(formatFinding(f));
  const counts = `${r.errors} ${r.errors === 1 ? 'error' : 'errors'}, ${r.warnings} ${r.warnings === 1 ? 'warning' : 'warnings'}`;
  if (r.errors > 0) throw new ArcaError('usage', `${r.file}: ${counts} against the backup control`);
  out.info(`${r.file}: valid, ${counts}`);
}
