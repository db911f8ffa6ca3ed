/**
 * The guard that keeps secrets out of the journal. The journal is kept for years, copied
 * into every repository and shown to auditors, so whatever a caller passes is cleaned
 * before it is stored: passwords in URLs, `password=…`-style pairs, bearer tokens and
 * private keys in text, and the values of details keys that name a secret.
 */
import type { JsonObject, JsonValue } from './record.js';

/** What replaces a secret. */
export const redacted = '***';

const secretWords = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'privatekey',
  'credential',
  'authorization',
  'cookie',
];
const secretWordPattern =
  'password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|credential|authorization';

const textRules: [RegExp, string][] = [
  // scheme://user:password@host
  [/([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/gi, `$1$2:${redacted}@`],
  // password=…, ?token=…, X-Amz-Security-Token=…
  [
    new RegExp(`([A-Za-z0-9_.-]*(?:${secretWordPattern})[A-Za-z0-9_.-]*)=("[^"]*"|'[^']*'|[^\\s&;,]+)`, 'gi'),
    `$1=${redacted}`,
  ],
  [/\b((?:proxy-)?authorization|cookie)\s*:\s*[^\r\n]+/gi, `$1: ${redacted}`],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, `Bearer ${redacted}`],
  [
    /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g,
    '[private key redacted]',
  ],
];

/** True when a details key names a secret (`password`, `apiToken`, `secret_access_key`…). */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return k === 'pass' || k === 'pwd' || secretWords.some((w) => k.includes(w));
}

/** `s` with credentials replaced by `***` and made well-formed UTF-16 (so it has a UTF-8 form). */
export function cleanText(s: string): string {
  let out = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  for (const [pattern, replacement] of textRules) out = out.replace(pattern, replacement);
  return out;
}

/** A repository location without credentials: also `sftp:user:password@host:/path`. */
export function cleanLocation(location: string): string {
  return cleanText(location).replace(/^([a-z][a-z0-9]*:)([^\s/@:]+):([^\s/@]+)@/i, `$1$2:${redacted}@`);
}

/**
 * `details` as plain JSON (dates as ISO strings, big integers as numbers or strings,
 * `undefined` dropped) with secret-named keys' values and secrets in strings redacted.
 */
export function cleanDetails(details: object): JsonObject {
  const plain = JSON.parse(
    JSON.stringify(details, (_k, v: unknown) =>
      typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
    ),
  ) as JsonObject;
  return cleanValue(plain) as JsonObject;
}

function cleanValue(v: JsonValue): JsonValue {
  if (typeof v === 'string') return cleanText(v);
  if (Array.isArray(v)) return v.map(cleanValue);
  if (v === null || typeof v !== 'object') return v;
  const out: JsonObject = {};
  for (const [k, value] of Object.entries(v)) {
    // A flag or a null cannot hold a secret (`pass: true` is a check's outcome).
    const secret = isSecretKey(k) && value !== null && typeof value !== 'boolean';
    out[cleanText(k)] = secret ? redacted : cleanValue(value);
  }
  return out;
}
