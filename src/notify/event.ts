/**
 * What the runner tells the notification channels (R19): a run that failed after its
 * retries, a run that succeeded, a dataset whose newest good snapshot is older than its RPO,
 * a restore drill that failed or missed its RTO or RPO (R30).
 * The same document goes to the webhook (as JSON), to the command (on standard input), into
 * the email's body and, for failures, to the healthchecks fail ping. It never holds secrets.
 */
import type { NotificationEvent } from '../policy/notifications.js';

export interface ArcaEvent {
  /** `failure`, `rpo-breach`, `success` or `drill-failure`. */
  event: NotificationEvent;
  /** When it happened (ISO 8601 UTC). */
  time: string;
  /** `user@host` running arca. */
  who: string;
  /** The policy's `metadata.id`. */
  policy: string;
  /** The dataset the event is about; absent when it is about a repository (a failed prune). */
  dataset?: string;
  /** The repository a repository-wide operation (prune) concerns, by policy name. */
  repository?: string;
  /** What failed or succeeded: `backup` (the default), `prune` or `drill`. */
  operation?: 'backup' | 'prune' | 'drill';
  /** The backup level of the run, when the event is about a run. */
  level?: string;
  /** One line for a person: what happened. */
  summary: string;
  /** The error of a failed run (its last attempt). */
  error?: string;
  /** How many attempts a run took. */
  attempts?: number;
  /** The snapshot a successful run saved. */
  snapshot_id?: string;
  /** The repositories the run reached, by policy name. */
  repositories?: string[];
  /** The dataset's RPO, as written in the policy (rpo-breach). */
  rpo?: string;
  /** When the newest good snapshot was taken, or null when there is none (rpo-breach). */
  newest_snapshot_at?: string | null;
  /** The drill's ID (drill-failure). */
  drill_id?: string;
  /** The stage the drill failed at, or null when it passed but missed its RTO or RPO (drill-failure). */
  stage?: string | null;
  /** The corrective action the drill opened (drill-failure). */
  corrective_action?: string | null;
}
