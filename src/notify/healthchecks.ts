/**
 * The healthchecks channel, as healthchecks.io (and compatible servers) define it: a GET to
 * the start URL when a run begins, a GET to the success URL when it succeeds, a POST to the
 * fail URL when it fails, its body shown with the check. The body is cut to 10 KB because
 * healthchecks.io keeps no more than that by default.
 */
import type { Notifications } from '../policy/notifications.js';
import type { ChannelContext } from './channel.js';
import { httpSend, resolveUrl } from './http.js';

/** The policy's `notifications.healthchecks`. */
export type HealthchecksConfig = NonNullable<Notifications['healthchecks']>;

/** Which ping: a run started, succeeded or failed. */
export type PingKind = 'start' | 'success' | 'fail';

/** The most a fail ping's body carries, in bytes. */
export const pingBodyLimit = 10_000;

/** Pings `url` for `kind`; a fail ping carries `body` (cut to {@link pingBodyLimit} bytes), the others none. */
export async function sendPing(
  url: NonNullable<HealthchecksConfig[PingKind]>,
  kind: PingKind,
  body: string | undefined,
  ctx: ChannelContext,
): Promise<void> {
  const target = await resolveUrl(url, `${kind} url`, ctx.env);
  const request =
    kind === 'fail'
      ? {
          method: 'POST' as const,
          body: { type: 'text/plain; charset=utf-8', text: cutUtf8(body ?? '', pingBodyLimit) },
        }
      : { method: 'GET' as const };
  await httpSend(target, request, ctx.timeoutMs);
}

/** The longest prefix of `text` that is at most `limit` bytes of UTF-8, without splitting a character. */
export function cutUtf8(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let end = limit;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
