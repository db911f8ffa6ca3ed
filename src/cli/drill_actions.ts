/**
 * What `arca drill` does: builds the runner's context (policy, journal, repositories) as
 * `arca run` does, runs one drill (src/drill/drill.ts) and prints what was restored from
 * where, the measured or forecast time against the RTO, the point's age against the RPO, the
 * checks and the result. Exit codes: 0 passed, 1 failed (or the sandbox was refused), 3
 * passed but missed the RTO or RPO. Kept apart from cmd_drill.ts so that zod, YAML and SQLite
 * load only when the command runs.
 */
import { runDrill } from '../drill/drill.js';
import type { DrillDetails } from '../drill/record.js';
import { ArcaError, ExitCode } from '../errors.js';
import type { JournalRecord } from '../journal/record.js';
import { formatMs } from '../policy/duration.js';
import { resolvePolicyFile } from '../policy/load.js';
import { loadRunnablePolicy, recordPolicyChange } from '../runner/runner.js';
import type { DrillOptions } from './cmd_drill.js';
import { type GlobalOptions, type Output, onInterrupt } from './context.js';
import { formatBytes } from './format.js';
import { makeContext } from './run_actions.js';

/** `arca drill`: one drill, recorded in the journal; see the module comment for exit codes. */
export async function drillCommand(o: GlobalOptions & DrillOptions, out: Output): Promise<void> {
  const loaded = loadRunnablePolicy(resolvePolicyFile(o.policy));
  const controller = new AbortController();
  const ctx = makeContext(o, out, loaded, controller.signal, false);
  const cleanUp = onInterrupt(async () => {
    controller.abort(new ArcaError('interrupted', 'interrupted'));
  });
  try {
    recordPolicyChange(ctx);
    const outcome = await runDrill(ctx, {
      kind: 'ad-hoc',
      dataset: o.dataset,
      repo: o.repo,
      snapshot: o.snapshot,
      random: o.random === true,
      samplePercent: o.full ? null : o.sample === undefined ? undefined : Number(o.sample),
      seed: o.seed,
      sandboxBase: o.sandbox,
      keepSandbox: o.keepSandbox === true,
      dryRun: o.dryRun === true,
    });
    const { details: d, record, result } = outcome;
    if (out.json) out.printJson({ seq: record.seq, result, error: record.error, ...d });
    else for (const line of summary(d, record)) out.print(line);
    if (outcome.refused !== undefined) throw outcome.refused;
    if (result === 'interrupted') throw new ArcaError('interrupted', 'interrupted');
    if (result === 'failed')
      throw new ArcaError('io', `drill ${d.drill_id} FAILED at ${d.failure.stage}: ${d.failure.reason}`);
    if (result === 'partial') {
      out.warn(`arca: drill ${d.drill_id} passed verification but missed its objectives: ${record.error}`);
      process.exitCode = ExitCode.partial;
    }
  } finally {
    cleanUp();
    ctx.journal.close();
  }
}

/** The lines a person reads: what, from where, to where, how long against the RTO, how old against the RPO, checks, result. */
export function summary(d: DrillDetails, record: JournalRecord): string[] {
  const m = d.measurements;
  const lines: string[] = [];
  const src = d.source;
  lines.push(
    `drill ${d.drill_id}${d.simulated ? ' (SIMULATED: nothing restored, not evidence)' : ''} of dataset ${record.dataset}`,
  );
  lines.push(
    `  from:       repository ${src.repository_name} (site ${src.site}${src.offsite ? ', offsite' : ''}` +
      `${src.immutable ? ', immutable' : ''}; ${d.selection.method === 'named' ? 'named' : `the least recently drilled of ${d.selection.repositories.join(', ')}`})`,
  );
  if (src.snapshot_id !== null)
    lines.push(
      `  snapshot:   ${src.snapshot_id.slice(0, 8)} of ${src.recovery_point_time}${src.level ? ` (${src.level})` : ''}, ` +
        `${d.selection.snapshot_rule} of ${d.selection.population}; seed ${d.selection.seed}`,
    );
  if (d.target.path !== null)
    lines.push(
      `  into:       ${d.target.path} (isolated sandbox${d.cleanup.kept ? ', kept' : d.cleanup.removed_at ? ', removed' : ''})`,
    );
  if (m.restore_seconds !== null)
    lines.push(
      `  restored:   ${m.files_restored} files, ${formatBytes(m.bytes_restored)} in ${m.restore_seconds.toFixed(2)} s ` +
        `(${formatBytes(Math.round(m.bytes_per_second ?? 0))}/s)${d.scope === 'sample' ? `, a ${d.sample_percent}% sample of ${m.snapshot_files} files, ${formatBytes(m.snapshot_bytes ?? 0)}` : ''}`,
    );
  if (m.restore_time_seconds !== null)
    lines.push(
      `  RTO:        ${m.restore_time_kind === 'forecast' ? 'forecast' : 'measured'} ${seconds(m.restore_time_seconds)} ` +
        `against ${d.asset.rto}: ${m.rto_met ? 'met' : 'MISSED'}`,
    );
  if (m.recovery_point_age_seconds !== null)
    lines.push(
      `  RPO:        recovery point ${seconds(m.recovery_point_age_seconds)} old against ${d.asset.rpo}: ` +
        `${m.rpo_met === null ? `not judged (${d.simulated ? 'simulated' : `${d.selection.snapshot_rule} snapshot; only the newest is held to the RPO`})` : m.rpo_met ? 'met' : 'MISSED'}`,
    );
  if (m.restore_seconds !== null) {
    const v = d.validation;
    lines.push(
      `  verified:   ${v.integrity.files} files re-hashed (${v.integrity.mismatched} mismatched), ` +
        `metadata of ${v.metadata.checked} entries (${v.metadata.mismatched} mismatched)`,
    );
    for (const c of v.checks) lines.push(`  check:      ${c.check}: ${c.passed ? 'passed' : 'FAILED'}`);
  }
  if (d.corrective_action !== null) lines.push(`  corrective action ${d.corrective_action} opened`);
  const verdict = {
    success: d.simulated ? 'SIMULATED' : 'PASSED',
    partial: 'PASSED, objectives MISSED',
    failed: `FAILED at ${d.failure.stage}`,
    interrupted: 'INTERRUPTED',
  }[record.result];
  lines.push(`  result:     ${verdict}${record.error ? `: ${record.error}` : ''}`);
  return lines;
}

function seconds(s: number): string {
  return s < 60 ? `${s.toFixed(2)} s` : formatMs(s * 1000);
}
