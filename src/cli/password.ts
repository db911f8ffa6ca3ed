import { ArcaError } from '../errors.js';
import { readSecretFile, runSecretCommand } from '../secret/resolve.js';

/** Where a password can come from, in order of precedence. */
export interface PasswordSources {
  passwordFile?: string;
  passwordCommand?: string;
}

/**
 * Finds the repository password: `--password-file`, `--password-command`,
 * `ARCA_PASSWORD_FILE`, `ARCA_PASSWORD_COMMAND`, `ARCA_PASSWORD`, then a prompt on a
 * terminal. The password itself never appears in an error message.
 */
export async function readPassword(
  src: PasswordSources,
  env = process.env,
  what = 'repository',
): Promise<string> {
  const file = src.passwordFile ?? env.ARCA_PASSWORD_FILE;
  const command = src.passwordCommand ?? env.ARCA_PASSWORD_COMMAND;
  if (src.passwordFile !== undefined || (file !== undefined && src.passwordCommand === undefined)) {
    return fromFile(file!);
  }
  if (command !== undefined) return fromCommand(command);
  if (env.ARCA_PASSWORD !== undefined) return env.ARCA_PASSWORD;
  if (process.stdin.isTTY && process.stderr.isTTY) return prompt(`enter password for ${what}: `);
  throw new ArcaError(
    'no-password',
    'no password given: use --password-file, --password-command, ARCA_PASSWORD_FILE or ARCA_PASSWORD',
  );
}

function fromFile(file: string): Promise<string> {
  return readSecretFile(file, 'password file', 'no-password');
}

function fromCommand(command: string): Promise<string> {
  return runSecretCommand(command, 'password', 'no-password');
}

/** Reads a line from the terminal without echoing it. */
export function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (buf: Buffer): void => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          return;
        }
        if (ch === '\u0003') {
          done(new ArcaError('interrupted', 'interrupted'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** True when a password can be asked for on a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** Asks for a new password twice on the terminal; the answers must match and not be empty. */
export async function promptNewPassword(question: string): Promise<string> {
  const first = await prompt(question);
  const second = await prompt('enter password again: ');
  if (first !== second) throw new ArcaError('no-password', 'passwords do not match');
  if (first === '') throw new ArcaError('no-password', 'an empty password is not a password');
  return first;
}
