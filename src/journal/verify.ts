/**
 * Chain verification: recomputes every record's hash and checks that each one names its
 * predecessor and that sequence numbers run 1, 2, 3… in stored order. One pass, so the
 * same check serves the database and an exported file.
 */
import { genesisHash, recordHash } from './record.js';

/** Why a record breaks the chain. */
export type ChainProblemKind =
  /** The record's fields no longer give its hash: it was edited (or forged). */
  | 'hash-mismatch'
  /** The record does not name the hash of the record stored before it. */
  | 'prev-hash-mismatch'
  /** Sequence numbers jump: records were deleted. */
  | 'seq-gap'
  /** Sequence numbers go backwards or repeat: records were reordered or duplicated. */
  | 'seq-out-of-order'
  /** Not a record at all (not a JSON object, or no seq/prev_hash/hash). */
  | 'malformed'
  /** Fewer records than expected, or the expected head is missing: the tail was removed or rewritten. */
  | 'truncated';

/** One break in the chain. */
export interface ChainProblem {
  kind: ChainProblemKind;
  /** The record's sequence number, when it has one. */
  seq: number | null;
  /** 1-based position in stored order (the line number of an export). */
  position: number;
  message: string;
}

/** What an auditor noted earlier, to prove the journal has only grown since. */
export interface ChainExpectation {
  /** A head hash noted earlier: it must still be in the chain. */
  head?: string;
  /** A record count noted earlier: there must be at least this many. */
  count?: number;
}

/** The outcome of a verification. */
export interface VerifyResult {
  ok: boolean;
  /** How many records were checked. */
  records: number;
  /** The last record in stored order (its seq and hash), or null for an empty journal. */
  head: { seq: number | null; hash: string | null } | null;
  /** In stored order; empty when the chain is intact. */
  problems: ChainProblem[];
  /** The seq of the record whose hash is `expect.head`, when found. */
  expectedHeadSeq?: number;
}

/** Verifies records given in stored order (parsed JSON objects, or anything for a malformed entry). */
export function verifyChain(records: Iterable<unknown>, expect: ChainExpectation = {}): VerifyResult {
  const problems: ChainProblem[] = [];
  const seen = new Set<number>();
  // Jumps forward whose missing seqs may still turn up later (then it was reordering).
  const jumps: { problem: ChainProblem; missing: number[] }[] = [];
  let maxSeq = 0;
  let prevHash: string | null = genesisHash;
  let position = 0;
  let head: VerifyResult['head'] = null;
  let expectedHeadSeq: number | undefined;

  for (const r of records) {
    position++;
    const report = (kind: ChainProblemKind, seq: number | null, message: string): ChainProblem => {
      const p = { kind, seq, position, message };
      problems.push(p);
      return p;
    };
    if (typeof r !== 'object' || r === null || Array.isArray(r)) {
      report('malformed', null, 'not a JSON object');
      head = { seq: null, hash: null };
      prevHash = null;
      // Assume it holds the next seq, so that what follows is not also called a gap.
      maxSeq++;
      continue;
    }
    const rec = r as Record<string, unknown>;
    const seq = Number.isSafeInteger(rec.seq) && (rec.seq as number) > 0 ? (rec.seq as number) : null;
    const hash = typeof rec.hash === 'string' ? rec.hash : null;
    head = { seq, hash };
    const before = prevHash;
    prevHash = hash;
    if (seq === null || hash === null || typeof rec.prev_hash !== 'string') {
      report('malformed', seq, 'no valid seq, prev_hash or hash');
      if (seq !== null) seen.add(seq);
      maxSeq = Math.max(maxSeq + (seq === null ? 1 : 0), seq ?? 0);
      continue;
    }
    if (expect.head !== undefined && hash === expect.head) expectedHeadSeq = seq;

    const expected = maxSeq + 1;
    if (seq !== expected) {
      if (seen.has(seq)) {
        report('seq-out-of-order', seq, `seq ${seq} appears twice`);
      } else if (seq < expected) {
        report('seq-out-of-order', seq, `seq ${seq} is stored after seq ${maxSeq}: records were reordered`);
        for (const j of jumps) j.missing = j.missing.filter((m) => m !== seq);
      } else {
        const missing = Array.from({ length: Math.min(seq - expected, 1_000_000) }, (_, i) => expected + i);
        const p = report(
          'seq-gap',
          seq,
          maxSeq === 0 ? `the first record is seq ${seq}` : `seq ${seq} follows seq ${maxSeq}`,
        );
        jumps.push({ problem: p, missing });
      }
      seen.add(seq);
      maxSeq = Math.max(maxSeq, seq);
      continue;
    }
    seen.add(seq);
    maxSeq = seq;
    if (before === null || rec.prev_hash !== before) {
      report(
        'prev-hash-mismatch',
        seq,
        position === 1
          ? 'the first record does not start the chain (its prev_hash is not the genesis value)'
          : 'prev_hash is not the hash of the record stored before it: a record before it was changed, inserted or removed',
      );
      continue;
    }
    if (recordHash(rec) !== hash) report('hash-mismatch', seq, 'the record was changed after it was written');
  }

  for (const { problem, missing } of jumps) {
    if (missing.length === 0) {
      problem.kind = 'seq-out-of-order';
      problem.message += ': records were reordered';
    } else {
      problem.message += `: ${describeRange(missing)} missing (deleted)`;
    }
  }
  const end = position + 1;
  if (expect.count !== undefined && position < expect.count) {
    problems.push({
      kind: 'truncated',
      seq: null,
      position: end,
      message: `${position} records, but at least ${expect.count} were expected: records were removed from the end`,
    });
  }
  if (expect.head !== undefined && expectedHeadSeq === undefined) {
    problems.push({
      kind: 'truncated',
      seq: null,
      position: end,
      message: `the expected head ${expect.head} is not in the journal: records were removed from the end or rewritten`,
    });
  }
  const result: VerifyResult = { ok: problems.length === 0, records: position, head, problems };
  if (expectedHeadSeq !== undefined) result.expectedHeadSeq = expectedHeadSeq;
  return result;
}

function describeRange(seqs: number[]): string {
  const first = seqs[0]!;
  const last = seqs[seqs.length - 1]!;
  if (seqs.length === 1) return `seq ${first} is`;
  return last - first + 1 === seqs.length ? `seqs ${first}–${last} are` : `${seqs.length} records are`;
}
