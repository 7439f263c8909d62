/**
 * Event logs as files: `zunctl export` and `zunctl import`.
 *
 * Format: JSON Lines, one recorded envelope per line (the stored event plus
 * its stream `seq`), in stream order. The same file replays offline
 * (`parseExport`), in tests (test/histories/), or into another stream.
 *
 * Import republishes in file order into the event stream, each event on its
 * aggregate's subject with its event id as msgID, each publish fenced on the
 * stream's last sequence (`expect.lastSequence`), so the imported order is
 * exactly the file's and a concurrent writer makes the import fail rather
 * than interleave. Sequences are renumbered by the stream: they equal the
 * original ones only for a complete export imported into an empty stream.
 * A non-empty stream is refused unless `force`.
 */
import type { Writable } from 'node:stream';
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAM_NAME, aggregateSubject, toRecordedEvent, type RecordedEvent } from '../../events/index.js';
import { readBatches, type ReadProgress } from '../platform/jetstream-eventstore.js';
import { ensureStream } from '../platform/stream.js';
import { CommandError } from './args.js';

export interface ExportResult {
  readonly events: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
}

/** Streams events (optionally filtered) to `out` as JSON Lines. */
export async function exportEvents(opts: {
  nc: NatsConnection;
  out: Writable;
  filter?: string;
  fromSeq?: number;
  streamName?: string;
  onProgress?: (p: ReadProgress & { total: number }) => void;
}): Promise<ExportResult> {
  const jsm = await jetstreamManager(opts.nc, { checkAPI: false });
  const total = (await streamInfo(jsm, opts.streamName ?? STREAM_NAME)).state.last_seq;
  let events = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  for await (const batch of readBatches({
    nc: opts.nc,
    ...(opts.streamName ? { streamName: opts.streamName } : {}),
    ...(opts.filter ? { filter: opts.filter } : {}),
    ...(opts.fromSeq ? { fromSeq: opts.fromSeq } : {}),
    onProgress: (p) => opts.onProgress?.({ ...p, total }),
  })) {
    let chunk = '';
    for (const e of batch) chunk += JSON.stringify(e) + '\n';
    if (!opts.out.write(chunk)) await new Promise<void>((r) => opts.out.once('drain', () => r()));
    events += batch.length;
    firstSeq ??= batch[0]?.seq ?? null;
    lastSeq = batch.at(-1)?.seq ?? lastSeq;
  }
  return { events, firstSeq, lastSeq };
}

/**
 * Parses one export line: valid JSON, a positive integer `seq`, and an
 * envelope the codec accepts (upcast to the current schema).
 */
export function parseExportLine(text: string, line: number): { raw: Record<string, unknown>; event: RecordedEvent } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CommandError('BAD_EXPORT', `line ${line}: not JSON (${(e as Error).message})`);
  }
  const seq = (raw as { seq?: unknown } | null)?.seq;
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) throw new CommandError('BAD_EXPORT', `line ${line}: no positive integer "seq"`);
  try {
    return { raw: raw as Record<string, unknown>, event: toRecordedEvent(raw, seq) };
  } catch (e) {
    throw new CommandError('BAD_EXPORT', `line ${line}: ${(e as Error).message}`);
  }
}

/** Parses a whole export: lines in increasing seq order, unique event ids. */
export function parseExport(text: string): RecordedEvent[] {
  return parseExportDetailed(text).map((l) => l.event);
}

export interface ExportLine {
  readonly line: number;
  readonly raw: Record<string, unknown>;
  readonly event: RecordedEvent;
}

export function parseExportDetailed(text: string): ExportLine[] {
  const out: ExportLine[] = [];
  const ids = new Map<string, number>();
  let prev = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === '') continue;
    const { raw, event } = parseExportLine(t, i + 1);
    if (event.seq <= prev) throw new CommandError('BAD_EXPORT', `line ${i + 1}: seq ${event.seq} is not after ${prev}: the file is not in stream order`);
    const dup = ids.get(event.id);
    if (dup !== undefined) throw new CommandError('BAD_EXPORT', `line ${i + 1}: event id ${event.id} already appears on line ${dup}`);
    ids.set(event.id, i + 1);
    prev = event.seq;
    out.push({ line: i + 1, raw, event });
  }
  return out;
}

export interface ImportResult {
  readonly events: number;
  /** New stream sequences of the first and last imported event. */
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly stream: string;
}

export async function importEvents(opts: {
  nc: NatsConnection;
  lines: readonly ExportLine[];
  force?: boolean;
  streamName?: string;
  /** Publishes in flight (default 256). */
  window?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<ImportResult> {
  const stream = opts.streamName ?? STREAM_NAME;
  const jsm = await jetstreamManager(opts.nc, { checkAPI: false });
  const info = await ensureStream(jsm, { ...(opts.streamName ? { name: opts.streamName } : {}) });
  if (info.state.messages > 0 && !opts.force) {
    throw new CommandError(
      'STREAM_NOT_EMPTY',
      `stream ${stream} already holds ${info.state.messages} events (last seq ${info.state.last_seq}); import into a fresh stream, or pass --force to append after them`,
    );
  }
  const base = info.state.last_seq;
  const js = jetstream(opts.nc);
  const window = opts.window ?? 256;
  const total = opts.lines.length;
  let failure: CommandError | undefined;
  let done = 0;
  const inflight = new Set<Promise<void>>();

  for (let i = 0; i < total && !failure; i++) {
    const { line, raw, event } = opts.lines[i]!;
    const { seq: _oldSeq, ...body } = raw;
    const expected = base + i;
    const p = js
      .publish(aggregateSubject(event.aggregateKind, event.aggregateId), new TextEncoder().encode(JSON.stringify(body)), {
        msgID: event.id,
        expect: { lastSequence: expected, streamName: stream },
      })
      .then(
        (ack) => {
          if (ack.duplicate) {
            failure ??= new CommandError('IMPORT_DUPLICATE', `line ${line}: event ${event.id} is already in stream ${stream} (seq ${ack.seq}); nothing after it was imported`);
          } else if (ack.seq !== expected + 1) {
            failure ??= new CommandError('IMPORT_ORDER', `line ${line}: stored at seq ${ack.seq}, expected ${expected + 1}`);
          } else {
            done++;
            opts.onProgress?.(done, total);
          }
        },
        (err: unknown) => {
          const wrongSeq = err instanceof JetStreamApiError && err.code === 10071;
          failure ??= new CommandError(
            'IMPORT_FAILED',
            wrongSeq
              ? `line ${line}: stream ${stream} changed during the import (another writer?): event ${event.id} was not appended after seq ${expected}`
              : `line ${line}: publishing event ${event.id} failed: ${(err as Error).message}`,
            { cause: err },
          );
        },
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (failure) {
    (failure as CommandError & { imported?: number }).imported = done;
    throw failure;
  }
  return { events: done, firstSeq: total ? base + 1 : null, lastSeq: total ? base + total : null, stream };
}

async function streamInfo(jsm: JetStreamManager, stream: string) {
  try {
    return await jsm.streams.info(stream);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10059) throw new CommandError('NO_STREAM', `stream ${stream} does not exist`);
    throw e;
  }
}
