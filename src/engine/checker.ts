/**
 * `check`: the structural checks restic's checker makes (index, pack files, snapshots,
 * trees), and on request reading packs back whole to authenticate every blob in them.
 * The engine never prints: it reports through `onEvent` and returns a {@link CheckResult}
 * that the CLI formats and that journals and drill reports can store as they are.
 */
import os from 'node:os';
import pLimit from 'p-limit';
import { Piscina } from 'piscina';
import { ArcaError } from '../errors.js';
import type { MasterKey } from '../repo/crypto.js';
import { hashId, type Id, isId, shortId } from '../repo/id.js';
import { expectedPackSize, headerLength, type PackedBlob, parseHeader } from '../repo/pack.js';
import { decodeBlobToScratch, type LoadProblem, type Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { displayName, type Node } from '../repo/tree.js';

/** Findings that make the check fail (restic reports each of them as an error). */
export type CheckErrorKind =
  | 'index-damaged'
  | 'pack-missing'
  | 'pack-size'
  | 'snapshot-damaged'
  | 'tree-missing'
  | 'tree-damaged'
  | 'node-invalid'
  | 'blob-missing'
  | 'pack-unreadable'
  | 'pack-hash'
  | 'pack-header'
  | 'pack-index-mismatch'
  | 'blob-damaged';

/** Findings that leave every snapshot restorable; restic prints them (or nothing) and exits 0. */
export type CheckHintKind = 'pack-unreferenced' | 'pack-mixed' | 'tree-unsorted' | 'blobs-unused';

/** One thing the check found, with the objects it concerns. */
export interface CheckFinding<K extends CheckErrorKind | CheckHintKind = CheckErrorKind | CheckHintKind> {
  kind: K;
  message: string;
  pack?: Id;
  blob?: Id;
  snapshot?: Id;
  tree?: Id;
  index?: Id;
  /** Path inside the snapshot, for findings about a file or directory. */
  path?: string;
  /** How many objects a summarising finding stands for (`blobs-unused`). */
  count?: number;
}

/** The stages of a check, in the order they run. */
export type CheckPhase = 'index' | 'packs' | 'structure' | 'read';

/** What the engine reports while it works. */
export type CheckEvent =
  /** A phase starts; `total` counts its units (index files, packs, snapshots, packs to read). */
  | {
      type: 'phase';
      phase: CheckPhase;
      total: number;
      /** For `read`: bytes to read, packs the selection picked, packs in the index. */
      bytesTotal?: number;
      packsSelected?: number;
      packsTotal?: number;
    }
  | {
      type: 'progress';
      phase: CheckPhase;
      done: number;
      total: number;
      bytesDone?: number;
      bytesTotal?: number;
    }
  | { type: 'error'; finding: CheckFinding<CheckErrorKind> }
  | { type: 'hint'; finding: CheckFinding<CheckHintKind> };

/** Which packs `--read-data` / `--read-data-subset` reads. */
export type PackSelection =
  | { kind: 'all' }
  /** Packs whose first ID byte modulo `t` is `n - 1` (restic's `n/t`). */
  | { kind: 'bucket'; n: number; t: number }
  /** A random `percent` of the packs. */
  | { kind: 'percent'; percent: number }
  /** Random packs, as many as make up `bytes` of the repository's size. */
  | { kind: 'size'; bytes: number };

/** How to check. */
export interface CheckOptions {
  /** Read and verify these packs; nothing is read when absent. */
  readData?: PackSelection;
  /** Packs downloaded at once (default: 2–4, following the decoding threads). */
  readConcurrency?: number;
  /**
   * Worker threads that verify packs; 0 or 1 verifies on the calling thread. By default one
   * per core but one (left for reading), at most 4, and only when there is enough to read to
   * repay their start.
   */
  decodeThreads?: number;
  /** Random numbers in [0, 1) for the random subsets (default: Math.random). */
  random?: () => number;
  onEvent?: (e: CheckEvent) => void;
}

/** What a check found and how much it looked at. */
export interface CheckResult {
  ok: boolean;
  errors: CheckFinding<CheckErrorKind>[];
  hints: CheckFinding<CheckHintKind>[];
  /** Set when checks were left out, and why (a damaged index stops the rest, as in restic). */
  skipped?: string;
  indexFiles: number;
  /** Packs the index lists. */
  packs: number;
  snapshots: number;
  trees: number;
  /** The `--read-data` selection and how many packs it picked, when data was read. */
  readData?: { selection: string; packsSelected: number; packsTotal: number };
  packsChecked: number;
  blobsChecked: number;
  bytesRead: number;
  durationMs: number;
}

/** restic 0.14 refuses `n/t` with t above 256: only the first byte of a pack ID picks its group. */
const maxBuckets = 256;
/** Trees being loaded at once while walking snapshots. */
const treeConcurrency = 8;
const maxDecodeThreads = 4;
/**
 * Below this much data to read, packs are verified on the calling thread: starting workers
 * takes a few hundred milliseconds (each loads the crypto and zstd bindings), while one
 * thread verifies about 250 MB/s (AES-CTR dominates).
 */
const poolMinBytes = 64 * 1024 * 1024;
/** Size suffixes restic accepts in `--read-data-subset` (binary multiples). */
const sizeUnits: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parses restic's `--read-data-subset` syntax: `n/t`, `x%` / `x.y%`, or a size like `50M`. */
export function parsePackSelection(text: string, option = '--read-data-subset'): PackSelection {
  const bad = (why = 'use n/t, x% or a size like 500M'): never => {
    throw new ArcaError('usage', `invalid ${option} ${JSON.stringify(text)}: ${why}`);
  };
  const bucket = /^(\d+)\/(\d+)$/.exec(text);
  if (bucket) {
    const n = Number(bucket[1]);
    const t = Number(bucket[2]);
    if (n < 1 || t < 1 || n > t) bad('n/t must be positive integers with n <= t, e.g. 1/2');
    if (t > maxBuckets) bad(`t must be at most ${maxBuckets}`);
    return { kind: 'bucket', n, t };
  }
  if (text.endsWith('%')) {
    const digits = text.slice(0, -1);
    const percent = Number(digits);
    if (digits.trim() === '' || !Number.isFinite(percent)) bad();
    if (percent <= 0 || percent > 100) bad('x% must be above 0% and at most 100%');
    return { kind: 'percent', percent };
  }
  const size = /^(\d+)([bkmgt]?)$/i.exec(text);
  if (!size) return bad();
  const bytes = Number(size[1]) * (sizeUnits[(size[2] ?? '').toLowerCase()] ?? 1);
  if (!(bytes > 0)) bad('the size must be above 0');
  return { kind: 'size', bytes };
}

/** The selection as a user writes it (`all`, `1/3`, `10%`, `52428800 bytes`). */
export function describePackSelection(s: PackSelection): string {
  switch (s.kind) {
    case 'all':
      return 'all';
    case 'bucket':
      return `${s.n}/${s.t}`;
    case 'percent':
      return `${s.percent}%`;
    case 'size':
      return `${s.bytes} bytes`;
  }
}

/**
 * Picks the packs to read out of `packs` (ID → size), as restic 0.14 does: `n/t` by the
 * pack ID's first byte, `x%` and sizes as a random sample of ⌊count·x/100⌋ packs (at least one).
 */
export function selectPacks(
  packs: ReadonlyMap<Id, number>,
  s: PackSelection,
  random: () => number = Math.random,
): Map<Id, number> {
  switch (s.kind) {
    case 'all':
      return new Map(packs);
    case 'bucket':
      return new Map([...packs].filter(([id]) => Number.parseInt(id.slice(0, 2), 16) % s.t === s.n - 1));
    case 'percent':
      return randomSample(packs, s.percent, random);
    case 'size': {
      let total = 0;
      for (const size of packs.values()) total += size;
      if (total === 0) return new Map();
      return randomSample(packs, (Math.min(s.bytes, total) / total) * 100, random);
    }
  }
}

function randomSample(
  packs: ReadonlyMap<Id, number>,
  percent: number,
  random: () => number,
): Map<Id, number> {
  const all = [...packs];
  let want = Math.floor(all.length * (percent / 100));
  if (all.length > 0 && want < 1) want = 1;
  // A partial Fisher–Yates shuffle: the first `want` entries end up a uniform sample.
  for (let i = 0; i < want; i++) {
    const j = i + Math.floor(random() * (all.length - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return new Map(all.slice(0, want));
}

/**
 * Checks `repo`, which must be freshly opened (an index loaded before would not be checked);
 * see {@link CheckOptions}. Damage is reported in the result, never thrown.
 */
export async function checkRepository(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  return new CheckRun(repo, opts).run();
}

class CheckRun {
  private readonly started = Date.now();
  private readonly errors: CheckFinding<CheckErrorKind>[] = [];
  private readonly hints: CheckFinding<CheckHintKind>[] = [];
  private readonly missingPacks = new Set<Id>();
  private readonly seenTrees = new Set<Id>();
  private readonly usedData = new Set<Id>();
  /** False once a snapshot or tree could not be read: then unused blobs cannot be told. */
  private walkComplete = true;
  /** Set when the walk failed: pack reads not yet started are skipped. */
  private stopReading = false;
  private readonly result: CheckResult = {
    ok: true,
    errors: this.errors,
    hints: this.hints,
    indexFiles: 0,
    packs: 0,
    snapshots: 0,
    trees: 0,
    packsChecked: 0,
    blobsChecked: 0,
    bytesRead: 0,
    durationMs: 0,
  };

  constructor(
    private readonly repo: Repository,
    private readonly opts: CheckOptions,
  ) {}

  async run(): Promise<CheckResult> {
    if (await this.loadIndex()) {
      this.checkPackFiles(await this.listPackFiles());
      const readData = this.opts.readData;
      if (readData) {
        // Reading packs needs only the index: it runs on the verifying threads while this thread
        // walks the trees. What it finds is held back until the walk is done, so the report keeps
        // restic's order (structure first, then data).
        const held = this.holdEvents();
        const reading = this.readPacks(readData, held.emit);
        reading.catch(() => {});
        try {
          await this.checkSnapshots();
        } catch (err) {
          // The check has failed: stop reading packs (no more downloads after the caller gives
          // up its lock), and wait until the reads in progress are done.
          this.stopReading = true;
          await reading.catch(() => {});
          throw err;
        } finally {
          held.release();
        }
        await reading;
      } else {
        await this.checkSnapshots();
      }
    } else {
      this.result.skipped = 'the other checks were skipped: they need every index file';
    }
    this.result.ok = this.errors.length === 0;
    this.result.durationMs = Date.now() - this.started;
    return this.result;
  }

  private emit(e: CheckEvent): void {
    this.opts.onEvent?.(e);
  }

  /**
   * A way to report that queues everything (events and errors, in order) until `release`,
   * then passes it on as it comes.
   */
  private holdEvents(): { emit: (report: () => void) => void; release: () => void } {
    let queue: (() => void)[] | undefined = [];
    return {
      emit: (report) => {
        if (queue) queue.push(report);
        else report();
      },
      release: () => {
        const q = queue ?? [];
        queue = undefined;
        for (const report of q) report();
      },
    };
  }

  private error(f: CheckFinding<CheckErrorKind>): void {
    this.errors.push(f);
    this.emit({ type: 'error', finding: f });
  }

  private hint(f: CheckFinding<CheckHintKind>): void {
    this.hints.push(f);
    this.emit({ type: 'hint', finding: f });
  }

  /** Loads every index file; false when one is damaged. */
  private async loadIndex(): Promise<boolean> {
    const ids = await this.repo.listIds('index');
    this.result.indexFiles = ids.length;
    this.emit({ type: 'phase', phase: 'index', total: ids.length });
    await this.repo.loadIndex((p) => {
      const index = fullId(p, ids);
      this.error({ kind: 'index-damaged', message: named(p), ...(index ? { index } : {}) });
    });
    const packs = this.repo.index.packs();
    this.result.packs = packs.size;
    for (const [pack, blobs] of packs) {
      if (blobs.some((b) => b.type === 'tree') && blobs.some((b) => b.type === 'data')) {
        this.hint({
          kind: 'pack-mixed',
          pack,
          message: `pack ${shortId(pack)} contains a mix of tree and data blobs`,
        });
      }
    }
    return this.errors.length === 0;
  }

  private async listPackFiles(): Promise<Map<Id, number>> {
    const present = new Map<Id, number>();
    for await (const fi of this.repo.backend.list('data')) if (isId(fi.name)) present.set(fi.name, fi.size);
    return present;
  }

  /** Every pack the index lists must exist with the size its blobs imply; unlisted packs are hints. */
  private checkPackFiles(present: ReadonlyMap<Id, number>): void {
    const packs = this.repo.index.packs();
    this.emit({ type: 'phase', phase: 'packs', total: packs.size });
    for (const [pack, blobs] of [...packs].sort(byKey)) {
      const size = present.get(pack);
      const want = expectedPackSize(blobs);
      if (size === undefined) {
        this.missingPacks.add(pack);
        this.error({
          kind: 'pack-missing',
          pack,
          message: `pack ${shortId(pack)}: listed in index but missing`,
        });
      } else if (size !== want) {
        this.error({
          kind: 'pack-size',
          pack,
          message: `pack ${shortId(pack)}: file is ${size} bytes, the index implies ${want}`,
        });
      }
    }
    for (const pack of [...present.keys()].sort()) {
      if (!packs.has(pack)) {
        this.hint({
          kind: 'pack-unreferenced',
          pack,
          message: `pack ${shortId(pack)}: not referenced in any index`,
        });
      }
    }
  }

  /** Loads every snapshot and walks every tree reachable from them, each tree once. */
  private async checkSnapshots(): Promise<void> {
    const ids = await this.repo.listIds('snapshots');
    this.emit({ type: 'phase', phase: 'structure', total: ids.length });
    const snapshots = await this.repo.listSnapshots({}, (p) => {
      this.walkComplete = false;
      const snapshot = fullId(p, ids);
      this.error({ kind: 'snapshot-damaged', message: named(p), ...(snapshot ? { snapshot } : {}) });
    });
    this.result.snapshots = snapshots.length;
    const limit = pLimit(treeConcurrency);
    let done = 0;
    // One snapshot after the other, oldest first, so a tree shared by several snapshots is
    // always reported under the same (oldest) one; the trees of one snapshot load in parallel.
    for (const s of snapshots) {
      await this.walkSnapshot(s, limit);
      this.emit({ type: 'progress', phase: 'structure', done: ++done, total: snapshots.length });
    }
    this.reportUnusedBlobs();
  }

  private async walkSnapshot(s: Snapshot, limit: ReturnType<typeof pLimit>): Promise<void> {
    if (!isId(s.tree)) {
      this.walkComplete = false;
      this.error({
        kind: 'snapshot-damaged',
        snapshot: s.id,
        message: `snapshot ${shortId(s.id)}: invalid tree ID ${JSON.stringify(s.tree)}`,
      });
      return;
    }
    const pending: Promise<void>[] = [];
    const visit = (tree: Id, path: string): void => {
      if (this.seenTrees.has(tree)) return;
      this.seenTrees.add(tree);
      pending.push(limit(() => this.checkTree(s, tree, path, visit)));
    };
    visit(s.tree, '/');
    // A tree queues its subtrees before its own promise settles, so this reaches them all.
    for (let i = 0; i < pending.length; i++) await pending[i];
  }

  private async checkTree(
    s: Snapshot,
    tree: Id,
    path: string,
    visit: (id: Id, path: string) => void,
  ): Promise<void> {
    const at = `snapshot ${shortId(s.id)}: dir ${path}`;
    const where = { snapshot: s.id, tree, path };
    if (!this.repo.index.has(tree, 'tree')) {
      this.walkComplete = false;
      this.error({
        kind: 'tree-missing',
        ...where,
        message: `${at}: tree ${shortId(tree)} not found in index`,
      });
      return;
    }
    let nodes: Node[];
    try {
      nodes = await this.repo.loadTree(tree);
    } catch (err) {
      if (!(err instanceof ArcaError)) throw err;
      this.walkComplete = false;
      const what = err.message.includes(shortId(tree))
        ? err.message
        : `tree ${shortId(tree)}: ${err.message}`;
      this.error({ kind: 'tree-damaged', ...where, message: `${at}: ${what}` });
      return;
    }
    this.result.trees++;
    const prefix = `snapshot ${shortId(s.id)}: tree ${shortId(tree)}`;
    let unsorted = false;
    nodes.forEach((node, i) => {
      const name = displayName(node.name);
      const nodePath = path === '/' ? `/${name}` : `${path}/${name}`;
      const invalid = (message: string): void =>
        this.error({ kind: 'node-invalid', ...where, path: nodePath, message: `${prefix}: ${message}` });
      if (node.name.length === 0) invalid(`node #${i} in ${path} has an empty name`);
      const prev = nodes[i - 1];
      if (prev && !unsorted && Buffer.compare(prev.name, node.name) >= 0) {
        unsorted = true;
        this.hint({
          kind: 'tree-unsorted',
          ...where,
          message: `${prefix}: nodes of ${path} are not sorted strictly by name (${JSON.stringify(displayName(prev.name))} before ${JSON.stringify(name)})`,
        });
      }
      if (node.type === 'file') this.checkFileContent(node, nodePath, prefix, where, invalid);
      else if (node.type === 'dir') {
        if (node.subtree === undefined) invalid(`dir ${nodePath} has no subtree`);
        else if (!isId(node.subtree) || /^0+$/.test(node.subtree)) {
          invalid(`dir ${nodePath} has an invalid subtree ID ${JSON.stringify(node.subtree)}`);
        } else visit(node.subtree, nodePath);
      }
    });
  }

  private checkFileContent(
    node: Node,
    path: string,
    prefix: string,
    where: { snapshot: Id; tree: Id },
    invalid: (message: string) => void,
  ): void {
    if (node.content === null) {
      invalid(`file ${path} has no content list`);
      return;
    }
    node.content.forEach((blob, i) => {
      if (typeof blob !== 'string' || !isId(blob) || /^0+$/.test(blob)) {
        invalid(`file ${path}: content #${i} is not a valid blob ID`);
        return;
      }
      this.usedData.add(blob);
      if (!this.repo.index.has(blob, 'data')) {
        this.error({
          kind: 'blob-missing',
          ...where,
          path,
          blob,
          message: `${prefix}: file ${path}: data blob ${shortId(blob)} not found in index`,
        });
      }
    });
  }

  /** Blobs no snapshot uses (restic 0.14 does not report them; `prune` would remove them). */
  private reportUnusedBlobs(): void {
    if (!this.walkComplete) return;
    let count = 0;
    let bytes = 0;
    for (const id of this.repo.index.blobIds()) {
      const loc = this.repo.index.lookupAll(id)[0]!;
      if (loc.type === 'tree' ? this.seenTrees.has(id) : this.usedData.has(id)) continue;
      count++;
      bytes += loc.length;
    }
    if (count === 0) return;
    this.hint({
      kind: 'blobs-unused',
      count,
      message: `${count} blobs (${bytes} bytes stored) are not used by any snapshot; prune would remove them`,
    });
  }

  /** Downloads the selected packs whole and verifies name, header, index entries and every blob. */
  private async readPacks(selection: PackSelection, report: (r: () => void) => void): Promise<void> {
    const sizes = new Map<Id, number>();
    for (const [pack, blobs] of this.repo.index.packs()) sizes.set(pack, expectedPackSize(blobs));
    const selected = selectPacks(sizes, selection, this.opts.random);
    const readData = {
      selection: describePackSelection(selection),
      packsSelected: selected.size,
      packsTotal: sizes.size,
    };
    report(() => {
      this.result.readData = readData;
    });
    // Missing packs were reported already; reading them would only say so again.
    const todo = [...selected].filter(([pack]) => !this.missingPacks.has(pack)).sort(byKey);
    const bytesTotal = todo.reduce((sum, [, size]) => sum + size, 0);
    report(() =>
      this.emit({
        type: 'phase',
        phase: 'read',
        total: todo.length,
        bytesTotal,
        packsSelected: selected.size,
        packsTotal: sizes.size,
      }),
    );
    const threads = Math.min(
      maxDecodeThreads,
      this.opts.decodeThreads ?? (bytesTotal >= poolMinBytes ? os.availableParallelism() : 1),
    );
    const verifier = threads > 1 ? poolVerifier(this.repo.key, threads) : inlineVerifier(this.repo.key);
    // A pack holds its slot while it downloads and while it is verified: two more slots than
    // verifying threads keep the downloads going.
    const limit = pLimit(this.opts.readConcurrency ?? Math.min(4, Math.max(1, threads) + 2));
    let done = 0;
    try {
      await Promise.all(
        todo.map(([pack]) =>
          limit(async () => {
            if (this.stopReading) return;
            const blobs = [...(this.repo.index.packs().get(pack) ?? [])];
            let raw: Buffer;
            try {
              raw = await this.repo.backend.load({ type: 'data', name: pack });
            } catch (err) {
              if (!(err instanceof Error)) throw err;
              const message = `pack ${shortId(pack)}: cannot be read: ${err.message}`;
              report(() => this.error({ kind: 'pack-unreadable', pack, message }));
              return;
            }
            const length = raw.length;
            const verdict = await verifier.verify(pack, raw, blobs);
            report(() => {
              this.result.bytesRead += length;
              for (const f of verdict.findings) this.error({ ...f, pack });
              this.result.packsChecked++;
              this.result.blobsChecked += verdict.blobsChecked;
              this.emit({
                type: 'progress',
                phase: 'read',
                done: ++done,
                total: todo.length,
                bytesDone: this.result.bytesRead,
                bytesTotal,
              });
            });
          }),
        ),
      );
    } finally {
      await verifier.close();
    }
  }
}

/** What verifying one pack found: problems (without the pack ID, which the caller adds) and blobs looked at. */
export interface PackVerdict {
  findings: Omit<CheckFinding<CheckErrorKind>, 'pack'>[];
  blobsChecked: number;
}

/**
 * Verifies a whole pack file against the index entries `blobs` for it: the SHA-256 of the
 * file against its name, the header against the index, and every blob's MAC, compression
 * and plaintext hash. Pure and CPU-bound, so it runs on worker threads.
 */
export function verifyPack(key: MasterKey, pack: Id, raw: Buffer, blobs: readonly PackedBlob[]): PackVerdict {
  const findings: PackVerdict['findings'] = [];
  const name = `pack ${shortId(pack)}`;
  const actual = hashId(raw);
  if (actual !== pack) {
    findings.push({
      kind: 'pack-hash',
      message: `${name}: content does not match its name (SHA-256 is ${actual})`,
    });
  }
  let header: PackedBlob[] | undefined;
  try {
    const hlen = headerLength(raw.subarray(Math.max(0, raw.length - 4)), raw.length, pack);
    header = parseHeader(key, raw.subarray(raw.length - 4 - hlen, raw.length - 4), raw.length, pack);
  } catch (err) {
    if (!(err instanceof ArcaError)) throw err;
    findings.push({ kind: 'pack-header', message: err.message });
  }
  const byOffset = [...blobs].sort((a, b) => a.offset - b.offset);
  if (header) compareHeader(name, header, byOffset, findings);
  let end = 0;
  for (const b of byOffset) {
    if (b.offset !== end) {
      findings.push({
        kind: 'pack-index-mismatch',
        message: `${name}: the index's blobs for this pack overlap or leave gaps`,
      });
      break;
    }
    end = b.offset + b.length;
  }
  for (const b of byOffset) {
    const what = `${b.type} blob ${shortId(b.id)} in ${name}`;
    if (b.offset + b.length > raw.length) {
      findings.push({
        kind: 'blob-damaged',
        blob: b.id,
        message: `${what}: lies beyond the end of the pack (offset ${b.offset}, length ${b.length}, pack ${raw.length} bytes)`,
      });
      continue;
    }
    try {
      decodeBlobToScratch(key, { ...b, packId: pack }, raw.subarray(b.offset, b.offset + b.length));
    } catch (err) {
      if (!(err instanceof ArcaError)) throw err;
      findings.push({ kind: 'blob-damaged', blob: b.id, message: err.message });
    }
  }
  return { findings, blobsChecked: byOffset.length };
}

function compareHeader(
  name: string,
  header: readonly PackedBlob[],
  index: readonly PackedBlob[],
  findings: PackVerdict['findings'],
): void {
  const describe = (b: PackedBlob): string =>
    `${b.type} blob ${shortId(b.id)} (offset ${b.offset}, length ${b.length}` +
    (b.uncompressedLength > 0 ? `, ${b.uncompressedLength} uncompressed)` : ')');
  const indexAt = new Map(index.map((b) => [b.offset, b]));
  const headerAt = new Map(header.map((b) => [b.offset, b]));
  for (const h of header) {
    const ix = indexAt.get(h.offset);
    if (ix && sameBlob(ix, h)) continue;
    findings.push({
      kind: 'pack-index-mismatch',
      blob: h.id,
      message: `${name}: header lists ${describe(h)}, the index ${ix ? `has ${describe(ix)}` : 'has no blob'} there`,
    });
  }
  for (const ix of index) {
    if (headerAt.has(ix.offset)) continue;
    findings.push({
      kind: 'pack-index-mismatch',
      blob: ix.id,
      message: `${name}: index lists ${describe(ix)}, the pack header has no blob there`,
    });
  }
}

function sameBlob(a: PackedBlob, b: PackedBlob): boolean {
  return (
    a.id === b.id &&
    a.type === b.type &&
    a.length === b.length &&
    a.uncompressedLength === b.uncompressedLength
  );
}

/** A pack to verify on a worker thread (keys travel as plain byte arrays). */
export interface PackTask {
  key: { encrypt: Uint8Array; macK: Uint8Array; macR: Uint8Array };
  pack: Id;
  raw: Uint8Array;
  blobs: PackedBlob[];
}

/** The worker-thread entry point: {@link verifyPack} on a {@link PackTask}. */
export function verifyPackTask(task: PackTask): PackVerdict {
  const buf = (a: Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const key: MasterKey = {
    encrypt: buf(task.key.encrypt),
    macK: buf(task.key.macK),
    macR: buf(task.key.macR),
  };
  return verifyPack(key, task.pack, buf(task.raw), task.blobs);
}

interface PackVerifier {
  /** Verifies a pack; `raw` may be handed to another thread and must not be used afterwards. */
  verify(pack: Id, raw: Buffer, blobs: PackedBlob[]): Promise<PackVerdict>;
  close(): Promise<void>;
}

function inlineVerifier(key: MasterKey): PackVerifier {
  return { verify: async (pack, raw, blobs) => verifyPack(key, pack, raw, blobs), close: async () => {} };
}

function poolVerifier(key: MasterKey, threads: number): PackVerifier {
  // Own copies: a Buffer may view a larger shared allocation, which would be cloned whole.
  const k = {
    encrypt: new Uint8Array(key.encrypt),
    macK: new Uint8Array(key.macK),
    macR: new Uint8Array(key.macR),
  };
  const pool = new Piscina<PackTask, PackVerdict>({
    filename: import.meta.url,
    name: 'verifyPackTask',
    minThreads: threads,
    maxThreads: threads,
  });
  return {
    verify(pack, raw, blobs) {
      const whole = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
      const owned = whole ? raw : new Uint8Array(raw);
      return pool.run({ key: k, pack, raw: owned, blobs }, { transferList: [owned.buffer as ArrayBuffer] });
    },
    close: () => pool.destroy(),
  };
}

/** The full ID of the file a load problem is about (`index 1a2b3c4d` → the listed ID). */
function fullId(p: LoadProblem, ids: readonly Id[]): Id | undefined {
  const short = p.what.split(' ').pop() ?? '';
  return ids.find((id) => id.startsWith(short));
}

/** A load problem's message, naming the file when the error does not already. */
function named(p: LoadProblem): string {
  return p.error.message.includes(p.what.split(' ').pop() ?? '')
    ? p.error.message
    : `${p.what}: ${p.error.message}`;
}

function byKey<T>(a: [Id, T], b: [Id, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
