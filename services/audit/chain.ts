/**
 * The audit record's hash chain: entry shape, canonical JSON, hashing and
 * verification. No file I/O here (the log and the reader do that), so every
 * rule about what counts as tampering lives in one place and is unit-tested
 * on plain strings.
 *
 * An entry's hash is sha256(prevHash + canonicalJson(entry without `hash`)),
 * hex-encoded; the first entry's prevHash is GENESIS_HASH. Canonical JSON is
 * RFC 8785 (JCS) for the values events carry: object keys sorted by UTF-16
 * code units, no whitespace, ECMAScript number and string serialisation.
 */
import { createHash } from 'node:crypto';
import type { AggregateKind, RecordedEvent } from '../../events/index.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The event as the audit record keeps it: the stored envelope, without its stream sequence. */
export interface AuditedEvent {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly aggregateKind: AggregateKind;
  readonly aggregateId: string;
  readonly projectId: string;
  readonly userId: string;
  readonly requestId: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly occurredAt: string;
  readonly data: unknown;
}

/**
 * A message of the stream that did not decode as an event (a writer bug):
 * recorded as it is, so the record still has every sequence of the stream.
 */
export interface MalformedMessage {
  readonly subject: string;
  readonly error: string;
  /** The raw body, base64. */
  readonly body: string;
}

export interface AuditEntry {
  /** 1, 2, 3, ... with no gap: the entry's position in the record. */
  readonly auditSeq: number;
  /** The event's JetStream stream sequence; strictly increasing along the record. */
  readonly streamSeq: number;
  /** When the audit writer recorded it (its clock; ISO-8601 UTC). */
  readonly recordedAt: string;
  /** The event; null only for a malformed message (then `malformed` is set). */
  readonly event: AuditedEvent | null;
  readonly malformed?: MalformedMessage;
  readonly prevHash: string;
  readonly hash: string;
}

/** Where the record ends: what to anchor elsewhere to detect a rewrite or a cut tail. */
export interface AuditHead {
  readonly auditSeq: number;
  readonly streamSeq: number;
  readonly hash: string;
}

export const EMPTY_HEAD: AuditHead = { auditSeq: 0, streamSeq: 0, hash: GENESIS_HASH };

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
    const s = JSON.stringify(value);
    if (s === undefined) throw new TypeError(`canonical JSON cannot encode ${typeof value}`);
    return s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function hashOf(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(entry.prevHash + canonicalJson(entry));
}

export function auditedEvent(e: RecordedEvent): AuditedEvent {
  return {
    id: e.id,
    type: e.type,
    schemaVersion: e.schemaVersion,
    aggregateKind: e.aggregateKind,
    aggregateId: e.aggregateId,
    projectId: e.projectId,
    userId: e.userId,
    requestId: e.requestId,
    correlationId: e.correlationId,
    causationId: e.causationId,
    occurredAt: e.occurredAt,
    data: e.data,
  };
}

/** The entry that follows `head` for event `e`. Pure given `recordedAt`. */
export function nextEntry(head: AuditHead, e: RecordedEvent, recordedAt: string): AuditEntry {
  const body = {
    auditSeq: head.auditSeq + 1,
    streamSeq: e.seq,
    recordedAt,
    event: auditedEvent(e),
    prevHash: head.hash,
  };
  return { ...body, hash: hashOf(body) };
}

/** The entry that follows `head` for a stream message that is not a valid event. */
export function nextMalformedEntry(head: AuditHead, streamSeq: number, malformed: MalformedMessage, recordedAt: string): AuditEntry {
  const body = { auditSeq: head.auditSeq + 1, streamSeq, recordedAt, event: null, malformed, prevHash: head.hash };
  return { ...body, hash: hashOf(body) };
}

/** One line of the record (canonical JSON of the whole entry, newline-terminated). */
export function entryLine(entry: AuditEntry): string {
  return canonicalJson(entry) + '\n';
}

export const headOf = (e: AuditEntry): AuditHead => ({ auditSeq: e.auditSeq, streamSeq: e.streamSeq, hash: e.hash });

// ---------------------------------------------------------------------------
// Verification

export const BreakKind = {
  /** Not JSON, or not an entry's shape. */
  unparseable: 'unparseable',
  /** The entry's own hash does not match its content: it was edited. */
  edited: 'edited',
  /** auditSeq jumps forward: entries before it were deleted (or moved further down). */
  missing: 'missing',
  /** auditSeq goes back or repeats: entries were moved or duplicated. */
  reordered: 'reordered',
  /** prevHash is not the previous entry's hash (with consistent auditSeqs): entries were replaced or the chain re-hashed from here. */
  relinked: 'relinked',
  /** streamSeq does not increase. */
  streamOrder: 'stream-order',
  /** The record ends before (or differs from) the head anchored elsewhere: its tail was cut or rewritten. */
  headMismatch: 'head-mismatch',
} as const;
export type BreakKind = (typeof BreakKind)[keyof typeof BreakKind];

export interface ChainBreak {
  readonly kind: BreakKind;
  /** 1-based line number in the record. */
  readonly line: number;
  /** The auditSeq the entry at that line should have had. */
  readonly expectedAuditSeq: number;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  /** Entries checked (up to the first break). */
  readonly entries: number;
  /** The last good entry's head (EMPTY_HEAD for an empty record). */
  readonly head: AuditHead;
  readonly firstBreak: ChainBreak | null;
  /** The last line had no newline: a write cut short by a crash (never acknowledged, so nothing was lost). */
  readonly tornTail: boolean;
}

