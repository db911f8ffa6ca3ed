/**
 * The email channel: one message per event over SMTP, with nodemailer (loaded only when an
 * email is sent: it is not on the CLI's startup path). `tls` chooses how the connection is
 * protected — `starttls` (port 587, the upgrade is required), `tls` (implicit TLS, port 465)
 * or `none` (port 25, plain text even when the server offers STARTTLS) — and certificates
 * are always verified. Errors name what failed (`authentication failed (535)`), never the
 * password or the server's full answer to it.
 */
import type { Notifications } from '../policy/notifications.js';
import { resolveSecret } from '../secret/resolve.js';
import { type ChannelContext, DeliveryError, describeNetworkError, describeTimeout } from './channel.js';
import { emailSubject, emailText } from './email.js';
import type { ArcaEvent } from './event.js';

/** The policy's `notifications.smtp`. */
export type SmtpConfig = NonNullable<Notifications['smtp']>;

type TlsMode = NonNullable<SmtpConfig['tls']>;

const defaultPorts: Record<TlsMode, number> = { starttls: 587, tls: 465, none: 25 };

/** Emails `event` to the configured recipients; throws a {@link DeliveryError} when the server does not take it. */
export async function sendEmail(config: SmtpConfig, event: ArcaEvent, ctx: ChannelContext): Promise<void> {
  const mode = config.tls ?? 'starttls';
  const auth = await credentials(config, ctx.env);
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({
    host: config.host,
    port: config.port ?? defaultPorts[mode],
    secure: mode === 'tls',
    requireTLS: mode === 'starttls',
    ignoreTLS: mode === 'none',
    auth,
    connectionTimeout: ctx.timeoutMs,
    greetingTimeout: ctx.timeoutMs,
    socketTimeout: ctx.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
  // nodemailer's own timeouts bound each wait; this bounds the whole exchange.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeliveryError(`timed out after ${describeTimeout(ctx.timeoutMs)}`)),
      ctx.timeoutMs,
    );
  });
  try {
    await Promise.race([
      transport.sendMail({
        from: config.from,
        to: config.to,
        subject: emailSubject(event),
        text: emailText(event),
      }),
      timeout,
    ]);
  } catch (err) {
    if (err instanceof DeliveryError) throw err;
    throw new DeliveryError(describeSmtpError(err, ctx.timeoutMs, auth), { cause: err });
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}

async function credentials(
  config: SmtpConfig,
  env: NodeJS.ProcessEnv,
): Promise<{ user: string; pass: string } | undefined> {
  if (config.username === undefined && config.password === undefined) return undefined;
  if (config.username === undefined) throw new DeliveryError('a password is given but no username');
  if (config.password === undefined) throw new DeliveryError('a username is given but no password');
  return {
    user: await resolveSecret(config.username, 'username', env),
    pass: await resolveSecret(config.password, 'password', env),
  };
}

interface NodemailerError {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

/** One line for a nodemailer error, without the password or anything the server may have echoed of it. */
function describeSmtpError(
  err: unknown,
  timeoutMs: number,
  auth: { user: string; pass: string } | undefined,
): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as NodemailerError;
  const status = e.responseCode ? ` (${e.responseCode})` : '';
  switch (e.code) {
    case 'EAUTH':
    case 'ENOAUTH':
      return `authentication failed${status}`;
    case 'ETIMEDOUT':
      return `timed out after ${describeTimeout(timeoutMs)}`;
    case 'EDNS':
      return 'host not found';
    case 'ETLS':
      if (e.command === 'STARTTLS' && e.response) {
        return `the server refused STARTTLS${status}; use tls: tls for implicit TLS, or tls: none for plain text`;
      }
      // nodemailer rewraps the TLS layer's error as `Error initiating TLS - <reason>`; the reason names no secret.
      return (
        describeNetworkError(e) ??
        `TLS failed: ${(e.message ?? '').replace(/^Error initiating TLS - /, '').slice(0, 200)}`
      );
    case 'ESOCKET':
    case 'ECONNECTION':
      return (
        describeNetworkError(e) ?? `connection failed${e.originalCode ? ` (${e.originalCode})` : status}`
      );
    case 'EENVELOPE':
      return `the server refused the sender or a recipient${status}: ${serverText(e.response, auth)}`;
    case 'EMESSAGE':
      return `the server refused the message${status}: ${serverText(e.response, auth)}`;
    default:
      return `sending failed (${e.code ?? 'unknown error'})${status}`;
  }
}

/** The server's answer, shortened, with the credentials blanked out should the server have echoed them. */
function serverText(response: string | undefined, auth: { user: string; pass: string } | undefined): string {
  let text = (response ?? '').replace(/\s+/g, ' ').trim();
  if (auth && auth.pass !== '') text = text.split(auth.pass).join('***');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
