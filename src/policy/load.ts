/**
 * Reading the policy file: YAML in, a validated {@link Policy} out, or one line per problem
 * saying where it is (`arca.yaml:12:10: datasets.web.rpo: expected a duration like …`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from 'yaml';
import type { z } from 'zod';
import { ArcaError, isErrno } from '../errors.js';
import { type Policy, policySchema } from './schema.js';

/** The file name `policy check` and the runner use when neither `--policy` nor `ARCA_POLICY` names one. */
export const DEFAULT_POLICY_FILE = 'arca.yaml';

/** A policy as loaded: where from, the validated content, and the SHA-256 of the file's bytes (for the journal). */
export interface LoadedPolicy {
  file: string;
  policy: Policy;
  sha256: string;
}

/** The policy file to use: `explicit` (from `--policy`), else `$ARCA_POLICY`, else `arca.yaml` in `cwd`. */
export function resolvePolicyFile(explicit?: string, env = process.env, cwd = process.cwd()): string {
  const name = explicit ?? (env.ARCA_POLICY || DEFAULT_POLICY_FILE);
  return path.resolve(cwd, name);
}

/** Reads and validates the policy in `file`; ArcaError `not-found` when it is missing, `usage` when it is invalid. */
export function readPolicy(file: string): LoadedPolicy {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT'))
      throw new ArcaError('not-found', `policy file ${file} not found (arca policy init writes an example)`);
    throw new ArcaError('io', `cannot read policy file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return {
    file,
    policy: parsePolicy(bytes.toString('utf8'), file),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** Validates policy text; `name` prefixes each problem. Throws ArcaError `usage` with one line per problem. */
export function parsePolicy(text: string, name: string): Policy {
  const result = validatePolicyText(text);
  if (result.ok) return result.policy;
  throw new ArcaError('usage', result.problems.map((p) => formatProblem(name, p)).join('\n'));
}

/** A problem in the policy text: where (line and column from 1, when known; the YAML path) and what. */
export interface PolicyProblem {
  line?: number;
  col?: number;
  /** `datasets.web.rpo`, `(top level)` for the document as a whole, empty for a YAML syntax error. */
  path: string;
  message: string;
}

/** `FILE:LINE:COL: PATH: MESSAGE`, leaving out what is not known. */
export function formatProblem(name: string, p: PolicyProblem): string {
  const pos = p.line === undefined ? '' : `:${p.line}:${p.col}`;
  return `${name}${pos}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** The outcome of validating policy text: the policy, or every problem found. */
export type PolicyValidation = { ok: true; policy: Policy } | { ok: false; problems: PolicyProblem[] };

/** Parses YAML and validates it against the schema, collecting every problem. */
export function validatePolicyText(text: string): PolicyValidation {
  const lines = new LineCounter();
  // Merge keys (`<<: *defaults`) let datasets share aspects; duplicate keys are errors.
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const at = e.linePos?.[0];
        // yaml's message ends with its own position and a source excerpt; keep the first sentence.
        const what = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        return { line: at?.line, col: at?.col, path: '', message: `YAML syntax: ${what}` };
      }),
    };
  }
  const data = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  if (data === null || data === undefined)
    return { ok: false, problems: [{ path: '', message: 'the policy is empty' }] };
  const parsed = policySchema.safeParse(data, { error: errorMessage });
  if (parsed.success) return { ok: true, policy: parsed.data };
  const problems: PolicyProblem[] = [];
  const seen = new Set<string>();
  for (const { path: p, message, key, code } of flattenIssues(parsed.error.issues, [])) {
    const node = nodeAt(doc, p, key);
    const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
    // A schema's own "expected …" message would hide that the value is simply not there.
    const absent = (code === 'invalid_type' || code === 'invalid_union') && valueAt(data, p) === undefined;
    const problem = {
      line: pos?.line,
      col: pos?.col,
      path: p.length === 0 ? '(top level)' : formatPath(p),
      message: absent ? 'missing (required)' : message,
    };
    const id = JSON.stringify(problem);
    if (!seen.has(id)) problems.push(problem);
    seen.add(id);
  }
  return { ok: false, problems };
}

/** A YAML path as people write it: `datasets.web.copies[1]`, quoting keys that are not plain names. */
export function formatPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of p) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(String(seg))) s += `${s === '' ? '' : '.'}${String(seg)}`;
    else s += `[${JSON.stringify(String(seg))}]`;
  }
  return s;
}

interface Problem {
  path: PropertyKey[];
  message: string;
  code: string;
  /** The problem is the key at `path` (unknown or malformed), not its value. */
  key: boolean;
}

/** One problem per issue, looking inside unions for the branch the input was meant for. */
function flattenIssues(issues: readonly z.core.$ZodIssue[], base: PropertyKey[]): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const at = [...base, ...issue.path];
    if (issue.code === 'invalid_union') {
      // A branch whose only complaint is the input's type was not the one meant; when just
      // one branch is left, its problems are the useful ones.
      const meant = issue.errors.filter(
        (branch) =>
          !(branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0),
      );
      if (meant.length === 1) out.push(...flattenIssues(meant[0]!, at));
      else out.push({ path: at, message: issue.message, key: false, code: issue.code });
    } else if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys)
        out.push({ path: [...at, k], message: 'unknown key', key: true, code: issue.code });
    } else if (issue.code === 'invalid_key') {
      for (const inner of issue.issues)
        out.push({ path: at, message: inner.message, key: true, code: issue.code });
    } else out.push({ path: at, message: issue.message, key: false, code: issue.code });
  }
  return out;
}

const typeNames: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

/** Describes an input by its type only: a value could be a secret, so it is never echoed. */
function describeInput(input: unknown): string {
  if (input === null) return 'nothing (null)';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return 'a text';
  if (typeof input === 'number') return Number.isInteger(input) ? 'a whole number' : 'a number';
  if (typeof input === 'boolean') return 'true/false';
  return typeof input;
}

/** Messages for issues whose schema does not set its own. */
function errorMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${typeNames[issue.expected] ?? issue.expected}, got ${describeInput(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      if (issue.origin === 'array') return `needs at least ${issue.minimum} entries`;
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      return `must be at most ${issue.maximum}`;
    case 'invalid_value':
      return `expected one of: ${issue.values.map((v) => String(v)).join(', ')}`;
    default:
      return undefined;
  }
}

/** The value at `p` in plain data, or undefined when any step is missing. */
function valueAt(data: unknown, p: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of p) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** The YAML node a path points to, or the nearest one above it that exists. */
function nodeAt(doc: Document, p: readonly PropertyKey[], wantKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined = (doc.contents as Node | null) ?? undefined;
  for (const [i, seg] of p.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find(
        (it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg),
      );
      if (pair === undefined) break;
      const last = i === p.length - 1;
      if ((last && wantKey) || pair.value === null) {
        found = pair.key as Node;
        break;
      }
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) break;
    } else break;
    found = node as Node;
  }
  return found;
}
