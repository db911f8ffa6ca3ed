/**
 * Errors are values with a code a user can act on. The CLI turns an {@link ArcaError}
 * into one line on stderr and the exit code that belongs to its code; anything else is a
 * bug and gets a stack trace.
 */

/** Exit codes, as restic uses them where restic has one. */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  partial: 3,
  noRepository: 10,
  lockFailed: 11,
  wrongPassword: 12,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What went wrong, in a word a script can match on. */
export type ErrorCode =
  | 'usage'
  | 'no-repository'
  | 'wrong-password'
  | 'no-password'
  | 'locked'
  | 'corrupt'
  | 'not-found'
  | 'unsupported'
  | 'exists'
  | 'unsafe-path'
  | 'io'
  | 'partial'
  | 'interrupted';

const exitCodes: Record<ErrorCode, ExitCode> = {
  usage: ExitCode.usage,
  'no-repository': ExitCode.noRepository,
  'wrong-password': ExitCode.wrongPassword,
  'no-password': ExitCode.error,
  locked: ExitCode.lockFailed,
  corrupt: ExitCode.error,
  'not-found': ExitCode.error,
  unsupported: ExitCode.error,
  exists: ExitCode.error,
  'unsafe-path': ExitCode.error,
  io: ExitCode.error,
  partial: ExitCode.partial,
  interrupted: ExitCode.interrupted,
};

/** An expected failure: a message for a person, a code for a program. */
export class ArcaError extends Error {
  readonly code: ErrorCode;
  /**
   * True when trying again may succeed (a timeout, a reset connection, a 5xx answer):
   * the retrying backend retries these and only these.
   */
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; transient?: boolean }) {
    super(message, options);
    this.name = 'ArcaError';
    this.code = code;
    this.transient = options?.transient === true;
  }

  /** The process exit code this error maps to. */
  get exitCode(): ExitCode {
    return exitCodes[this.code];
  }
}

/** True when `err` is a Node system error with the given `code` (ENOENT, EEXIST…). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
