/**
 * Retries with exponential backoff (scheduler.retry, R19): a failed step is tried again
 * after `delay`, then twice as long each time up to `max_delay`, `attempts` times; errors
 * that waiting does not cure (a wrong password, a missing repository or setting) and
 * interruptions end it at once.
 */
import { ArcaError } from '../errors.js';
import { retrySettings } from '../policy/scheduler.js';
import type { RunnerContext } from './context.js';

/** How a retried piece of work ended: after how many attempts, and with which error (none: it succeeded). */
export interface Retried {
  attempts: number;
  error?: unknown;
}

/** Runs `fn` until it succeeds or the retries are spent; `label` starts each retry line (`files`, `prune of local`). */
export async function withRetries(
  ctx: RunnerContext,
  label: string,
  fn: () => Promise<void>,
  facts: { dataset?: string; repository?: string; level?: string } = {},
): Promise<Retried> {
  const retry = retrySettings(ctx.loaded.policy.scheduler?.retry);
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await fn();
      return { attempts };
    } catch (err) {
      if (isInterruption(err) || ctx.signal.aborted || attempts > retry.attempts || !worthRetrying(err))
        return { attempts, error: err };
      const wait = Math.min(retry.maxDelayMs, retry.delayMs * 2 ** (attempts - 1));
      ctx.report({
        type: 'retry',
        ...facts,
        attempt: attempts,
        text: `${label}: attempt ${attempts} failed: ${errorText(err)}; retrying in ${formatWait(wait)}`,
      });
      try {
        await ctx.sleep(wait, ctx.signal);
      } catch {
        return { attempts, error: err };
      }
    }
  }
}

/** True for the error of work that was stopped (Ctrl-C, SIGTERM), rather than work that failed. */
export function isInterruption(err: unknown): boolean {
  return err instanceof ArcaError && err.code === 'interrupted';
}

/** Errors that waiting does not cure are reported at once. */
function worthRetrying(err: unknown): boolean {
  return !(
    err instanceof ArcaError &&
    (err.code === 'usage' ||
      err.code === 'no-repository' ||
      err.code === 'wrong-password' ||
      err.code === 'no-password' ||
      err.code === 'unsafe-path')
  );
}

/** An error's message. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatWait(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
