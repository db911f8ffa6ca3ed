/**
 * Sending an event to the channels the policy names (R19). Each channel receives the events
 * its `events` list names, or its default: everything for the webhook and the command,
 * failures, RPO breaches and failed drills for email (a mail per successful run is noise).
 * Healthchecks pings follow runs instead — the runner calls {@link pingHealthchecks} when a run starts,
 * succeeds or fails — except that an RPO breach also pings the fail URL, so the check turns
 * red. Channels run concurrently, each within its own time limit, and a failing channel
 * never stops the others: the caller gets one {@link Delivery} per channel tried and no
 * exception, since a notification problem must not turn a backup into a failure.
 */
import { ArcaError } from '../errors.js';
import { type NotificationEvent, type Notifications, notificationEvents } from '../policy/notifications.js';
import { type ChannelContext, DeliveryError } from './channel.js';
import { runCommand } from './command.js';
import type { ArcaEvent } from './event.js';
import { type PingKind, sendPing } from './healthchecks.js';
import { sendEmail } from './smtp.js';
import { sendWebhook } from './webhook.js';

/** What became of one channel: delivered, or why not (a message safe to print: no URL, token or password). */
export interface Delivery {
  channel: 'webhook' | 'healthchecks' | 'smtp' | 'command';
  ok: boolean;
  /** `webhook: HTTP 503`, `smtp: authentication failed (535)`… when `ok` is false. */
  error?: string;
}

/** Where references are resolved and how long each channel may take. */
export interface NotifyOptions {
  /** The environment for `{env}` references and the command channel (default: `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The time limit of each channel, in milliseconds (default: 30 s). */
  timeoutMs?: number;
}

const defaultTimeoutMs = 30_000;

const smtpDefaultEvents: readonly NotificationEvent[] = ['failure', 'rpo-breach', 'drill-failure'];

/** Sends `event` to every channel configured for it; never throws; one Delivery per channel tried. */
export async function notify(
  config: Notifications | undefined,
  event: ArcaEvent,
  opts: NotifyOptions = {},
): Promise<Delivery[]> {
  if (!config) return [];
  const ctx = channelContext(opts);
  const receives = (
    events: readonly NotificationEvent[] | undefined,
    defaults: readonly NotificationEvent[],
  ) => (events ?? defaults).includes(event.event);
  const tries: Promise<Delivery>[] = [];
  const { webhook, healthchecks, smtp, command } = config;
  if (webhook && receives(webhook.events, notificationEvents)) {
    tries.push(attempt('webhook', () => sendWebhook(webhook, event, ctx)));
  }
  if (healthchecks?.fail && event.event === 'rpo-breach') {
    const fail = healthchecks.fail;
    tries.push(attempt('healthchecks', () => sendPing(fail, 'fail', JSON.stringify(event, null, 2), ctx)));
  }
  if (smtp && receives(smtp.events, smtpDefaultEvents)) {
    tries.push(attempt('smtp', () => sendEmail(smtp, event, ctx)));
  }
  if (command !== undefined) {
    const { run, events } = typeof command === 'string' ? { run: command, events: undefined } : command;
    if (receives(events, notificationEvents))
      tries.push(attempt('command', () => runCommand(run, event, ctx)));
  }
  return Promise.all(tries);
}

/**
 * Healthchecks-style pings around a run: kind 'start' | 'success' | 'fail' (fail body: the error text, at most 10 KB).
 * Undefined when the policy names no URL for `kind` (start and fail are optional); never throws.
 */
export async function pingHealthchecks(
  config: Notifications | undefined,
  kind: PingKind,
  body?: string,
  opts: NotifyOptions = {},
): Promise<Delivery | undefined> {
  const url = config?.healthchecks?.[kind];
  if (url === undefined) return undefined;
  const ctx = channelContext(opts);
  return attempt('healthchecks', () => sendPing(url, kind, body, ctx));
}

function channelContext(opts: NotifyOptions): ChannelContext {
  return { env: opts.env ?? process.env, timeoutMs: opts.timeoutMs ?? defaultTimeoutMs };
}

async function attempt(channel: Delivery['channel'], send: () => Promise<void>): Promise<Delivery> {
  try {
    await send();
    return { channel, ok: true };
  } catch (err) {
    return { channel, ok: false, error: `${channel}: ${printable(err)}` };
  }
}

/** The message of an error that is known to be safe to print; anything else is named only by its kind. */
function printable(err: unknown): string {
  // ArcaErrors here come from resolving references, whose messages never include the value.
  if (err instanceof DeliveryError || err instanceof ArcaError) return err.message;
  return `unexpected error (${err instanceof Error ? err.name : typeof err})`;
}
