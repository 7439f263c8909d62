/**
 * The gateway's read side: what it lists and finds by name.
 *
 * Ports: ContainerReadModel and CapsuleReadModel. Two implementations each:
 * - createKvReadModel / createKvCapsuleReadModel: the `zun_containers` /
 *   `zun_capsules` NATS KV bucket that the projector fills (values are the
 *   folded states as JSON, deleted aggregates have no key).
 *   A local cache is kept by one KV watch (an informer, as Kubernetes clients
 *   keep one): lists and name lookups are served from memory, `getContainer`
 *   reads the key directly. The gateway never creates the bucket (the
 *   projector owns its configuration); until it exists the cache is retried.
 * - createFoldingReadModel / createFoldingCapsuleReadModel: fold the events
 *   of an event store that can be read in stream order (the in-memory store
 *   in unit tests), incrementally (fold-index.ts).
 *
 * Both are eventually consistent with the log. The gateway therefore shows
 * and acts on containers and capsules by uuid from the event store itself,
 * and uses the read models only for lists, name lookups and markers.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeToken, type CapsuleEvent, type ContainerEvent, type RecordedEvent } from '../../events/index.js';
import { evolveCapsule, initialCapsuleState, type CapsuleState } from '../../domain/capsule.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import type { Logger } from '../platform/log.js';
import { CAPSULES_BUCKET, CONTAINERS_BUCKET, readModelKey } from '../platform/readmodels.js';
import { ServiceUnavailable } from './errors.js';
import { createFoldIndex, type ReadEventsFrom } from './fold-index.js';

export interface ContainerFilter {
  /** Only this project's containers; all projects when absent. */
  readonly projectId?: string;
}

export interface ContainerReadModel {
  listContainers(filter: ContainerFilter): Promise<ContainerState[]>;
  getContainer(uuid: string): Promise<ContainerState | null>;
  /** Every live container with this name, in any project (the caller scopes). */
  findByName(name: string): Promise<ContainerState[]>;
}

const live = (s: ContainerState) => s.status !== null && s.status !== 'Deleted';
const inScope = (f: ContainerFilter) => (s: ContainerState) => f.projectId === undefined || s.projectId === f.projectId;

// ---- NATS KV ---------------------------------------------------------------------------

export interface KvReadModel extends ContainerReadModel {
  /** Resolves once the first full snapshot of the bucket is in the cache. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface KvReadModelOptions {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly bucket?: string;
  /** Wait between attempts to open and watch the bucket (default 1 s). */
  readonly retryMs?: number;
  /** How long a query waits for the first snapshot before answering 503 (default 3 s). */
  readonly readyTimeoutMs?: number;
}

/** What a read model bucket holds per key: a folded aggregate state. */
interface Folded {
  readonly uuid: string;
  readonly seq: number;
}

const decoder = new TextDecoder();

function decodeState<T extends Folded>(value: Uint8Array): T | null {
  try {
    const s = JSON.parse(decoder.decode(value)) as T;
    return typeof s === 'object' && s !== null && typeof s.uuid === 'string' ? s : null;
  } catch {
    return null;
  }
}

/**
 * A local cache of one read model bucket, kept by one KV watch (an
 * informer): `snapshot` answers from memory once the first full snapshot is
 * in (503 after `readyTimeoutMs` before that), `get` reads one key directly.
 */
interface KvInformer<T extends Folded> {
  ready(): Promise<void>;
  snapshot(): Promise<ReadonlyMap<string, T>>;
  /** The key's value now (from the bucket; from the cache if the bucket cannot be read); null when absent. */
  get(uuid: string): Promise<T | null>;
  close(): Promise<void>;
}

