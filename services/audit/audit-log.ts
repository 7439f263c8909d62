/**
 * The audit record on disk: one append-only JSONL file, `audit.jsonl`, in the
 * audit directory, written by exactly one process (a lock file says which).
 *
 * Contracts:
 * - Exactly once by stream sequence: `append` ignores an event whose stream
 *   sequence is at or below the last one written (a redelivery), so the
 *   record holds each sequence at most once and in increasing order.
 * - Appends are serialised in call order; each line is one write(2).
 * - `append` resolves only once the line is written and, with
 *   `fsync: 'always'` (the default), on disk: the caller acknowledges the
 *   event after that. With `fsync: 'interval'` the file is fdatasync-ed at
 *   most every `fsyncIntervalMs`; a process crash still loses nothing (the
 *   page cache survives it), an OS crash can lose the last interval, which
 *   the subscriber re-records from the stream on restart (its head is then
 *   behind the stream; see subscriber.ts).
 * - Fail-stop: a write that fails part-way poisons the log; every later
 *   append rejects with AuditLogFailedError. Reopening repairs the tail.
 * - Opening repairs a torn last line (a write cut by a crash, never
 *   acknowledged) by truncating it, and refuses (AuditLogCorruptError) to
 *   extend a record whose last entry does not verify. `verifyOnOpen` walks
 *   the whole chain first.
 */
import { constants as fsc } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordedEvent } from '../../events/index.js';
import type { Logger } from '../platform/log.js';
import {
  EMPTY_HEAD,
  entryLine,
  hashOf,
  headOf,
  nextEntry,
  nextMalformedEntry,
  parseEntry,
  type AuditEntry,
  type AuditHead,
  type MalformedMessage,
} from './chain.js';
import { AuditLogCorruptError, AuditLogFailedError, AuditLogLockedError } from './errors.js';
import { verifyFile } from './reader.js';
import { AUDIT_FILE_NAME, LOCK_FILE_NAME } from './paths.js';


export type FsyncMode = 'always' | 'interval' | 'never';

export interface OpenAuditLogOptions {
  readonly dir: string;
  readonly clock: () => Date;
  readonly log?: Logger;
  readonly fsync?: FsyncMode;
  /** For `fsync: 'interval'` (default 200 ms). */
  readonly fsyncIntervalMs?: number;
  /** Walk and verify the whole chain before writing (O(record)). */
  readonly verifyOnOpen?: boolean;
}

export interface AuditLog {
  /** The last entry written. */
  readonly head: AuditHead;
  /** The last entry itself (null for an empty record). */
  readonly last: AuditEntry | null;
  readonly path: string;
  /** Records an event; null when its sequence is already recorded. */
  append(e: RecordedEvent): Promise<AuditEntry | null>;
  /**
   * Records many events (in stream order) with one write and one sync: for
   * catching up. Events at or below the head are skipped. Returns how many
   * were written.
   */
  appendMany(events: readonly RecordedEvent[]): Promise<number>;
  /** Records a stream message that is not a valid event; null when already recorded. */
  appendMalformed(streamSeq: number, m: MalformedMessage): Promise<AuditEntry | null>;
  /** Syncs, releases the lock and closes the file. */
  close(): Promise<void>;
}

export async function openAuditLog(opts: OpenAuditLogOptions): Promise<AuditLog> {
  const fsyncMode = opts.fsync ?? 'always';
  await mkdir(opts.dir, { recursive: true });
  const path = join(opts.dir, AUDIT_FILE_NAME);
  const lockPath = join(opts.dir, LOCK_FILE_NAME);
  await takeLock(lockPath, opts.log);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_APPEND, 0o640);
    if (opts.verifyOnOpen) {
      const r = await verifyFile(path);
      if (!r.ok) throw new AuditLogCorruptError(`audit record ${path} does not verify: ${r.firstBreak?.message}`);
    }
    const last = await recoverTail(fh, path, opts.log);
    if (fsyncMode !== 'never') await syncDir(opts.dir);
    return createLog(fh, path, lockPath, last, opts, fsyncMode);
  } catch (e) {
    await fh?.close().catch(() => {});
    await rm(lockPath, { force: true });
    throw e;
  }
}

