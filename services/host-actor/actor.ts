/**
 * The host actor: one per compute host. It keeps the Docker containers of its
 * host equal to the event log, and appends what it observes.
 *
 * Place in the flow: the projector folds the event stream into the
 * `zun_desired` KV bucket, keyed `<token(host)>.<kind>.<token(id)>`; this actor
 * watches only its own slice (`<token(host)>.>`). It never reads or writes
 * intents; it writes observations through the fenced command path.
 *
 * Concurrency model (kubelet / controller-runtime style):
 * - one worker per container with a single-slot mailbox: a trigger only marks
 *   the worker dirty; any number of triggers while it runs collapse into one
 *   more pass. Triggers carry the key, never a payload: a pass re-reads the
 *   desired state and observes Docker afresh, so stale updates are never
 *   replayed;
 * - triggers: KV watch updates, Docker's event stream (label-filtered on this
 *   host), a periodic full resync, and retries a pass asks for (back-off);
 * - passes of different containers run in parallel, at most `concurrency` at
 *   once; passes of one container never overlap.
 *
 * Recovery: after a crash (kill -9) nothing is remembered. The first resync
 * lists the desired slice and the Docker containers with this host's labels,
 * and every pass looks Docker up by labels before creating; the name
 * `zun-<uuid>` is a second guard (a name conflict adopts the existing
 * container). Labelled containers no longer desired are removed, after a
 * grace period and after the event log confirms they are deleted.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { Etcd3 } from 'etcd3';
import { decodeToken, encodeToken } from '../../events/index.js';
import type { ContainerState } from '../../domain/container.js';
import { DEFAULT_AVAILABILITY_ZONE } from '../../domain/host.js';
import { diffHost, type LabelledContainer } from '../../domain/reconcile.js';
import { loadContainer } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { DESIRED_BUCKET, desiredHostFilter, desiredKey } from '../platform/readmodels.js';
import type { ContainerRuntime, EventSubscription } from './docker.js';
import { createReconciler, failureBackoff, newWorkerMemory, type WorkerMemory } from './reconciler.js';
import { createHostRegistry, describeHost, readHostSettings, type HostRegistry } from './registry.js';
import { createHostRpc, type HostRpc } from './rpc.js';

export interface RegistrationOptions {
  readonly ttlSeconds: number;
  readonly capacity: { readonly cpus: number | null; readonly memoryMiB: number | null; readonly diskGb: number | null };
  readonly labels: Readonly<Record<string, string>>;
  readonly availabilityZone: string;
  readonly stateDir: string;
}

export interface HostActorOptions {
  readonly hostname: string;
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly runtime: ContainerRuntime;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly newId: () => string;
  /** Full resync period. */
  readonly resyncMs: number;
  /** Registers the host in etcd under a lease when given. */
  readonly etcd?: Etcd3;
  /** Registration details (default: TTL 10 s, capacity measured, no labels, zone nova). */
  readonly registration?: RegistrationOptions;
  /** How long a labelled container must stay undesired before it is removed (default: resyncMs). */
  readonly orphanGraceMs?: number;
  /** Passes running at once across containers (default 8). */
  readonly concurrency?: number;
  /** Serve logs/top/stats/exec on the host's RPC subject (default true). */
  readonly rpc?: boolean;
}

export interface HostActor {
  start(): Promise<void>;
  /** Stops triggers, lets running passes finish (bounded), deregisters the host. */
  stop(): Promise<void>;
  /** One full resync now (also run periodically). */
  resync(): Promise<void>;
  /** Marks one container's worker dirty. */
  trigger(uuid: string): void;
  /** Resolves when no pass is running or pending (retries scheduled later do not count). */
  idle(): Promise<void>;
  readonly registry: HostRegistry | null;
}

interface Worker {
  pending: boolean;
  running: Promise<void> | null;
  timer: NodeJS.Timeout | undefined;
  mem: WorkerMemory;
}

/** `<token(host)>.container.<token(uuid)>` -> uuid; null for other kinds or hosts. */
export function containerOfKey(hostname: string, key: string): string | null {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== encodeToken(hostname) || parts[1] !== 'container') return null;
  try {
    return decodeToken(parts[2]!);
  } catch {
    return null;
  }
}

async function openDesiredBucket(nc: NatsConnection): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    // Same options as the projector's, so whoever comes first creates it.
    return await kvm.create(DESIRED_BUCKET, { history: 1 });
  } catch {
    return await kvm.open(DESIRED_BUCKET);
  }
}

