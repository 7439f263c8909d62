/**
 * The gateway's read side: what it lists and finds by name.
 *
 * Port: ContainerReadModel. Two implementations:
 * - createKvReadModel: the `zun_containers` NATS KV bucket that the projector
 *   fills (values are ContainerState JSON, deleted containers have no key).
 *   A local cache is kept by one KV watch (an informer, as Kubernetes clients
 *   keep one): lists and name lookups are served from memory, `getContainer`
 *   reads the key directly. The gateway never creates the bucket (the
 *   projector owns its configuration); until it exists the cache is retried.
 * - createFoldingReadModel: folds the container events of an event store
 *   that can be read in stream order (the in-memory store in unit tests).
 *
 * Both are eventually consistent with the log. The gateway therefore shows
 * and acts on containers by uuid from the event store itself, and uses the
 * read model only for lists, name lookups and markers.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeToken, kindSubject, type ContainerEvent, type RecordedEvent } from '../../events/index.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import type { Logger } from '../platform/log.js';
import { CONTAINERS_BUCKET, readModelKey } from '../platform/readmodels.js';
import { ServiceUnavailable } from './errors.js';

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

const decoder = new TextDecoder();

function decodeState(value: Uint8Array): ContainerState | null {
  try {
    const s = JSON.parse(decoder.decode(value)) as ContainerState;
    return typeof s === 'object' && s !== null && typeof s.uuid === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function createKvReadModel(opts: KvReadModelOptions): KvReadModel {
  const { nc } = opts;
  const bucket = opts.bucket ?? CONTAINERS_BUCKET;
  const retryMs = opts.retryMs ?? 1_000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 3_000;
  const log = opts.log.child({ component: 'kv-read-model', bucket });

  let cache = new Map<string, ContainerState>();
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

  function applyEntry(map: Map<string, ContainerState>, e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      try {
        map.delete(decodeToken(e.key));
      } catch {
        // not a key this gateway could have written
      }
      return;
    }
    const s = decodeState(e.value);
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
        const fresh = new Map<string, ContainerState>();
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
        if (failures > 0) log.info({ after: failures }, 'watching the read model bucket');
        failures = 0;
        for await (const e of w) {
          applyEntry(fresh, e);
          if (!initialized && e.isUpdate) publish();
        }
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

  async function snapshot(): Promise<Map<string, ContainerState>> {
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
    async listContainers(filter) {
      return [...(await snapshot()).values()].filter(live).filter(inScope(filter));
    },
    async findByName(name) {
      return [...(await snapshot()).values()].filter((s) => live(s) && s.spec?.name === name);
    },
    async getContainer(uuid) {
      if (kv) {
        try {
          const e = await kv.get(readModelKey(uuid));
          if (!e || e.operation !== 'PUT') return null;
          const s = decodeState(e.value);
          return s && live(s) ? s : null;
        } catch (err) {
          log.warn({ err, uuid }, 'read model get failed; answering from the cache');
        }
      }
      const s = (await snapshot()).get(uuid);
      return s && live(s) ? s : null;
    },
    async close() {
      closed = true;
      watcher?.stop();
      wake?.();
      await loop;
    },
  };
}

// ---- folding an event store (tests) ------------------------------------------------------

export interface ReadableStore {
  readAll(opts?: { filter?: string; fromSeq?: number }): AsyncIterable<RecordedEvent>;
}

/** Folds every container event on each query: exact and slow, for unit tests. */
export function createFoldingReadModel(store: ReadableStore): ContainerReadModel {
  async function all(): Promise<ContainerState[]> {
    const states = new Map<string, ContainerState>();
    for await (const e of store.readAll({ filter: kindSubject('container') })) {
      const prev = states.get(e.aggregateId) ?? initialContainerState(e.aggregateId);
      states.set(e.aggregateId, evolveContainer(prev, e as RecordedEvent<ContainerEvent>));
    }
    return [...states.values()].filter(live);
  }
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
