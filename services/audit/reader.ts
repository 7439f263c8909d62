/**
 * Reading the audit record: verification and queries.
 *
 * `createAuditReader(dir)` keeps an in-memory index (by project, user,
 * aggregate id and event type) that it brings up to date from the file on
 * every call, reading only the bytes appended since the last call, and it
 * verifies the chain as it indexes. Any number of readers may run beside
 * the one writer; they never write.
 *
 * Limits (stated, not hidden): every entry is held in memory (about 1-2 KB
 * each), so one reader suits records up to a few hundred thousand entries;
 * time-range filters scan the candidates the other filters leave. Beyond
 * that the next step is segment files with an on-disk index (e.g. SQLite
 * beside each sealed segment).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_FILE_NAME } from './paths.js';
import { createChainVerifier, parseEntry, type AuditEntry, type AuditHead, type VerifyReport } from './chain.js';

export interface AuditQuery {
  readonly projectId?: string;
  readonly userId?: string;
  /** A container or capsule (or placement domain) id. */
  readonly aggregateId?: string;
  /** An event type, e.g. ContainerStartRequested. */
  readonly type?: string;
  /** occurredAt at or after (ISO-8601 or Date). */
  readonly since?: string | Date;
  /** occurredAt at or before (ISO-8601 or Date). */
  readonly until?: string | Date;
  /** Paging marker: only entries with a larger auditSeq. */
  readonly afterAuditSeq?: number;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

export interface AuditQueryResult {
  /** In auditSeq order. */
  readonly entries: readonly AuditEntry[];
  /** The marker for the next page, or null when this page is not full. */
  readonly next: number | null;
  /** The chain's state as far as it was read. */
  readonly integrity: IntegrityStatus;
}

export interface IntegrityStatus {
  readonly ok: boolean;
  /** The last entry that verifies: what to anchor elsewhere. */
  readonly head: AuditHead;
  readonly entries: number;
  readonly firstBreak: VerifyReport['firstBreak'];
}

export interface AuditReader {
  readonly path: string;
  query(q?: AuditQuery): Promise<AuditQueryResult>;
  /** The last `n` entries, oldest first. */
  tail(n: number): Promise<AuditEntry[]>;
  integrity(): Promise<IntegrityStatus>;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export class InvalidAuditQueryError extends Error {
  readonly code = 'INVALID_AUDIT_QUERY';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAuditQueryError';
  }
}

