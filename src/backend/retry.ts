import { ArcaError } from '../errors.js';
import { type Backend, describeHandle, type FileInfo, type FileType, type Handle } from './backend.js';
import { sha256Hex } from './files.js';

/** How often and how patiently transient failures are retried. */
export interface RetryPolicy {
  /** Attempts per operation, the first included. */
  maxAttempts: number;
  /** The delay before the first retry; it doubles with each further one (before jitter). */
  baseDelayMs: number;
  /** The longest delay between two attempts. */
  maxDelayMs: number;
}

/** restic's patience, roughly: about ten attempts over a few minutes before giving up. */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 10, baseDelayMs: 500, maxDelayMs: 60_000 };

/** Attempts for a file whose content did not match its name. */
const corruptAttempts = 3;

/** Told about each retry, e.g. to print a warning. */
export type RetryListener = (what: string, attempt: number, err: Error, delayMs: number) => void;

/** Seams for tests: the clock and the dice. */
export interface RetryDeps {
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * Wraps a backend so that transient failures (an `ArcaError` with `transient`, see the
 * backends) are retried with exponential backoff and full jitter, up to a bound; anything
 * else fails at once. It also checks what it moves: a whole content-addressed file whose
 * SHA-256 is not its name was damaged in transit or at rest, and a saved file whose size on
 * the server differs from what was sent was not stored as sent — both count as transient
 * (another attempt may succeed) until the attempts run out.
 */
export class RetryBackend implements Backend {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(
    private readonly inner: Backend,
    private readonly policy: RetryPolicy = defaultRetryPolicy,
    private readonly onRetry: RetryListener = () => {},
    deps: RetryDeps = {},
  ) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = deps.random ?? Math.random;
  }

  get location(): string {
    return this.inner.location;
  }

  create(): Promise<void> {
    return this.retry('create repository', () => this.inner.create());
  }

  load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    const whole = (offset ?? 0) === 0 && length === undefined;
    return this.retry(`load ${describeHandle(h)}`, async () => {
      const data = await this.inner.load(h, offset, length);
      if (whole && h.type !== 'config' && sha256Hex(data) !== h.name) {
        throw new ArcaError('corrupt', `${describeHandle(h)}: content does not match its name (SHA-256)`, {
          transient: true,
        });
      }
      return data;
    });
  }

  save(h: Handle, data: Buffer): Promise<void> {
    return this.retry(`save ${describeHandle(h)}`, async () => {
      await this.inner.save(h, data);
      const stored = await this.inner.stat(h);
      if (stored.size !== data.length) {
        throw new ArcaError(
          'io',
          `${describeHandle(h)}: the server stored ${stored.size} bytes of ${data.length}`,
          { transient: true },
        );
      }
    });
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.retry(`stat ${describeHandle(h)}`, () => this.inner.stat(h));
  }

  /** A listing that fails part-way is started again; names already given are not repeated. */
  async *list(type: FileType): AsyncIterable<FileInfo> {
    const seen = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const fi of this.inner.list(type)) {
          if (seen.has(fi.name)) continue;
          seen.add(fi.name);
          yield fi;
        }
        return;
      } catch (err) {
        await this.backOff(`list ${type}`, attempt, err);
      }
    }
  }

  remove(h: Handle): Promise<void> {
    return this.retry(`remove ${describeHandle(h)}`, () => this.inner.remove(h));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async retry<T>(what: string, op: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        await this.backOff(what, attempt, err);
      }
    }
  }

  /** Rethrows `err` unless it is transient and attempts remain; otherwise waits before the next. */
  private async backOff(what: string, attempt: number, err: unknown): Promise<void> {
    if (!(err instanceof ArcaError) || !err.transient) throw err;
    // Damage may be in transit (worth another try) or at rest (no try will help): a few only.
    const bound =
      err.code === 'corrupt' ? Math.min(corruptAttempts, this.policy.maxAttempts) : this.policy.maxAttempts;
    if (attempt >= bound) {
      throw new ArcaError(
        err.code === 'corrupt' ? 'corrupt' : 'io',
        `${err.message} (gave up after ${attempt} attempts)`,
        {
          cause: err,
        },
      );
    }
    const ceiling = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1));
    const delay = Math.round(this.random() * ceiling);
    this.onRetry(what, attempt, err, delay);
    await this.sleep(delay);
  }
}
