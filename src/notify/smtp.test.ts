import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { Notifications } from '../policy/notifications.js';
import type { ArcaEvent } from './event.js';
import { notify } from './notify.js';

const failure: ArcaEvent = {
  event: 'failure',
  time: '2030-01-10T02:00:00.000Z',
  who: 'backup@db1',
  policy: 'POL-BKP-001',
  dataset: 'files',
  level: 'full',
  summary: 'full backup of files failed after 3 attempts: repository nas is locked',
  error: 'repository nas is locked by host db2',
  attempts: 3,
  repositories: ['nas', 'vault'],
};
const success: ArcaEvent = {
  ...failure,
  event: 'success',
  summary: 'full backup of files saved snapshot 1a2b3c4d',
  error: undefined,
  attempts: 1,
};

interface Mail {
  from: string;
  to: string[];
  /** Header lines unfolded, keyed by lower-case name. */
  headers: Map<string, string>;
  /** The text body, transfer encoding undone. */
  text: string;
}

const password = 'corr3ct-h0rse';

/**
 * An smtp-server on 127.0.0.1 for the length of test `t`; returns its port and the mails it
 * accepted. Unless `options` say otherwise it speaks plain SMTP (no STARTTLS) and takes
 * `arca` / {@link password} over AUTH PLAIN, or no login at all.
 */
async function smtpServer(
  t: TestContext,
  options: SMTPServerOptions = {},
): Promise<{ port: number; mails: Mail[] }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'arca' && auth.password === password) callback(null, { user: 'arca' });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const envelope = session.envelope;
        mails.push({
          ...parseMail(Buffer.concat(chunks).toString('utf8')),
          from: envelope.mailFrom ? envelope.mailFrom.address : '',
          to: envelope.rcptTo.map((r) => r.address),
        });
        callback();
      });
    },
    ...options,
  });
  // A client that gives up during the TLS handshake is an error on the server's side; not here.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

/** Headers and text of a single-part message, as nodemailer writes one. */
function parseMail(raw: string): Omit<Mail, 'from' | 'to'> {
  const split = raw.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const line of raw
    .slice(0, split)
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.slice(split + 4);
  const encoding = headers.get('content-transfer-encoding');
  if (encoding === 'quoted-printable') {
    const bytes = body
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    body = Buffer.from(bytes, 'latin1').toString('utf8');
  } else if (encoding === 'base64') {
    body = Buffer.from(body, 'base64').toString('utf8');
  }
  return { headers, text: body.replace(/\r\n/g, '\n') };
}

function smtp(port: number, more: Partial<NonNullable<Notifications['smtp']>> = {}): Notifications {
  return {
    smtp: {
      host: '127.0.0.1',
      port,
      tls: 'none',
      from: 'arca@example.com',
      to: ['ops@example.com'],
      ...more,
    },
  };
}

