/**
 * Sweeping old delete markers out of the read-model buckets.
 *
 * A KV delete leaves a marker on the key's subject, and NATS keeps it for
 * ever. Every reader that takes a bucket's snapshot reads the markers too:
 * the host actor's resync lists its slice of `zun_desired` every few seconds
 * (`keys()` skips markers only after receiving them), and the gateway reads
 * all of `zun_containers` when it starts. Without a sweep, each container
 * ever deleted would cost every later resync and start a little more.
 *
 * A marker is needed only while a live watcher may still have to see it; a
 * reader that takes a fresh snapshot gets the same answer (no key) without
 * it. So markers older than a grace period are removed: a subject purge up to
 * and including the marker's own sequence, which leaves a value written to
 * the key after the marker untouched.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';

export interface SweepResult {
  readonly bucket: string;
  /** Delete markers seen. */
  readonly markers: number;
  /** Of those, removed (older than the grace period). */
  readonly removed: number;
}

/**
 * Removes the delete and purge markers of `bucket` older than `olderThanMs`
 * (by the marker's own time, against `now`). Safe to run at any time and from
 * several processes at once: a purge that finds nothing removes nothing.
 */
export async function sweepDeleteMarkers(
  nc: NatsConnection,
  bucket: string,
  olderThanMs: number,
  opts: {
    now?: () => number;
    /** Runs between reading the bucket and purging (tests: a write racing the sweep). */
    afterRead?: () => Promise<void>;
  } = {},
): Promise<SweepResult> {
  const now = opts.now ?? Date.now;
  const kv = await new Kvm(nc).open(bucket);
  const status = await kv.status();
  if (status.values === 0) return { bucket, markers: 0, removed: 0 };
  const old: { key: string; revision: number }[] = [];
  let markers = 0;
  // The bucket's snapshot, headers only (no values): the last entry of every key, markers included.
  const w = await kv.watch({ key: '>', headers_only: true });
  const limit = now() - olderThanMs;
  // Should the bucket empty between the status and the watch (another sweeper), nothing would come: give up then.
  const giveUp = setTimeout(() => w.stop(), 60_000);
  try {
    for await (const e of w) {
      if (e.operation === 'DEL' || e.operation === 'PURGE') {
        markers++;
        if (e.created.getTime() <= limit) old.push({ key: e.key, revision: e.revision });
      }
      // Nothing pending: the snapshot is read (`isUpdate` counts on the message count when the
      // watch began, which a purge by another sweeper meanwhile would leave unreached).
      if (e.delta === 0) break;
    }
  } finally {
    clearTimeout(giveUp);
    w.stop();
  }
  await opts.afterRead?.();
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${bucket}`;
  let removed = 0;
  // A few at a time: a sweep is background work.
  for (let i = 0; i < old.length; i += 16) {
    const done = await Promise.all(
      old.slice(i, i + 16).map((m) => jsm.streams.purge(stream, { filter: `$KV.${bucket}.${m.key}`, seq: m.revision + 1 })),
    );
    removed += done.reduce((n, r) => n + r.purged, 0);
  }
  return { bucket, markers, removed };
}
