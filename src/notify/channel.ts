/**
 * What every notification channel shares: the settings a channel is given (the environment
 * that references are resolved in, a time limit) and the one kind of error a channel throws.
 * Channel errors end up in printed delivery reports, so they are built only from parts known
 * to be harmless: a status code, an errno code, a count — never a URL (it may carry a token),
 * a password or a server's echo of either.
 */

/** What a channel is given besides its own settings. */
export interface ChannelContext {
  /** Where `{env}` references and the command channel's environment come from. */
  env: NodeJS.ProcessEnv;
  /** How long the channel may take. */
  timeoutMs: number;
}

/** A failed delivery, with a message that is safe to print (no URL, token or password). */
export class DeliveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

/** `30 s` or `250 ms`: a time limit as a person reads it. */
export function describeTimeout(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

const networkErrors: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS lookup failed)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
};

/**
 * A system or TLS error in words (`connection refused`, `TLS failed: certificate has expired`),
 * or undefined when `err` is neither. Libraries keep the system code in `code` (Node, undici)
 * or in `originalCode` (nodemailer).
 */
export function describeNetworkError(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; originalCode?: unknown; message?: unknown };
  const code = typeof e.originalCode === 'string' ? e.originalCode : typeof e.code === 'string' ? e.code : '';
  const known = networkErrors[code];
  if (known) return known;
  // OpenSSL's reasons (an expired or self-signed certificate, a wrong name) name no secret.
  if (/CERT|SSL|TLS|UNABLE_TO_|SIGNATURE/.test(code)) {
    const reason = typeof e.message === 'string' ? e.message.split('\n')[0]!.slice(0, 200) : '';
    return reason === '' ? `TLS failed (${code})` : `TLS failed: ${reason}`;
  }
  return undefined;
}
