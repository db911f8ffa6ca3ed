/**
 * Where arca reports failed and missed runs, RPO breaches and failed restore drills (R19,
 * R30): a JSON webhook, a healthchecks-style ping (start, success and fail URLs), email over
 * SMTP, and a command.
 */
import { z } from 'zod';
import { credentialSchema, secretRefSchema, settingSchema } from './credentials.js';

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

// Webhook and ping URLs often carry a token, so they may be given by reference too.
const url = z.union(
  [z.string().refine(isHttpUrl, { error: 'expected an http:// or https:// URL' }), secretRefSchema],
  { error: 'expected an http(s) URL, or a reference {env: VAR}, {file: PATH} or {command: CMD}' },
);

const email = z.email({ error: 'expected an email address' });

/** What a channel can be told about. */
export const notificationEvents = ['failure', 'rpo-breach', 'success', 'drill-failure'] as const;
export type NotificationEvent = (typeof notificationEvents)[number];

const events = (defaults: string) =>
  z
    .array(z.enum(notificationEvents))
    .min(1, { error: 'name at least one event' })
    .optional()
    .meta({
      description: `which events the channel receives: failure, rpo-breach, success, drill-failure (default: ${defaults})`,
    });

const smtpSchema = z
  .strictObject({
    host: z.string().min(1, { error: 'must not be empty' }).meta({ description: 'SMTP server' }),
    port: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .meta({ description: 'port (default: 587 with starttls, 465 with tls, 25 with none)' }),
    tls: z
      .enum(['starttls', 'tls', 'none'])
      .optional()
      .meta({ description: 'starttls (default), tls (implicit, port 465) or none' }),
    from: email.meta({ description: 'sender address' }),
    to: z.array(email).min(1, { error: 'name at least one recipient' }).meta({ description: 'recipients' }),
    username: settingSchema.optional().meta({ description: 'login name' }),
    password: credentialSchema.optional().meta({ description: 'login password, by reference' }),
    events: events('failure, rpo-breach, drill-failure'),
  })
  .meta({ description: 'email over SMTP' });

/** The `notifications` aspect of the policy. */
export const notificationsSchema = z
  .strictObject({
    webhook: z
      .strictObject({
        url: url.meta({ description: 'receives a JSON document per event (POST)' }),
        events: events('all'),
      })
      .optional()
      .meta({ description: 'a generic JSON webhook' }),
    healthchecks: z
      .strictObject({
        success: url.meta({ description: 'pinged when a run succeeds' }),
        start: url.optional().meta({ description: 'pinged when a run starts' }),
        fail: url.optional().meta({ description: 'pinged when a run fails' }),
      })
      .optional()
      .meta({ description: 'healthchecks.io-style pings' }),
    smtp: smtpSchema.optional(),
    command: z
      .union([
        z.string().min(1, { error: 'must not be empty' }),
        z.strictObject({
          run: z.string().min(1, { error: 'must not be empty' }).meta({ description: 'the shell command' }),
          events: events('all'),
        }),
      ])
      .optional()
      .meta({
        description:
          'a shell command run for each event, with the event as JSON on standard input; ' +
          '{run: CMD, events: [...]} to choose the events',
      }),
  })
  .meta({ description: 'where failures, missed runs and RPO breaches are reported (R19)' });
export type Notifications = z.output<typeof notificationsSchema>;
