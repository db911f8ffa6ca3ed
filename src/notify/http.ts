/**
 * HTTP for the webhook and the healthchecks pings: one request with Node's fetch, bounded by
 * a timeout, a non-2xx answer counted as a failure. URLs may come by reference since they
 * often carry a token, so no message here repeats the URL; user:password in a URL is sent as
 * basic authentication (fetch refuses URLs with credentials).
 */
import type { SecretRef } from '../policy/credentials.js';
import { resolveSecret } from '../secret/resolve.js';
import { version } from '../version.js';
import { DeliveryError, describeNetworkError, describeTimeout } from './channel.js';

/** One request to send. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  /** Sent with a `content-type` header. */
  body?: { type: string; text: string };
}

/** The URL a policy field names, directly or by reference; `what` names it in errors (`url`, `fail url`). */
export async function resolveUrl(
  value: string | SecretRef,
  what: string,
  env: NodeJS.ProcessEnv,
): Promise<URL> {
  const text = await resolveSecret(value, what, env);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DeliveryError(`${what} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DeliveryError(`${what} is not an http:// or https:// URL`);
  }
  return url;
}

/** Sends `request` to `url`; throws a {@link DeliveryError} on a network error, a timeout or a non-2xx answer. */
export async function httpSend(url: URL, request: HttpRequest, timeoutMs: number): Promise<void> {
  const headers: Record<string, string> = { 'user-agent': `arca/${version}` };
  if (request.body) headers['content-type'] = request.body.type;
  const target = new URL(url);
  if (target.username !== '' || target.password !== '') {
    const credentials = `${decodeUserinfo(target.username)}:${decodeUserinfo(target.password)}`;
    headers['authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  let response: Response;
  try {
    response = await fetch(target, {
      method: request.method,
      headers,
      body: request.body?.text,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new DeliveryError(describeFetchError(err, timeoutMs), { cause: err });
  }
  // Nothing in the answer is needed; cancelling frees the connection.
  await response.body?.cancel().catch(() => undefined);
  if (!response.ok) throw new DeliveryError(`HTTP ${response.status}`);
}

/** What went wrong with a fetch, in words that never include the URL (undici's messages do). */
function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `timed out after ${describeTimeout(timeoutMs)}`;
  }
  // Node's fetch reports network failures as TypeError('fetch failed') with the system error as cause;
  // with several addresses for a host, the cause is an AggregateError of one error per address.
  const cause = (err as { cause?: unknown })?.cause ?? err;
  const first = (cause as { errors?: unknown[] })?.errors?.[0] ?? cause;
  const known = describeNetworkError(cause) ?? describeNetworkError(first);
  if (known) return known;
  // undici's own codes (UND_ERR_SOCKET…) and the like say what failed without saying where.
  const code = errorCode(cause) ?? errorCode(first);
  return code === undefined ? 'request failed' : `request failed (${code})`;
}

/** A percent-encoded user name or password as written, should it not decode. */
function decodeUserinfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