/**
 * Walks the chain line by line. Stops at the first break and names it.
 * Detects: an edited entry, deleted or inserted lines anywhere but the very
 * end, reordered lines, and a re-hashed suffix that no longer links to what
 * precedes it. It cannot detect, on its own, the removal of the last
 * entries or a rewrite of the whole chain from the first entry: pass
 * `expectedHead` (a head recorded elsewhere) to check those.
 */
export function createChainVerifier(opts: { expectedHead?: AuditHead } = {}) {
  const anchor = opts.expectedHead && opts.expectedHead.auditSeq > 0 ? opts.expectedHead : null;
  let head: AuditHead = EMPTY_HEAD;
  let line = 0;
  let firstBreak: ChainBreak | null = null;
  let tornTail = false;
  /** The hash found at the anchor's auditSeq, once reached. */
  let atAnchor: string | null = null;

  const fail = (kind: BreakKind, message: string) => {
    firstBreak = { kind, line, expectedAuditSeq: head.auditSeq + 1, message: `line ${line}: ${message}` };
  };

  return {
    /** Feeds one line (without its newline). Returns false once the chain is broken. */
    push(text: string, terminated = true): boolean {
      if (firstBreak) return false;
      line++;
      if (!terminated) {
        // A torn final write: the entry was never acknowledged.
        tornTail = true;
        return true;
      }
      const want = head.auditSeq + 1;
      let entry: AuditEntry;
      try {
        entry = parseEntry(text);
      } catch (e) {
        fail(BreakKind.unparseable, `not an audit entry (${(e as Error).message}); expected auditSeq ${want}`);
        return false;
      }
      const { hash, ...body } = entry;
      if (hashOf(body) !== hash) {
        fail(BreakKind.edited, `entry auditSeq ${entry.auditSeq} (streamSeq ${entry.streamSeq}) does not match its hash: it was edited after it was written`);
        return false;
      }
      if (entry.auditSeq > want) {
        const gap = entry.auditSeq - want;
        const which = gap === 1 ? `entry ${want} is` : `entries ${want}..${entry.auditSeq - 1} are`;
        fail(BreakKind.missing, `expected auditSeq ${want}, found ${entry.auditSeq}: ${which} missing here (deleted, or moved further down)`);
        return false;
      }
      if (entry.auditSeq < want) {
        fail(BreakKind.reordered, `expected auditSeq ${want}, found ${entry.auditSeq}: entries were moved or duplicated`);
        return false;
      }
      if (entry.prevHash !== head.hash) {
        fail(BreakKind.relinked, `entry auditSeq ${entry.auditSeq} does not link to the entry before it (prevHash ${short(entry.prevHash)}, previous hash ${short(head.hash)}): entries were replaced or re-hashed from here`);
        return false;
      }
      if (entry.streamSeq <= head.streamSeq) {
        fail(BreakKind.streamOrder, `entry auditSeq ${entry.auditSeq} has streamSeq ${entry.streamSeq}, not after ${head.streamSeq}`);
        return false;
      }
      head = headOf(entry);
      if (anchor && head.auditSeq === anchor.auditSeq) atAnchor = head.hash;
      return true;
    },

    report(): VerifyReport {
      let fb: ChainBreak | null = firstBreak;
      if (!fb && anchor) {
        if (atAnchor === null) {
          fb = {
            kind: BreakKind.headMismatch,
            line: line + 1,
            expectedAuditSeq: head.auditSeq + 1,
            message: `the record ends at auditSeq ${head.auditSeq} but the anchored head is auditSeq ${anchor.auditSeq}: its last ${anchor.auditSeq - head.auditSeq} entries were cut`,
          };
        } else if (atAnchor !== anchor.hash) {
          fb = {
            kind: BreakKind.headMismatch,
            line: anchor.auditSeq,
            expectedAuditSeq: anchor.auditSeq,
            message: `entry auditSeq ${anchor.auditSeq} has hash ${short(atAnchor)} but the anchored head says ${short(anchor.hash)}: the chain was rewritten up to there`,
          };
        }
        // A record longer than the anchor is fine: it grew since.
      }
      return { ok: fb === null, entries: head.auditSeq, head, firstBreak: fb, tornTail };
    },

    get head(): AuditHead {
      return head;
    },
  };
}

/** Verifies a whole record held as text. */
export function verifyText(text: string, opts: { expectedHead?: AuditHead } = {}): VerifyReport {
  const v = createChainVerifier(opts);
  const lines = text.split('\n');
  const last = lines.pop()!; // '' when the text ends with a newline
  for (const l of lines) if (!v.push(l)) break;
  if (last !== '') v.push(last, false);
  return v.report();
}

const short = (h: string) => (h.length > 12 ? `${h.slice(0, 12)}…` : h);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses one line into an entry, checking its shape (not its hash). */
export function parseEntry(text: string): AuditEntry {
  const raw: unknown = JSON.parse(text);
  if (!isRecord(raw)) throw new Error('not a JSON object');
  for (const k of ['auditSeq', 'streamSeq'] as const) {
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${k} is not a positive integer`);
  }
  for (const k of ['recordedAt', 'prevHash', 'hash'] as const) {
    if (typeof raw[k] !== 'string') throw new Error(`${k} is not a string`);
  }
  const ev = raw['event'];
  if (ev === null) {
    const m = raw['malformed'];
    if (!isRecord(m) || typeof m['subject'] !== 'string' || typeof m['body'] !== 'string') throw new Error('event is null but malformed is not set');
    return raw as unknown as AuditEntry;
  }
  if (!isRecord(ev)) throw new Error('event is not an object');
  for (const k of ['id', 'type', 'aggregateKind', 'aggregateId', 'projectId', 'userId', 'occurredAt'] as const) {
    if (typeof ev[k] !== 'string') throw new Error(`event.${k} is not a string`);
  }
  return raw as unknown as AuditEntry;
}