function createLog(fh: FileHandle, path: string, lockPath: string, start: AuditEntry | null, opts: OpenAuditLogOptions, mode: FsyncMode): AuditLog {
  let head = start ? headOf(start) : EMPTY_HEAD;
  let last = start;
  let failed: Error | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  // Group commit: a sync requested while one runs shares the next one.
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const runSync = (): Promise<void> => {
    running = fh.datasync().finally(() => {
      running = null;
    });
    return running;
  };
  const requestSync = (): Promise<void> => {
    if (next) return next;
    if (!running) return runSync();
    next = running.then(
      () => {
        next = null;
        return runSync();
      },
      () => {
        next = null;
        return runSync();
      },
    );
    return next;
  };

  let dirty = false;
  const timer =
    mode === 'interval'
      ? setInterval(() => {
          if (!dirty || failed) return;
          dirty = false;
          requestSync().catch((err: unknown) => {
            failed ??= new AuditLogFailedError(`fdatasync of ${path} failed`, { cause: err });
            opts.log?.error({ err }, 'audit fsync failed');
          });
        }, opts.fsyncIntervalMs ?? 200)
      : undefined;
  timer?.unref();

  async function write(entry: AuditEntry): Promise<void> {
    await writeLines(Buffer.from(entryLine(entry), 'utf8'));
    head = headOf(entry);
    last = entry;
  }

  async function writeLines(line: Buffer): Promise<void> {
    let written = 0;
    try {
      ({ bytesWritten: written } = await fh.write(line, 0, line.length));
    } catch (err) {
      failed = new AuditLogFailedError(`write to ${path} failed`, { cause: err });
      throw failed;
    }
    if (written !== line.length) {
      failed = new AuditLogFailedError(`short write to ${path}: ${written} of ${line.length} bytes`);
      throw failed;
    }
  }

  function enqueue<T>(work: () => Promise<T>): Promise<T> {
    const p = queue.then(() => {
      if (closed) throw new AuditLogFailedError(`audit record ${path} is closed`);
      if (failed) throw failed;
      return work();
    });
    queue = p.catch(() => {});
    return p;
  }

  async function durable(entry: AuditEntry | null): Promise<AuditEntry | null> {
    if (entry === null) return null;
    if (mode === 'always') {
      try {
        await requestSync();
      } catch (err) {
        failed ??= new AuditLogFailedError(`fdatasync of ${path} failed`, { cause: err });
        throw failed;
      }
    } else if (mode === 'interval') {
      dirty = true;
    }
    return entry;
  }

  return {
    get head() {
      return head;
    },
    get last() {
      return last;
    },
    path,
    async append(e) {
      // The write is queued; the sync is awaited outside the queue, so the
      // next write need not wait for this one's sync (group commit).
      const entry = await enqueue(async () => {
        if (e.seq <= head.streamSeq) return null;
        const entry = nextEntry(head, e, opts.clock().toISOString());
        await write(entry);
        return entry;
      });
      return durable(entry);
    },
    async appendMany(events) {
      const done = await enqueue(async () => {
        let h = head;
        const lines: string[] = [];
        let lastEntry: AuditEntry | null = null;
        const recordedAt = opts.clock().toISOString();
        for (const e of events) {
          if (e.seq <= h.streamSeq) continue;
          lastEntry = nextEntry(h, e, recordedAt);
          lines.push(entryLine(lastEntry));
          h = headOf(lastEntry);
        }
        if (!lastEntry) return null;
        await writeLines(Buffer.from(lines.join(''), 'utf8'));
        head = h;
        last = lastEntry;
        return { entry: lastEntry, count: lines.length };
      });
      await durable(done?.entry ?? null);
      return done?.count ?? 0;
    },
    async appendMalformed(streamSeq, m) {
      const entry = await enqueue(async () => {
        if (streamSeq <= head.streamSeq) return null;
        const entry = nextMalformedEntry(head, streamSeq, m, opts.clock().toISOString());
        await write(entry);
        return entry;
      });
      return durable(entry);
    },
    async close() {
      if (closed) return;
      await queue;
      closed = true;
      clearInterval(timer);
      try {
        if (mode !== 'never' && !failed) await fh.datasync();
      } finally {
        await fh.close();
        await rm(lockPath, { force: true });
      }
    },
  };
}

/**
 * Finds the last complete entry, truncating a torn final line. Reads the
 * file backwards in chunks, so opening a long record costs only its tail.
 */
async function recoverTail(fh: FileHandle, path: string, log?: Logger): Promise<AuditEntry | null> {
  const { size } = await fh.stat();
  if (size === 0) return null;
  let end = size;
  // Is the last byte a newline? If not, the last line is torn.
  const last = Buffer.alloc(1);
  await fh.read(last, 0, 1, size - 1);
  if (last[0] !== 0x0a) {
    const cut = await lastNewlineBefore(fh, size);
    end = cut === -1 ? 0 : cut + 1;
    log?.warn({ path, from: size, to: end }, 'audit record ends in a torn line (a write cut by a crash); truncating it');
    await fh.truncate(end);
    await fh.datasync();
    if (end === 0) return null;
  }
  const prev = await lastNewlineBefore(fh, end - 1);
  const text = await readRange(fh, prev + 1, end - 1);
  let entry: AuditEntry;
  try {
    entry = parseEntry(text);
  } catch (cause) {
    throw new AuditLogCorruptError(`the last entry of ${path} is not an audit entry; refusing to extend it (run: zunctl audit verify)`, { cause });
  }
  const { hash, ...body } = entry;
  if (hashOf(body) !== hash) {
    throw new AuditLogCorruptError(`the last entry of ${path} (auditSeq ${entry.auditSeq}) does not match its hash; refusing to extend it (run: zunctl audit verify)`);
  }
  return entry;
}

/** Offset of the last '\n' strictly before `before`, or -1. */
async function lastNewlineBefore(fh: FileHandle, before: number): Promise<number> {
  const CHUNK = 64 * 1024;
  const buf = Buffer.alloc(CHUNK);
  let pos = before;
  while (pos > 0) {
    const start = Math.max(0, pos - CHUNK);
    const len = pos - start;
    await fh.read(buf, 0, len, start);
    const i = buf.subarray(0, len).lastIndexOf(0x0a);
    if (i !== -1) return start + i;
    pos = start;
  }
  return -1;
}

async function readRange(fh: FileHandle, from: number, to: number): Promise<string> {
  const buf = Buffer.alloc(to - from);
  await fh.read(buf, 0, buf.length, from);
  return buf.toString('utf8');
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * One writer per record. The lock file holds the writer's pid; a lock whose
 * pid is not alive (a crashed writer) is taken over.
 */
async function takeLock(lockPath: string, log?: Logger): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new AuditLogLockedError(lockPath, holder);
    }
    log?.warn({ lockPath, holder }, 'taking over a stale audit lock');
    await rm(lockPath, { force: true });
  }
  throw new Error(`cannot take the audit lock ${lockPath}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
