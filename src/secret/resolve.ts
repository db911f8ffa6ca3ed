/**
 * Reading secrets from where they are kept: a file's first line, what a shell command
 * prints, an environment variable. The policy names secrets by reference ({file}, {command},
 * {env}); the CLI's --password-file and --password-command use the same readers. A secret's
 * value never appears in an error: messages name the file, the command's exit code or the
 * variable, never what they held.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { ArcaError, type ErrorCode } from '../errors.js';

/** A value as the policy gives it: plain, or by reference. */
export type SecretValue =
  | string
  | number
  | boolean
  | { env: string }
  | { file: string }
  | { command: string };

/** The first line of `file`; `what` names the secret in errors (`password file`, `smtp password`). */
export async function readSecretFile(file: string, what: string, code: ErrorCode = 'usage'): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ArcaError(
      code,
      `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  // restic uses the first line of the file.
  const value = text.split(/\r?\n/)[0] ?? '';
  if (value === '') throw new ArcaError(code, `${what} ${file} is empty`);
  return value;
}

/** What the shell command prints, without its final newline; `what` names the secret in errors. */
export function runSecretCommand(
  command: string,
  what: string,
  code: ErrorCode = 'usage',
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 60_000, maxBuffer: 1024 * 1024, env }, (err, stdout) => {
      if (err) {
        // The command's output may hold the secret: say only that it failed.
        const how = err.killed ? 'timed out after 60 s' : `exit code ${String(err.code ?? 'unknown')}`;
        reject(new ArcaError(code, `${what} command failed (${how})`));
        return;
      }
      const value = stdout.replace(/\r?\n$/, '');
      if (value === '') reject(new ArcaError(code, `${what} command printed nothing`));
      else resolve(value);
    });
  });
}

/** The value of a plain or referenced setting, as text. */
export async function resolveSecret(
  value: SecretValue,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (typeof value !== 'object') return String(value);
  if ('env' in value) {
    const v = env[value.env];
    if (v === undefined || v === '')
      throw new ArcaError('usage', `${what}: environment variable ${value.env} is not set`);
    return v;
  }
  if ('file' in value) return readSecretFile(value.file, `${what} file`);
  return runSecretCommand(value.command, what, 'usage', env);
}