describe('notify: smtp', () => {
  it('sends the failure with its subject, summary, facts and JSON', async (t) => {
    const { port, mails } = await smtpServer(t);
    const config = smtp(port, { to: ['ops@example.com', 'ciso@example.com'] });
    assert.deepEqual(await notify(config, failure, { env: {} }), [{ channel: 'smtp', ok: true }]);
    assert.equal(mails.length, 1);
    const mail = mails[0]!;
    assert.equal(mail.from, 'arca@example.com');
    assert.deepEqual(mail.to, ['ops@example.com', 'ciso@example.com']);
    assert.equal(mail.headers.get('subject'), '[arca] FAILED backup of dataset files (POL-BKP-001)');
    assert.equal(mail.headers.get('from'), 'arca@example.com');
    assert.equal(mail.headers.get('to'), 'ops@example.com, ciso@example.com');
    const [summary, facts, json] = mail.text.split('\n\n');
    assert.equal(summary, failure.summary);
    assert.equal(
      facts,
      [
        'event: failure',
        'time: 2030-01-10T02:00:00.000Z',
        'who: backup@db1',
        'policy: POL-BKP-001',
        'dataset: files',
        'level: full',
        'error: repository nas is locked by host db2',
        'attempts: 3',
        'repositories: nas, vault',
      ].join('\n'),
    );
    assert.deepEqual(JSON.parse(json!), failure);
  });

  it('logs in with the username and a password given by {env} reference', async (t) => {
    const { port, mails } = await smtpServer(t, { authOptional: false });
    const config = smtp(port, { username: 'arca', password: { env: 'SMTP_PASSWORD' } });
    const deliveries = await notify(config, failure, { env: { SMTP_PASSWORD: password } });
    assert.deepEqual(deliveries, [{ channel: 'smtp', ok: true }]);
    assert.equal(mails.length, 1);
  });

  it('reports a wrong password as failed authentication, without the password', async (t) => {
    const { port, mails } = await smtpServer(t, { authOptional: false });
    const wrong = 'wr0ng-battery-staple';
    const config = smtp(port, { username: 'arca', password: { env: 'SMTP_PASSWORD' } });
    const [delivery] = await notify(config, failure, { env: { SMTP_PASSWORD: wrong } });
    assert.deepEqual(delivery, { channel: 'smtp', ok: false, error: 'smtp: authentication failed (535)' });
    assert.ok(!JSON.stringify(delivery).includes(wrong));
    assert.equal(mails.length, 0);
  });

  it('reports a password reference that cannot be resolved', async () => {
    const config = smtp(9, { username: 'arca', password: { env: 'SMTP_PASSWORD' } });
    const [delivery] = await notify(config, failure, { env: {} });
    assert.deepEqual(delivery, {
      channel: 'smtp',
      ok: false,
      error: 'smtp: password: environment variable SMTP_PASSWORD is not set',
    });
  });

  it('sends failures and RPO breaches by default, and only the events its list names', async (t) => {
    const { port, mails } = await smtpServer(t);
    assert.deepEqual(await notify(smtp(port), success, { env: {} }), []);
    const onlySuccess = smtp(port, { events: ['success'] });
    assert.deepEqual(await notify(onlySuccess, failure, { env: {} }), []);
    assert.deepEqual(await notify(onlySuccess, success, { env: {} }), [{ channel: 'smtp', ok: true }]);
    assert.equal(mails.length, 1);
    assert.equal(mails[0]!.headers.get('subject'), '[arca] backup of dataset files succeeded (POL-BKP-001)');
  });

  it('with tls: none, stays in plain text even when the server offers STARTTLS', async (t) => {
    // smtp-server offers STARTTLS with its self-signed certificate: taking it up would fail.
    const { port, mails } = await smtpServer(t, { disabledCommands: [] });
    assert.deepEqual(await notify(smtp(port), failure, { env: {} }), [{ channel: 'smtp', ok: true }]);
    assert.equal(mails.length, 1);
  });

  it('with tls: starttls, refuses a server that does not offer STARTTLS', async (t) => {
    const { port, mails } = await smtpServer(t);
    const [delivery] = await notify(smtp(port, { tls: 'starttls' }), failure, { env: {} });
    assert.equal(delivery!.ok, false);
    assert.match(
      delivery!.error!,
      /^smtp: the server refused STARTTLS \(\d+\); use tls: tls .* or tls: none/,
    );
    assert.equal(mails.length, 0);
  });

  it('with tls: starttls or tls, verifies the server’s certificate', async (t) => {
    const plain = await smtpServer(t, { disabledCommands: [] });
    const [starttls] = await notify(smtp(plain.port, { tls: 'starttls' }), failure, { env: {} });
    assert.equal(starttls!.ok, false);
    // Its built-in certificate has expired, or (with a newer smtp-server) is merely self-signed.
    assert.match(starttls!.error!, /^smtp: TLS failed: .*certificate/);
    const implicit = await smtpServer(t, { secure: true });
    const [tls] = await notify(smtp(implicit.port, { tls: 'tls' }), failure, { env: {} });
    assert.equal(tls!.ok, false);
    assert.match(tls!.error!, /^smtp: TLS failed: .*certificate/);
    assert.equal(plain.mails.length + implicit.mails.length, 0);
  });

  it('gives up on a server that never greets after timeoutMs', async (t) => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;
    const [delivery] = await notify(smtp(port), failure, { env: {}, timeoutMs: 300 });
    assert.deepEqual(delivery, { channel: 'smtp', ok: false, error: 'smtp: timed out after 300 ms' });
  });
});
