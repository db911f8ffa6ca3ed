/**
 * Reporting to people (R19): the runner's events go through every configured channel
 * (src/notify/), and each delivery is recorded in the journal as a `notification`, so the
 * record shows that a failure was not just logged but reported, and to which channel.
 * RPO breaches are reported once per breach: again only after a newer good backup ended
 * the breach and a new one began.
 */
import type { ArcaEvent } from '../notify/event.js';
import type { RunnerContext } from './context.js';

/** Sends `event` to the channels that want it and records each delivery. */
export async function notifyAndRecord(ctx: RunnerContext, event: ArcaEvent): Promise<void> {
  const notifications = ctx.loaded.policy.notifications;
  if (notifications === undefined) return;
  const { notify } = await import('../notify/notify.js');
  const started = new Date();
  const deliveries = await notify(notifications, event, { env: ctx.env });
  for (const d of deliveries) {
    ctx.journal.append({
      operation: 'notification',
      result: d.ok ? 'success' : 'failed',
      started_at: started,
      ended_at: new Date(),
      dataset: event.dataset,
      level: event.level ?? null,
      error: d.ok ? null : (d.error ?? 'not delivered'),
      policy_hash: ctx.loaded.sha256,
      details: {
        channel: d.channel,
        event: event.event,
        ...(event.event === 'rpo-breach' ? { newest_snapshot_at: event.newest_snapshot_at ?? null } : {}),
      },
    });
    ctx.report({
      type: 'notification',
      dataset: event.dataset,
      channel: d.channel,
      ok: d.ok,
      text: d.ok
        ? `${event.dataset}: ${event.event} reported by ${d.channel}`
        : `${event.dataset}: could not report ${event.event} by ${d.channel}: ${d.error ?? 'not delivered'}`,
    });
  }
}
