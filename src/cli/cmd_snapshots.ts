import type { Command } from 'commander';
import { shortId } from '../repo/id.js';
import type { Snapshot, SnapshotFilter } from '../repo/snapshot.js';
import { type GlobalOptions, makeOutput, withRepository } from './context.js';
import { collect, localTime, table } from './format.js';

/** Options shared by every command that selects snapshots. */
export interface SnapshotFilterOptions {
  host?: string[];
  tag?: string[];
  path?: string[];
}

/** Adds `--host`, `--tag`, `--path` to a command. */
export function addSnapshotFilterOptions(cmd: Command): Command {
  return cmd
    .option('-H, --host <host>', 'only snapshots of this host (repeatable)', collect)
    .option(
      '--tag <tag[,tag...]>',
      'only snapshots with all these tags (repeatable: any of the lists)',
      collect,
    )
    .option('--path <path>', 'only snapshots that include this absolute path (repeatable)', collect);
}

/** Turns the filter options into a snapshot filter. */
export function snapshotFilter(o: SnapshotFilterOptions): SnapshotFilter {
  return { hosts: o.host, tags: o.tag, paths: o.path };
}

/** A snapshot as restic prints it in JSON (with `id` and `short_id`). */
export function snapshotJson(s: Snapshot): Record<string, unknown> {
  const { id, ...rest } = s;
  return { ...rest, id, short_id: shortId(id) };
}

/** Registers `arca snapshots`. */
export function registerSnapshots(program: Command): void {
  addSnapshotFilterOptions(
    program
      .command('snapshots')
      .description('list snapshots')
      .option('--latest <n>', 'only the newest n snapshots per host and paths', (v) =>
        Number.parseInt(v, 10),
      ),
  ).action(async (_opts, cmd: Command) => {
    const o = cmd.optsWithGlobals<GlobalOptions & SnapshotFilterOptions & { latest?: number }>();
    const out = makeOutput(o);
    await withRepository(o, 'shared', async (repo) => {
      let list = await repo.listSnapshots(snapshotFilter(o));
      if (o.latest !== undefined && o.latest > 0) list = newestPerGroup(list, o.latest);
      if (out.json) {
        out.printJson(list.map(snapshotJson));
        return;
      }
      const rows = list.map((s) => [
        shortId(s.id),
        localTime(s.time),
        s.hostname ?? '',
        (s.tags ?? []).join(','),
        s.paths.join(', '),
      ]);
      for (const l of table(['ID', 'Time', 'Host', 'Tags', 'Paths'], rows)) out.print(l);
      out.print(`${list.length} snapshots`);
    });
  });
}

function newestPerGroup(list: Snapshot[], n: number): Snapshot[] {
  const groups = new Map<string, Snapshot[]>();
  for (const s of list) {
    const k = JSON.stringify([s.hostname ?? '', [...s.paths].sort()]);
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  const keep = new Set<Snapshot>();
  for (const g of groups.values()) for (const s of g.slice(-n)) keep.add(s);
  return list.filter((s) => keep.has(s));
}