export function createHostActor(o: HostActorOptions): HostActor {
  const { hostname, runtime, store, clock } = o;
  const log = o.log.child({ component: 'host-actor', host: hostname });
  const reconciler = createReconciler({ hostname, store, runtime, log, clock, newId: o.newId });
  const workers = new Map<string, Worker>();
  const concurrency = o.concurrency ?? 8;
  const graceMs = o.orphanGraceMs ?? o.resyncMs;
  let kv: KV | null = null;
  let stopping = false;
  let resyncTimer: NodeJS.Timeout | undefined;
  let resyncing: Promise<void> | null = null;
  let watch: QueuedIterator<KvWatchEntry> | null = null;
  let watchLoop: Promise<void> | null = null;
  let events: EventSubscription | null = null;
  let eventsRetry: NodeJS.Timeout | undefined;
  let rpc: HostRpc | null = null;
  let suspects: ReadonlyMap<string, number> = new Map();
  let active = 0;
  const slots: (() => void)[] = [];
  const idleWaiters: (() => void)[] = [];

  const registry: HostRegistry | null =
    o.etcd
      ? (() => {
          const etcd = o.etcd;
          const reg: RegistrationOptions = o.registration ?? {
            ttlSeconds: 10,
            capacity: { cpus: null, memoryMiB: null, diskGb: null },
            labels: {},
            availabilityZone: DEFAULT_AVAILABILITY_ZONE,
            stateDir: '.',
          };
          const startedAt = clock();
          return createHostRegistry({
            etcd,
            hostname,
            ttlSeconds: reg.ttlSeconds,
            log,
            record: async () =>
              describeHost({ hostname, runtime, ...reg, startedAt, settings: await readHostSettings(etcd, hostname) }),
          });
        })()
      : null;

  async function acquire(): Promise<void> {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((r) => slots.push(r));
  }
  function release(): void {
    const next = slots.shift();
    if (next) next();
    else active--;
  }

  function busy(): boolean {
    for (const w of workers.values()) if (w.running || w.pending) return true;
    return false;
  }
  function notifyIdle(): void {
    if (busy()) return;
    for (const r of idleWaiters.splice(0)) r();
  }

  async function readDesired(uuid: string): Promise<ContainerState | null> {
    if (!kv) return null;
    const e = await kv.get(desiredKey(hostname, 'container', uuid));
    if (!e || e.operation !== 'PUT') return null;
    const s = e.json<ContainerState>();
    return s.host === hostname && s.uuid === uuid ? s : null;
  }

  /** The read model's value, unless our own appends have already moved past it. */
  function freshest(desired: ContainerState | null, last: ContainerState | null): ContainerState | null {
    if (!desired) return null; // not desired here (deleted, or never): orphan handling decides
    return last && last.seq > desired.seq ? last : desired;
  }

  function schedule(uuid: string, w: Worker, ms: number): void {
    clearTimeout(w.timer);
    if (stopping) return;
    w.timer = setTimeout(() => {
      w.timer = undefined;
      trigger(uuid);
    }, Math.max(0, ms));
    w.timer.unref?.();
  }

  async function run(uuid: string, w: Worker): Promise<void> {
    const wlog = log.child({ uuid });
    while (w.pending && !stopping) {
      w.pending = false;
      clearTimeout(w.timer);
      w.timer = undefined;
      await acquire();
      try {
        const state = freshest(await readDesired(uuid), w.mem.last);
        if (!state) {
          w.mem = newWorkerMemory();
          continue;
        }
        const out = await reconciler.pass(state, w.mem, wlog);
        w.mem.last = out.state;
        if (out.retryInMs !== null) schedule(uuid, w, out.retryInMs);
      } catch (err) {
        w.mem.failures++;
        const delay = failureBackoff(w.mem.failures);
        wlog.warn({ err: (err as Error)?.message ?? String(err), retryInMs: delay }, 'reconcile pass failed');
        schedule(uuid, w, delay);
      } finally {
        release();
      }
    }
  }

  function trigger(uuid: string): void {
    if (stopping) return;
    let w = workers.get(uuid);
    if (!w) {
      w = { pending: false, running: null, timer: undefined, mem: newWorkerMemory() };
      workers.set(uuid, w);
    }
    w.pending = true;
    if (w.running) return;
    const worker = w;
    worker.running = run(uuid, worker).finally(() => {
      worker.running = null;
      if (worker.pending && !stopping) trigger(uuid);
      else {
        // Forget containers that are gone from the slice and have nothing scheduled.
        if (!worker.mem.last && worker.timer === undefined) workers.delete(uuid);
        notifyIdle();
      }
    });
  }

  async function removeOrphan(c: LabelledContainer): Promise<void> {
    if (workers.get(c.uuid)?.running) return;
    // The log, not the read model, decides: only a container the log no longer places here goes.
    const s = await loadContainer(store, c.uuid);
    if (s.status !== null && s.status !== 'Deleted' && s.host === hostname) {
      log.warn({ uuid: c.uuid, status: s.status, seq: s.seq }, 'labelled container is live in the log but not in the desired slice; keeping it');
      return;
    }
    await runtime.remove({ host: hostname, uuid: c.uuid, dockerId: c.dockerId });
    log.info({ uuid: c.uuid, dockerId: c.dockerId, status: s.status }, 'orphan container removed');
  }

  async function doResync(): Promise<void> {
    if (!kv) return;
    const desired = new Set<string>();
    const keys = await kv.keys(desiredHostFilter(hostname));
    for await (const k of keys) {
      const uuid = containerOfKey(hostname, k);
      if (uuid) desired.add(uuid);
    }
    const labelled = await runtime.list(hostname);
    for (const uuid of desired) trigger(uuid);
    const hd = diffHost(desired, labelled, suspects, clock().getTime(), graceMs);
    suspects = hd.suspects;
    for (const c of hd.remove) {
      try {
        await removeOrphan(c);
      } catch (err) {
        log.warn({ uuid: c.uuid, err: (err as Error).message }, 'orphan removal failed');
      }
    }
  }

  function resync(): Promise<void> {
    resyncing ??= doResync()
      .catch((err: unknown) => log.warn({ err: (err as Error)?.message ?? String(err) }, 'resync failed'))
      .finally(() => {
        resyncing = null;
      });
    return resyncing;
  }

  function subscribeEvents(): void {
    if (stopping) return;
    events = runtime.events(hostname, {
      onEvent: (uuid) => trigger(uuid),
      onClose: (err) => {
        if (stopping) return;
        log.warn({ err: (err as Error)?.message ?? String(err) }, 'docker event stream lost; resubscribing');
        eventsRetry = setTimeout(() => {
          subscribeEvents();
          void resync(); // whatever happened meanwhile
        }, 1_000);
        eventsRetry.unref?.();
      },
    });
  }

  async function watchDesired(): Promise<void> {
    while (!stopping && kv) {
      try {
        watch = await kv.watch({ key: desiredHostFilter(hostname) });
        for await (const e of watch) {
          const uuid = containerOfKey(hostname, e.key);
          if (uuid) trigger(uuid);
        }
      } catch (err) {
        if (!stopping) log.warn({ err: (err as Error)?.message ?? String(err) }, 'desired watch failed');
      }
      if (stopping) break;
      log.warn('desired watch ended; watching again');
      await new Promise((r) => setTimeout(r, 1_000));
      void resync();
    }
  }

  return {
    registry,
    trigger,
    resync,

    async start() {
      stopping = false;
      kv = await openDesiredBucket(o.nc);
      if (registry) void registry.start().catch((err: unknown) => log.error({ err }, 'registry failed'));
      if (o.rpc !== false) rpc = createHostRpc({ nc: o.nc, hostname, runtime, log });
      subscribeEvents();
      watchLoop = watchDesired();
      await resync();
      resyncTimer = setInterval(() => void resync(), o.resyncMs);
      resyncTimer.unref?.();
      log.info({ resyncMs: o.resyncMs, containers: workers.size }, 'host actor started');
    },

    async stop() {
      stopping = true;
      clearInterval(resyncTimer);
      clearTimeout(eventsRetry);
      events?.close();
      watch?.stop();
      await rpc?.stop();
      for (const w of workers.values()) clearTimeout(w.timer);
      const running = [...workers.values()].map((w) => w.running).filter((p): p is Promise<void> => p !== null);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...running, resyncing ?? Promise.resolve()]),
        new Promise((r) => (timer = setTimeout(r, 15_000))),
      ]);
      clearTimeout(timer);
      await Promise.race([watchLoop, new Promise((r) => setTimeout(r, 1_000))]);
      await registry?.stop();
      log.info('host actor stopped');
    },

    idle() {
      if (!busy()) return Promise.resolve();
      return new Promise<void>((r) => idleWaiters.push(r));
    },
  };
}