function createKvInformer<T extends Folded>(opts: KvReadModelOptions & { readonly bucket: string }): KvInformer<T> {
  const { nc, bucket } = opts;
  const retryMs = opts.retryMs ?? 1_000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 3_000;
  const log = opts.log.child({ component: 'kv-read-model', bucket });

  let cache = new Map<string, T>();
  let kv: KV | null = null;
  let watcher: Awaited<ReturnType<KV['watch']>> | null = null;
  let closed = false;
  let wake: (() => void) | null = null;
  let markReady!: () => void;
  const readyP = new Promise<void>((r) => (markReady = r));
  let isReady = false;

  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });

  function applyEntry(map: Map<string, T>, e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      try {
        map.delete(decodeToken(e.key));
      } catch {
        // not a key this gateway could have written
      }
      return;
    }
    const s = decodeState<T>(e.value);
    if (!s) {
      log.warn({ key: e.key, revision: e.revision }, 'undecodable read model value ignored');
      return;
    }
    const prev = map.get(s.uuid);
    if (prev && prev.seq > s.seq) return; // never step back
    map.set(s.uuid, s);
  }

  // One watch at a time; on any failure (bucket absent, server restart) start again with a fresh snapshot.
  let failures = 0;
  const loop = (async () => {
    while (!closed) {
      try {
        const handle = await new Kvm(nc).open(bucket);
        const status = await handle.status(); // throws while the bucket does not exist
        kv = handle;
        const fresh = new Map<string, T>();
        let initialized = false;
        const publish = () => {
          initialized = true;
          cache = fresh;
          if (!isReady) {
            isReady = true;
            markReady();
          }
        };
        if (status.values === 0) publish();
        const w = await handle.watch();
        watcher = w;
        // A snapshot whose messages were purged (the projector's sweep of old delete markers) between
        // the status and the watch would never be seen to end: start again with a fresh one.
        const stuck = setTimeout(() => {
          if (!initialized) {
            log.warn('read model snapshot did not complete within 10 s; watching again');
            w.stop();
          }
        }, 10_000);
        stuck.unref?.();
        if (failures > 0) log.info({ after: failures }, 'watching the read model bucket');
        failures = 0;
        for await (const e of w) {
          applyEntry(fresh, e);
          // The snapshot is read when nothing is pending (not by `isUpdate`, which counts on the
          // message count when the watch began: the projector's sweep may purge some meanwhile).
          if (!initialized && (e.isUpdate || e.delta === 0)) {
            publish();
            clearTimeout(stuck);
          }
        }
        clearTimeout(stuck);
        watcher = null;
      } catch (err) {
        if (closed) break;
        // Once at warn, then quietly: the bucket is often just not created yet.
        if (failures++ === 0) log.warn({ err }, 'cannot watch the read model bucket; retrying');
        else log.debug({ err: String(err), failures }, 'read model bucket still unavailable');
      }
      if (!closed) await sleep(retryMs);
    }
  })();

  async function snapshot(): Promise<ReadonlyMap<string, T>> {
    if (isReady) return cache;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), readyTimeoutMs)));
    const r = await Promise.race([readyP.then(() => 'ready' as const), timeout]);
    clearTimeout(timer);
    if (r === 'timeout') throw new ServiceUnavailable(`The read model ${bucket} is not available yet.`);
    return cache;
  }

  return {
    ready: () => readyP,
    snapshot,
    async get(uuid) {
      if (kv) {
        try {
          const e = await kv.get(readModelKey(uuid));
          if (!e || e.operation !== 'PUT') return null;
          return decodeState<T>(e.value);
        } catch (err) {
          log.warn({ err, uuid }, 'read model get failed; answering from the cache');
        }
      }
      return (await snapshot()).get(uuid) ?? null;
    },
    async close() {
      closed = true;
      watcher?.stop();
      wake?.();
      await loop;
    },
  };
}

/** `zun_containers`, watched: lists and name lookups from memory, `getContainer` from the key. */
export function createKvReadModel(opts: KvReadModelOptions): KvReadModel {
  const informer = createKvInformer<ContainerState>({ ...opts, bucket: opts.bucket ?? CONTAINERS_BUCKET });
  return {
    ready: informer.ready,
    async listContainers(filter) {
      return [...(await informer.snapshot()).values()].filter(live).filter(inScope(filter));
    },
    async findByName(name) {
      return [...(await informer.snapshot()).values()].filter((s) => live(s) && s.spec?.name === name);
    },
    async getContainer(uuid) {
      const s = await informer.get(uuid);
      return s && live(s) ? s : null;
    },
    close: informer.close,
  };
}

// ---- capsules ----------------------------------------------------------------------------

/** The capsules the gateway lists and finds by name (a capsule by uuid is loaded from the log). */
export interface CapsuleReadModel {
  /** Every live capsule, in every project (the caller scopes). */
  listCapsules(): Promise<CapsuleState[]>;
}

const capsuleLive = (s: CapsuleState) => s.status !== null && s.status !== 'Deleted';

export interface KvCapsuleReadModel extends CapsuleReadModel {
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** `zun_capsules` (filled by the projector like `zun_containers`), watched the same way. */
export function createKvCapsuleReadModel(opts: KvReadModelOptions): KvCapsuleReadModel {
  const informer = createKvInformer<CapsuleState>({ ...opts, bucket: opts.bucket ?? CAPSULES_BUCKET });
  return {
    ready: informer.ready,
    async listCapsules() {
      return [...(await informer.snapshot()).values()].filter(capsuleLive);
    },
    close: informer.close,
  };
}

/** The capsules of an event store read in stream order, folded incrementally on each query (fold-index.ts): exact, for tests. */
export function createFoldingCapsuleReadModel(readEvents: ReadEventsFrom): CapsuleReadModel {
  const index = createFoldIndex<CapsuleState>({
    readEvents,
    kind: 'capsule',
    initial: initialCapsuleState,
    evolve: (s, e) => evolveCapsule(s, e as RecordedEvent<CapsuleEvent>),
  });
  return {
    async listCapsules() {
      return [...(await index.states()).values()].filter(capsuleLive);
    },
  };
}

// ---- folding an event store (tests) ------------------------------------------------------

export interface ReadableStore {
  readAll(opts?: { filter?: string; fromSeq?: number }): AsyncIterable<RecordedEvent>;
}

/** The containers of an event store read in stream order, folded incrementally on each query (fold-index.ts): exact, for unit tests. */
export function createFoldingReadModel(store: ReadableStore): ContainerReadModel {
  const index = createFoldIndex<ContainerState>({
    readEvents: (o) => store.readAll(o),
    kind: 'container',
    initial: initialContainerState,
    evolve: (s, e) => evolveContainer(s, e as RecordedEvent<ContainerEvent>),
  });
  const all = async (): Promise<ContainerState[]> => [...(await index.states()).values()].filter(live);
  return {
    async listContainers(filter) {
      return (await all()).filter(inScope(filter));
    },
    async getContainer(uuid) {
      return (await all()).find((s) => s.uuid === uuid) ?? null;
    },
    async findByName(name) {
      return (await all()).filter((s) => s.spec?.name === name);
    },
  };
}
