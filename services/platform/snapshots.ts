/**
 * Aggregate snapshots in a NATS KV bucket: a cache of folded state, never a
 * source of truth. A snapshot says "this is the state after folding every
 * event of the aggregate up to stream sequence `seq`", written by whoever
 * loaded the aggregate. Losing the bucket loses nothing but speed.
 *
 * Keys: `<kind>.<encodeToken(id)>`; history 1. Values: JSON
 * `{ v, seq, state }`, where `v` is the snapshot version the writer's fold
 * produces; a reader that folds differently passes another version and
 * ignores the old snapshots (see loadAggregate).
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeToken } from '../../events/index.js';

export const SNAPSHOT_BUCKET = 'zun_snapshots';

export interface Snapshot<T> {
  readonly seq: number;
  readonly state: T;
  readonly version: number;
}

export interface SnapshotStore {
  /** The stored snapshot, or null when there is none. Throws when the bucket cannot be read. */
  get<T>(kind: string, id: string): Promise<Snapshot<T> | null>;
  put<T>(kind: string, id: string, seq: number, state: T, version?: number): Promise<void>;
}

export const snapshotKey = (kind: string, id: string) => `${kind}.${encodeToken(id)}`;

export interface SnapshotStoreOptions {
  readonly nc: NatsConnection;
  readonly bucket?: string;
  readonly replicas?: number;
}

export function createSnapshotStore(opts: SnapshotStoreOptions): SnapshotStore {
  const bucket = opts.bucket ?? SNAPSHOT_BUCKET;
  let kvP: Promise<KV> | undefined;
  // Opened (created if missing) on first use; a failed open is retried on the next call.
  const kv = () =>
    (kvP ??= new Kvm(opts.nc).create(bucket, { history: 1, replicas: opts.replicas ?? 1 }).catch((e: unknown) => {
      kvP = undefined;
      throw e;
    }));

  return {
    async get<T>(kind: string, id: string): Promise<Snapshot<T> | null> {
      const entry = await (await kv()).get(snapshotKey(kind, id));
      if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
      return parseSnapshot<T>(entry.string());
    },
    async put<T>(kind: string, id: string, seq: number, state: T, version = 1): Promise<void> {
      await (await kv()).put(snapshotKey(kind, id), JSON.stringify({ v: version, seq, state }));
    },
  };
}

/** The in-memory twin: values are JSON round-tripped like the real ones. */
export function createMemorySnapshotStore(): SnapshotStore & { readonly size: number } {
  const m = new Map<string, string>();
  return {
    get size() {
      return m.size;
    },
    async get<T>(kind: string, id: string) {
      const s = m.get(snapshotKey(kind, id));
      return s === undefined ? null : parseSnapshot<T>(s);
    },
    async put<T>(kind: string, id: string, seq: number, state: T, version = 1) {
      m.set(snapshotKey(kind, id), JSON.stringify({ v: version, seq, state }));
    },
  };
}

function parseSnapshot<T>(json: string): Snapshot<T> {
  const o = JSON.parse(json) as { v?: unknown; seq?: unknown; state?: unknown };
  if (typeof o.seq !== 'number' || !Number.isInteger(o.seq) || o.seq < 0 || !('state' in o)) {
    throw new Error('malformed snapshot');
  }
  return { seq: o.seq, state: o.state as T, version: typeof o.v === 'number' ? o.v : 0 };
}
