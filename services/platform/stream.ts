/**
 * The event stream's configuration, in one place.
 *
 * History is never rewritten: file storage, delete and purge denied, no
 * limits (no max age, messages or bytes, so discard-old never fires). Direct
 * get is on: it answers "last event of this aggregate" in ~0.15 ms.
 *
 * ensureStream is idempotent and safe to race: any service may call it at
 * start. An existing stream is updated where it differs and the server allows
 * it (subjects, replicas, duplicate window, the deny flags); a difference the
 * server cannot change (storage) is an error, not silently accepted.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { ALL_EVENTS_SUBJECT, STREAM_NAME } from '../../events/index.js';

export interface EnsureStreamOptions {
  readonly name?: string;
  readonly subjects?: readonly string[];
  /** 1 on one machine, 3 in a cluster. */
  readonly replicas?: number;
  /** How long a msgID is remembered for de-duplication (default 2 min). */
  readonly duplicateWindowMs?: number;
}

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const nanos = (ms: number) => ms * 1_000_000;

export function eventStreamConfig(opts: EnsureStreamOptions = {}): Partial<StreamConfig> & { name: string } {
  return {
    name: opts.name ?? STREAM_NAME,
    subjects: [...(opts.subjects ?? [ALL_EVENTS_SUBJECT])],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: opts.replicas ?? 1,
    discard: DiscardPolicy.Old,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    max_msg_size: -1,
    max_consumers: -1,
    duplicate_window: nanos(opts.duplicateWindowMs ?? 120_000),
    deny_delete: true,
    deny_purge: true,
    allow_direct: true,
    allow_rollup_hdrs: false,
  };
}

export async function ensureStream(jsm: JetStreamManager, opts: EnsureStreamOptions = {}): Promise<StreamInfo> {
  const want = eventStreamConfig(opts);
  for (let attempt = 0; ; attempt++) {
    let info: StreamInfo | undefined;
    try {
      info = await jsm.streams.info(want.name);
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === STREAM_NOT_FOUND)) throw e;
    }
    if (!info) {
      try {
        return await jsm.streams.add(want);
      } catch (e) {
        // Someone else created it between our info and add: reconcile with theirs.
        if (e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE && attempt < 3) continue;
        throw e;
      }
    }
    const have = info.config;
    if (have.storage !== StorageType.File) {
      throw new Error(`stream ${want.name} uses ${have.storage} storage; the event log needs file storage`);
    }
    const differs = (Object.keys(want) as (keyof StreamConfig)[]).some((k) => !sameValue(have[k], want[k]));
    if (!differs) return info;
    return await jsm.streams.update(want.name, { ...have, ...want });
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}
