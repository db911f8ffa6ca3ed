import { type Command, InvalidArgumentError } from 'commander';
import { ArcaError } from '../errors.js';
import { type ForgetGroup, type ForgetPlan, planForget, removeSnapshots } from '../ops/forget.js';
import {
  type Duration,
  describePolicy,
  type KeepPolicy,
  parseDuration,
  parseGroupBy,
  type SnapshotGroupKey,
} from '../ops/retention.js';
import { type Id, shortId } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import {
  addPruneOptions,
  formatIdSet,
  type PruneCliOptions,
  pruneOptionsFrom,
  pruneReport,
  runPrune,
} from './cmd_prune.js';
import { snapshotFilter, snapshotJson } from './cmd_snapshots.js';
import { type GlobalOptions, makeOutput, type Output, repoLocation, withRepository } from './context.js';
import { collect, localTime, table } from './format.js';
import { recordCli, startCliRecording } from './journal_record.js';

interface ForgetCliOptions extends GlobalOptions, PruneCliOptions {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: Duration;
  keepWithinHourly?: Duration;
  keepWithinDaily?: Duration;
  keepWithinWeekly?: Duration;
  keepWithinMonthly?: Duration;
  keepWithinYearly?: Duration;
  keepTag?: string[];
  host?: string[];
  tag?: string[];
  path?: string[];
  compact?: boolean;
  groupBy: string;
  dryRun?: boolean;
  prune?: boolean;
}

/** A `--keep-*` count: a whole number, or `unlimited` (-1). */
function parseCount(text: string): number {
  if (text === 'unlimited') return -1;
  if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError('expected a whole number or "unlimited"');
  return Number(text);
}

