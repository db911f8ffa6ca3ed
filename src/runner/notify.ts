/**
 * Reporting to people (R19): the runner's events go through every configured channel
 * (src/notify/), and each delivery — healthchecks pings included — is recorded in the
 * journal as a `notification`, so the record shows that a failure was not just logged but
 * reported, and to which channel. Texts are cleaned of credentials first (a hook's last
 * line of error output can hold one), as the journal cleans what it stores.
 */
import { cleanText } from '../journal/secrets.js';
import type { ArcaEvent } from '../notify/event.js';
import type { Delivery } from '../notify/notify.js';
import type { RunnerContext } from './context.js';

/** Sends `event` to the channels that want it and records each delivery; true when at least one got it. */
export async function notifyAndRecord(ctx: RunnerContext, event: ArcaEvent): Promise<boolean> {
  const notifications = ctx.loaded.policy.notifications;
  if (notifications === undefined) return false;
  const clean: ArcaEvent = {
    ...event,
    summary: cleanText(event.summary),
    ...(event.error === undefined ? {} : { error: cleanText(event.error) }),
  };
  const { notify } = await import('../notify/notify.js');
  const started = new Date();
  const deliveries = await notify(notifications, clean, { env: ctx.env });
  for (const d of deliveries) record(ctx, d, started, clean.event, clean);
  return deliveries.some((d) => d.ok);
}

/** Pings the healthchecks URL for `kind` (when configured) and records the delivery. */
export async function pingAndRecord(
  ctx: RunnerContext,
  kind: 'start' | 'success' | 'fail',
  about: Pick<ArcaEvent, 'dataset' | 'level' | 'repository'>,
  body?: string,
): Promise<void> {
  const { pingHealthchecks } = await import('../notify/notify.js');
  const started = new Date();
  const d = await pingHealthchecks(ctx.loaded.policy.notifications, kind, body && cleanText(body), {
    env: ctx.env,
  });
  if (d !== undefined) record(ctx, d, started, `ping-${kind}`, about);
}

function record(
  ctx: RunnerContext,
  d: Delivery,
  started: Date,
  what: string,
  about:
    | Pick<ArcaEvent, 'dataset' | 'level' | 'repository' | 'event' | 'newest_snapshot_at'>
    | Partial<ArcaEvent>,
): void {
  ctx.journal.append({
    operation: 'notification',
    result: d.ok ? 'success' : 'failed',
    started_at: started,
    ended_at: new Date(),
    dataset: about.dataset ?? null,
    level: about.level ?? null,
    error: d.ok ? null : (d.error ?? 'not delivered'),
    policy_hash: ctx.loaded.sha256,
    details: {
      channel: d.channel,
      event: what,
      ...(about.repository === undefined ? {} : { repository_name: about.repository }),
      ...(what === 'rpo-breach' ? { newest_snapshot_at: about.newest_snapshot_at ?? null } : {}),
    },
  });
  const subject = about.dataset ?? `repository ${about.repository ?? '?'}`;
  ctx.report({
    type: 'notification',
    dataset: about.dataset,
    channel: d.channel,
    ok: d.ok,
    text: d.ok
      ? `${subject}: ${what} reported by ${d.channel}`
      : `${subject}: could not report ${what} by ${d.channel}: ${d.error ?? 'not delivered'}`,
  });
}