export function createAuditReader(dir: string): AuditReader {
  const path = join(dir, AUDIT_FILE_NAME);
  let entries: AuditEntry[] = [];
  let times: number[] = [];
  let byProject = new Map<string, number[]>();
  let byUser = new Map<string, number[]>();
  let byAggregate = new Map<string, number[]>();
  let byType = new Map<string, number[]>();
  let verifier = createChainVerifier();
  let offset = 0;
  let ino = -1;
  let refreshing: Promise<void> | null = null;

  const add = (m: Map<string, number[]>, k: string, i: number) => {
    const l = m.get(k);
    if (l) l.push(i);
    else m.set(k, [i]);
  };

  function reset(): void {
    entries = [];
    times = [];
    byProject = new Map();
    byUser = new Map();
    byAggregate = new Map();
    byType = new Map();
    verifier = createChainVerifier();
    offset = 0;
  }

  function index(text: string): void {
    verifier.push(text);
    let e: AuditEntry;
    try {
      e = parseEntry(text);
    } catch {
      return; // reported by the verifier; nothing to index
    }
    const i = entries.length;
    entries.push(e);
    const ev = e.event;
    times.push(ev ? Date.parse(ev.occurredAt) : NaN);
    if (ev) {
      add(byProject, ev.projectId, i);
      add(byUser, ev.userId, i);
      add(byAggregate, ev.aggregateId, i);
      add(byType, ev.type, i);
    } else {
      add(byType, 'Malformed', i);
    }
  }

  async function doRefresh(): Promise<void> {
    let st;
    try {
      st = await stat(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        reset();
        return;
      }
      throw e;
    }
    // Replaced or shrunk under us: start again (a verify will say why).
    if (st.ino !== ino || st.size < offset) {
      reset();
      ino = st.ino;
    }
    if (st.size === offset) return;
    for await (const l of readLines(path, offset, st.size)) {
      if (!l.terminated) break; // a line still being written: next time
      index(l.text);
      offset = l.end;
    }
  }

  function refresh(): Promise<void> {
    refreshing ??= doRefresh().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  function integrityNow(): IntegrityStatus {
    const r = verifier.report();
    return { ok: r.ok, head: r.head, entries: r.entries, firstBreak: r.firstBreak };
  }

  return {
    path,
    async query(q = {}) {
      await refresh();
      const limit = q.limit ?? DEFAULT_LIMIT;
      if (!Number.isInteger(limit) || limit < 1) throw new InvalidAuditQueryError('limit must be a positive integer');
      const cap = Math.min(limit, MAX_LIMIT);
      const since = q.since === undefined ? -Infinity : toMs(q.since, 'since');
      const until = q.until === undefined ? Infinity : toMs(q.until, 'until');
      const after = q.afterAuditSeq ?? 0;

      // Start from the smallest index list the filters name.
      const lists: number[][] = [];
      const pick = (m: Map<string, number[]>, k: string | undefined) => {
        if (k !== undefined) lists.push(m.get(k) ?? []);
      };
      pick(byProject, q.projectId);
      pick(byUser, q.userId);
      pick(byAggregate, q.aggregateId);
      pick(byType, q.type);
      lists.sort((a, b) => a.length - b.length);
      const base = lists[0];

      const matches = (i: number): boolean => {
        const e = entries[i]!;
        if (e.auditSeq <= after) return false;
        const ev = e.event;
        if (q.projectId !== undefined && ev?.projectId !== q.projectId) return false;
        if (q.userId !== undefined && ev?.userId !== q.userId) return false;
        if (q.aggregateId !== undefined && ev?.aggregateId !== q.aggregateId) return false;
        if (q.type !== undefined && (ev ? ev.type : 'Malformed') !== q.type) return false;
        const t = times[i]!;
        if (since !== -Infinity || until !== Infinity) {
          if (Number.isNaN(t) || t < since || t > until) return false;
        }
        return true;
      };

      const out: AuditEntry[] = [];
      if (base) {
        // Entries are in auditSeq order, so the lists are too: skip to the marker.
        for (let k = lowerBound(base, (i) => entries[i]!.auditSeq > after); k < base.length && out.length < cap; k++) {
          if (matches(base[k]!)) out.push(entries[base[k]!]!);
        }
      } else {
        for (let i = lowerBound(entries.length, (i) => entries[i]!.auditSeq > after); i < entries.length && out.length < cap; i++) {
          if (matches(i)) out.push(entries[i]!);
        }
      }
      return { entries: out, next: out.length === cap ? out[out.length - 1]!.auditSeq : null, integrity: integrityNow() };
    },

    async tail(n) {
      await refresh();
      return entries.slice(Math.max(0, entries.length - n));
    },

    async integrity() {
      await refresh();
      return integrityNow();
    },
  };
}

function toMs(v: string | Date, name: string): number {
  const t = v instanceof Date ? v.getTime() : Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidAuditQueryError(`${name} is not a timestamp: ${String(v)}`);
  return t;
}

/** First position p in [0, n) where pred holds (pred is monotone), or n. */
function lowerBound(list: number[] | number, pred: (x: number) => boolean): number {
  const n = typeof list === 'number' ? list : list.length;
  const at = (k: number) => (typeof list === 'number' ? k : list[k]!);
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pred(at(mid))) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export interface Line {
  readonly text: string;
  readonly terminated: boolean;
  /** Byte offset just past the line (and its newline). */
  readonly end: number;
}

/** The lines of a file between two byte offsets, streamed. */
export async function* readLines(path: string, start = 0, end?: number): AsyncGenerator<Line> {
  if (end !== undefined && end <= start) return;
  const stream = createReadStream(path, { start, ...(end !== undefined ? { end: end - 1 } : {}), highWaterMark: 1 << 20 });
  let carry: Buffer = Buffer.alloc(0);
  let pos = start;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let from = 0;
    for (let nl = buf.indexOf(0x0a, from); nl !== -1; nl = buf.indexOf(0x0a, from)) {
      pos += nl - from + 1;
      yield { text: buf.toString('utf8', from, nl), terminated: true, end: pos };
      from = nl + 1;
    }
    carry = buf.subarray(from);
    buf = carry;
  }
  if (carry.length) yield { text: carry.toString('utf8'), terminated: false, end: pos + carry.length };
}

export interface VerifyFileOptions {
  readonly expectedHead?: AuditHead;
  readonly onProgress?: (p: { bytes: number; entries: number }) => void;
}

/** Verifies the record at `path` (streamed; constant memory). A missing file is an empty record. */
export async function verifyFile(path: string, opts: VerifyFileOptions = {}): Promise<VerifyReport> {
  const v = createChainVerifier(opts.expectedHead ? { expectedHead: opts.expectedHead } : {});
  try {
    await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return v.report();
    throw e;
  }
  let n = 0;
  for await (const l of readLines(path)) {
    if (!v.push(l.text, l.terminated)) break;
    if (++n % 10_000 === 0) opts.onProgress?.({ bytes: l.end, entries: n });
  }
  return v.report();
}

/** The record's file in an audit directory. */
export const auditFilePath = (dir: string) => join(dir, AUDIT_FILE_NAME);
