/**
 * The annotated example `arca policy init` writes: valid as written, and runnable on the
 * embedded defaults (one local repository under the user's data directory, its password in
 * the file `arca quickstart` generates), with every field explained and the rest of what a
 * policy can say shown commented out.
 */
import { addMonths, formatDate, parseDate } from './date.js';

/** What the example is filled in with. */
export interface ExampleOptions {
  /** The local repository's location. */
  repository: string;
  /** The repository password file. */
  passwordFile: string;
  /** What the example dataset backs up (absolute paths). */
  paths: string[];
  /** The approval date; the next review is 12 months later. */
  today: Date;
}

/** The example policy as YAML text. */
export function examplePolicy(o: ExampleOptions): string {
  // JSON strings are valid YAML double-quoted scalars, so any path is safe to insert.
  const q = (s: string) => JSON.stringify(s);
  const approved = formatDate(o.today);
  const review = formatDate(addMonths(parseDate(approved)!, 12));
  return `# arca backup policy: the agreed backup policy that ISO/IEC 27001 A.8.13 asks for,
# which arca carries out, monitors and records.
#
# Written by \`arca policy init\` on ${approved}. It is valid as written and runs on embedded
# defaults: one local repository under your data directory, protecting the directory where
# you ran \`init\`. Adapt it, then run \`arca policy check\`: it validates the file and reports
# findings against the control, each with its requirement id (R01…). docs/policy.md
# describes every field. For completion in your editor, save the JSON Schema with
# \`arca policy schema > arca-policy.schema.json\` and point your YAML plugin at it.
#
# Durations: 15m (minutes), 24h, 7d, 4w, 1y, or combined largest first: 1d12h.
# Credentials are never written here; they are given by reference (R38):
#   {env: VAR} an environment variable, {file: PATH} a file's first line,
#   {command: CMD} what a shell command prints.

metadata:                       # R01: the policy is identified, versioned, owned and approved
  id: POL-BKP-001               # your document id for this policy
  version: "1.0"                # quoted: 1.10 unquoted would be the number 1.1
  owner: IT operations          # who maintains it (role or name)
  approved_by: Head of IT       # who approved this version
  approved_on: ${approved}       # when (YYYY-MM-DD)
  next_review: ${review}       # R02: review at least every 12 months

# How arca run and arca daemon behave:
scheduler:
  # timezone: Europe/Berlin     # the cron expressions' time zone (default: this machine's)
  retry:                        # R19: a failed run is retried, then reported
    attempts: 3                 # tries after the first failure
    delay: 1m                   # the first wait; it doubles each time...
    max_delay: 30m              # ...up to this
  # journal_snapshots: 30       # how many backups of the journal each repository keeps

# Where backups are stored, by name. Every repository is in restic's format.
repositories:
  local:
    # A path, sftp:user@host:/path, s3:https://host/bucket/prefix or rest:https://host:8000/path/
    location: ${q(o.repository)}
    site: main                  # the site that holds it; offsite repositories name another
    media: disk                 # disk, nas, object-storage, tape, removable or optical
    offsite: false              # R32: far enough away to survive a disaster at the main site?
    immutable: false            # R34: safe from deletion with the credentials arca holds?
    password: {file: ${q(o.passwordFile)}}
    prune:                      # remove data no snapshot needs any more (forget runs after every backup)
      schedule: "0 4 * * 0"     # Sundays at 04:00
      max_unused: 5%
  # An offsite, immutable copy in S3 with object lock (add "offsite" to a dataset's copies):
  # offsite:
  #   location: s3:https://s3.eu-west-1.amazonaws.com/acme-backups/main
  #   site: aws-eu-west-1
  #   media: object-storage
  #   offsite: true
  #   immutable: true           # object lock in compliance mode
  #   password: {command: "pass show arca/offsite"}
  #   env:                      # environment for the backend; secrets by reference
  #     AWS_ACCESS_KEY_ID: {env: OFFSITE_AWS_ACCESS_KEY_ID}
  #     AWS_SECRET_ACCESS_KEY: {file: /etc/arca/offsite-aws-secret}
  #   options:                  # backend options, as -o key=value
  #     s3.region: eu-west-1

# What is protected, by name: each dataset with its objectives and its aspects.
datasets:
  files:
    owner: IT operations        # who is accountable for the data
    classification: internal    # your information classification
    tier: 2                     # criticality tier from the business impact analysis (1 = most critical)
    rpo: 24h                    # R15: at most this much data may be lost (backups at most this far apart)
    rto: 8h                     # R14: a restore may take this long...
    mtd: 3d                     # ...which must fit in the maximum tolerable downtime
    sources:
      paths:                    # absolute paths
${o.paths.map((p) => `        - ${q(p)}`).join('\n')}
      exclude:                  # restic's --exclude patterns
        - "*.tmp"
        - ".cache"
      # Commands whose output is backed up as a file in the snapshot:
      # commands:
      #   - command: "zfs send tank/vm@latest"
      #     filename: vm.zfs
      # postgres:               # pg_dump; stored as postgres/<database>.sql
      #   - database: shop
      #     host: localhost
      #     user: backup
      #     password: {env: SHOP_DB_PASSWORD}
      # mysql:                  # mysqldump --single-transaction; stored as mysql/<database>.sql
      #   - database: crm
      #     user: backup
      #     password: {file: /etc/arca/crm-db-password}
      # sqlite:                 # SQLite's online backup; stored as sqlite/<file name>
      #   - path: /var/lib/app/app.db
    # When each level runs: a cron expression (minute hour day month weekday; quote it)
    # or an interval such as {every: 6h}. Every snapshot is complete; a full reads every
    # file, a differential compares with the last full, an incremental with the last snapshot.
    schedule:
      full: "30 1 * * 0"              # Sundays at 01:30
      differential: "30 1 * * 3"      # Wednesdays at 01:30
      incremental: "30 1 * * 1,2,4-6" # the other days at 01:30
    copies: [local]             # backed up to the first, then copied to the others
    retention:                  # R41: how long snapshots are kept (restic's keep rules)
      keep:
        daily: 7
        weekly: 5
        monthly: 12
        yearly: 3
        # last: 10
        # within: 30d
      archive:                  # never forgotten, whatever the keep rules say
        tags: [archive]
        # legal_hold: {reason: "case 2025-17", since: ${approved}}
      # basis: "why this long: law, regulation or contract"
    drill:
      every: 30d                # R23: restore drill at least every 3 months
      # sample: 10%             # restore a seeded tenth of the files; forecast the full time
      # sandbox: /srv/drills    # where drills restore (default: ~/.local/state/arca/drills)
      # validate:               # checks on the restored data; each passes when it exits 0
      #   - name: app database integrity
      #     command: sqlite3 "$ARCA_DUMP_DIR/sqlite/app.db" 'PRAGMA integrity_check' | grep -qx ok
    # Shell commands around the backup (ARCA_DATASET, ARCA_LEVEL, ARCA_SNAPSHOT_ID, ARCA_ERROR):
    # hooks:
    #   before: "systemctl stop app"      # a failure fails the run (which is retried)
    #   after: "systemctl start app"      # after the backup, copies and retention succeeded
    #   on_failure: "systemctl start app" # when the run failed after its last retry
    #   timeout: 10m

# Where failures, missed runs and RPO breaches are reported (R19). Uncomment to use:
# notifications:
#   webhook:
#     url: {env: ARCA_WEBHOOK_URL}
#   healthchecks:
#     start: https://hc-ping.com/your-uuid/start
#     success: https://hc-ping.com/your-uuid
#     fail: https://hc-ping.com/your-uuid/fail
#   smtp:
#     host: smtp.example.org
#     port: 587
#     tls: starttls
#     from: arca@example.org
#     to: [ops@example.org]
#     username: arca
#     password: {file: /etc/arca/smtp-password}
#   command: "logger -t arca"   # or {run: CMD, events: [failure, rpo-breach, success]}
`;
}
