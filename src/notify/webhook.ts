/**
 * The webhook channel: the event as a JSON document, POSTed to a URL the policy names
 * (directly or by reference). Any 2xx answer counts as delivered.
 */
import type { Notifications } from '../policy/notifications.js';
import type { ChannelContext } from './channel.js';
import type { ArcaEvent } from './event.js';
import { httpSend, resolveUrl } from './http.js';

/** The policy's `notifications.webhook`. */
export type WebhookConfig = NonNullable<Notifications['webhook']>;

/** POSTs `event` as JSON to the webhook; throws a {@link DeliveryError} when it is not accepted. */
export async function sendWebhook(
  config: WebhookConfig,
  event: ArcaEvent,
  ctx: ChannelContext,
): Promise<void> {
  const url = await resolveUrl(config.url, 'url', ctx.env);
  await httpSend(
    url,
    { method: 'POST', body: { type: 'application/json', text: JSON.stringify(event) } },
    ctx.timeoutMs,
  );
}