function parseDurationOption(text: string): Duration {
  try {
    return parseDuration(text);
  } catch (err) {
    if (err instanceof ArcaError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Registers `arca forget`. */
export function registerForget(program: Command): void {
  const cmd = program
    .command('forget')
    .description('remove snapshots, given by ID or chosen by a keep policy (data stays until prune)')
    .argument('[snapshots...]', 'snapshot IDs (or unique prefixes, or "latest") to remove')
    .option('-l, --keep-last <n>', 'keep the last n snapshots ("unlimited": all)', parseCount)
    .option('-H, --keep-hourly <n>', 'keep the last n hourly snapshots', parseCount)
    .option('-d, --keep-daily <n>', 'keep the last n daily snapshots', parseCount)
    .option('-w, --keep-weekly <n>', 'keep the last n weekly snapshots', parseCount)
    .option('-m, --keep-monthly <n>', 'keep the last n monthly snapshots', parseCount)
    .option('-y, --keep-yearly <n>', 'keep the last n yearly snapshots', parseCount)
    .option(
      '--keep-within <duration>',
      'keep snapshots newer than duration (e.g. 1y5m7d2h) before the latest',
      parseDurationOption,
    )
    .option('--keep-within-hourly <duration>', 'keep hourly snapshots within duration', parseDurationOption)
    .option('--keep-within-daily <duration>', 'keep daily snapshots within duration', parseDurationOption)
    .option('--keep-within-weekly <duration>', 'keep weekly snapshots within duration', parseDurationOption)
    .option('--keep-within-monthly <duration>', 'keep monthly snapshots within duration', parseDurationOption)
    .option('--keep-within-yearly <duration>', 'keep yearly snapshots within duration', parseDurationOption)
    .option('--keep-tag <taglist>', 'keep snapshots with all these tags (repeatable)', collect)
    // restic's forget uses -H for --keep-hourly, so the filters here have long names only.
    .option('--host <host>', 'only consider snapshots of this host (repeatable)', collect)
    .option('--tag <tag[,tag...]>', 'only consider snapshots with all these tags (repeatable)', collect)
    .option('--path <path>', 'only consider snapshots that include this path (repeatable)', collect)
    .option('-c, --compact', 'use the compact table format')
    .option(
      '-g, --group-by <group>',
      "group by host, paths and/or tags, comma-separated ('' for no grouping)",
      'host,paths',
    )
    .option('-n, --dry-run', 'only print what would be removed')
    .option('--prune', 'run prune afterwards if snapshots were removed');
  addPruneOptions(cmd).action(async (ids: string[], _opts, c: Command) => {
    const o = c.optsWithGlobals<ForgetCliOptions>();
    const out = makeOutput(o);
    const policy = policyFrom(o);
    const groupBy = parseGroupBy(o.groupBy);
    const pruneOptions = pruneOptionsFrom(o);
    const dryRun = o.dryRun === true;
    if (o.lock === false && !dryRun) {
      throw new ArcaError('usage', '--no-lock is only allowed together with --dry-run for forget');
    }
    const repository = repoLocation(o);
    // The forget is recorded before prune starts, so that a failed prune is its own record
    // and does not turn the forget into a failure.
    const forget = startCliRecording(o, {
      operation: 'forget',
      repository,
      details: rulesDetails(o, ids, policy),
    });
    try {
      // restic 0.14 forgets under an exclusive lock, and --prune keeps holding it.
      await withRepository(o, 'exclusive', async (repo) => {
        const plan = await forget.run(async (report) => {
          const plan = await planForget(repo, { ids, policy, filter: snapshotFilter(o), groupBy });
          await applyPlan(repo, plan, o, out, ids.length === 0 ? policy : undefined);
          if (!dryRun) report.details = { removed: plan.remove.map((s) => s.id) };
          return plan;
        });
        if (out.json && plan.groups.length > 0) out.printJson(plan.groups.map(groupJson));
        if (o.prune && plan.remove.length > 0) {
          out.info(
            dryRun
              ? `${plan.remove.length} snapshots would be removed, running prune dry run`
              : `${plan.remove.length} snapshots have been removed, running prune`,
          );
          const ignoreSnapshots = new Set(plan.remove.map((s) => s.id));
          const entry = { operation: 'prune', repository, details: { after_forget: true } };
          await recordCli(o, entry, async (report) => {
            const result = await runPrune(repo, { ...pruneOptions, dryRun, ignoreSnapshots }, out);
            Object.assign(report, pruneReport(result));
          });
        }
      });
    } catch (err) {
      // Opening the repository or taking the lock failed, so the forget did (when the forget
      // itself or the prune failed, it was recorded already and this does nothing).
      await forget.finish(err);
      throw err;
    }
  });
}

/** Prints the plan (the policy's groups when one was applied) and removes its snapshots, unless a dry run. */
async function applyPlan(
  repo: Repository,
  plan: ForgetPlan,
  o: ForgetCliOptions,
  out: Output,
  policy: KeepPolicy | undefined,
): Promise<void> {
  for (const { ref, reason } of plan.ignored) out.warn(`Ignoring ${JSON.stringify(ref)}: ${reason}`);
  if (plan.policyEmpty) out.info('no policy was specified, no snapshots will be removed');
  else if (policy !== undefined) {
    out.info(`Applying Policy: ${describePolicy(policy)}`);
    for (const g of plan.groups) printGroup(out, g, o.compact === true);
  }
  if (plan.remove.length === 0) return;
  if (o.dryRun) {
    out.info(`Would have removed the following snapshots:\n${formatIdSet(plan.remove.map((s) => s.id))}\n`);
    return;
  }
  await removeSnapshots(repo, plan.remove);
  if (out.verbose) for (const s of plan.remove) out.info(`removed snapshot ${shortId(s.id)}`);
  out.info(`removed ${plan.remove.length} snapshots`);
}

/** The rules a forget applied, for its journal record. */
function rulesDetails(o: ForgetCliOptions, ids: string[], policy: KeepPolicy): Record<string, unknown> {
  return {
    snapshots: ids,
    policy: describePolicy(policy),
    keep: policy,
    host: o.host ?? null,
    tag: o.tag ?? null,
    path: o.path ?? null,
    group_by: o.groupBy,
    removed: [],
  };
}

function policyFrom(o: ForgetCliOptions): KeepPolicy {
  return {
    last: o.keepLast,
    hourly: o.keepHourly,
    daily: o.keepDaily,
    weekly: o.keepWeekly,
    monthly: o.keepMonthly,
    yearly: o.keepYearly,
    within: o.keepWithin,
    withinHourly: o.keepWithinHourly,
    withinDaily: o.keepWithinDaily,
    withinWeekly: o.keepWithinWeekly,
    withinMonthly: o.keepWithinMonthly,
    withinYearly: o.keepWithinYearly,
    tags: o.keepTag,
  };
}

/** One group as restic 0.14 prints it: a header (with --verbose), then the keep and remove tables. */
function printGroup(out: Output, g: ForgetGroup, compact: boolean): void {
  const header = groupHeader(g.key);
  if (out.verbose && header !== undefined) out.info(header);
  if (g.keep.length > 0) {
    out.info(`keep ${g.keep.length} snapshots:`);
    const reasons = new Map<Id, string[]>(g.keep.map((k) => [k.snapshot.id, k.reasons]));
    for (const line of snapshotTable(
      g.keep.map((k) => k.snapshot),
      reasons,
      compact,
    ))
      out.info(line);
    out.info('');
  }
  if (g.remove.length > 0) {
    out.info(`remove ${g.remove.length} snapshots:`);
    for (const line of snapshotTable(g.remove, undefined, compact)) out.info(line);
    out.info('');
  }
}

/** restic's `snapshots for (host [h], tags [t], paths [p]):`; nothing when not grouped. */
function groupHeader(key: SnapshotGroupKey): string | undefined {
  const parts: string[] = [];
  if (key.hostname !== '') parts.push(`host [${key.hostname}]`);
  if (key.tags !== null) parts.push(`tags [${key.tags.join(', ')}]`);
  if (key.paths !== null) parts.push(`paths [${key.paths.join(', ')}]`);
  return parts.length === 0 ? undefined : `snapshots for (${parts.join(', ')}):`;
}

/**
 * restic's snapshot table: oldest first, reasons and paths one per line, a blank line
 * between snapshots when one has several paths, and a count below.
 */
function snapshotTable(
  list: readonly Snapshot[],
  reasons: ReadonlyMap<Id, string[]> | undefined,
  compact: boolean,
): string[] {
  const sorted = [...list].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  const header = compact
    ? ['ID', 'Time', 'Host', 'Tags  ']
    : ['ID', 'Time', 'Host      ', 'Tags      ', ...(reasons ? ['Reasons'] : []), 'Paths'];
  const rows: string[][] = [];
  const starts: number[] = [];
  for (const s of sorted) {
    const base = [[shortId(s.id)], [localTime(s.time)], [s.hostname ?? '']];
    const cells = compact
      ? [...base, s.tags ?? []]
      : [...base, [(s.tags ?? []).join(',')], ...(reasons ? [reasons.get(s.id) ?? []] : []), s.paths];
    starts.push(rows.length);
    const height = Math.max(1, ...cells.map((c) => c.length));
    for (let i = 0; i < height; i++) rows.push(cells.map((c) => c[i] ?? ''));
  }
  const lines = table(header, rows);
  if (!compact && sorted.some((s) => s.paths.length > 1)) {
    // table() puts the header and a rule before the rows.
    for (const start of starts.slice(1).reverse()) lines.splice(2 + start, 0, '');
  }
  lines.push(`${sorted.length} snapshots`);
  return lines;
}

/** A snapshot without its ID, as restic 0.14 embeds it in `reasons`. */
function snapshotBody(s: Snapshot): Record<string, unknown> {
  const body: Record<string, unknown> = { ...s };
  delete body['id'];
  return body;
}

/** One group in restic 0.14's `forget --json` shape (`null` for empty lists, as Go's nil slices). */
function groupJson(g: ForgetGroup): Record<string, unknown> {
  return {
    tags: g.key.tags,
    host: g.key.hostname,
    paths: g.key.paths,
    keep: g.keep.length > 0 ? g.keep.map((k) => snapshotJson(k.snapshot)) : null,
    remove: g.remove.length > 0 ? g.remove.map(snapshotJson) : null,
    reasons:
      g.keep.length > 0
        ? g.keep.map((k) => ({
            snapshot: snapshotBody(k.snapshot),
            matches: k.reasons,
            counters: k.counters,
          }))
        : null,
  };
}
