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
 *   replayed. The one thing read off a KV update is its sequence: an update
 *   the worker has already seen (the read model echoing our own appends) is
 *   dropped instead of costing a pass; so is the Docker event of a create or
 *   start the worker's own pass made (reconciler.ts, `isEcho`);
 * - triggers: KV watch updates, Docker's event stream (label-filtered on this
 *   host), a periodic full resync, and retries a pass asks for (back-off);
 *   a resync's pass is full (reconciler.ts, PassOptions);
 * - passes of different containers run in parallel, at most `concurrency` at
 *   once; passes of one container never overlap. A pass waiting for a slot
 *   that a desired change or a Docker event asked for goes before the
 *   resync's passes, so a resync of many containers does not hold up a new
 *   container or the record of an exit.
 *
 * Recovery: after a crash (kill -9) nothing is remembered. The first resync
 * lists the desired slice and the Docker containers with this host's labels,
 * and every pass looks Docker up by labels before creating; the name
 * `zun-<uuid>` is a second guard (a name conflict adopts the existing
 * container). Labelled containers no longer desired are removed, after a
 * grace period and after the event log confirms they are deleted.
 *
 * Capsules (`<token(host)>.capsule.<token(id)>`) get a worker of their own,
 * keyed `capsule:<uuid>`, running capsule-reconciler.ts; their Docker
 * containers (sandbox and members) carry `zun.capsule.uuid` and are routed to
 * that worker, never treated as containers of their own. Volumes and
 * networks are wired by resources.ts; Docker networks that stay unused are
 * removed on resync, after the grace period.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { Etcd3 } from 'etcd3';
import { decodeToken, encodeToken, type ContainerEvent, type RecordedEvent } from '../../events/index.js';
import { evolveContainer, type ContainerState } from '../../domain/container.js';
import type { CapsuleState } from '../../domain/capsule.js';
import { DEFAULT_AVAILABILITY_ZONE } from '../../domain/host.js';
import { diffHost, type LabelledContainer } from '../../domain/reconcile.js';
import { loadCapsule, loadContainer } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import type { Logger } from '../platform/log.js';
import { DESIRED_BUCKET, desiredHostFilter, desiredKey } from '../platform/readmodels.js';
import type { ContainerRuntime, EventSubscription, RuntimeContainer } from './docker.js';
import { createReconciler, failureBackoff, isEcho, newWorkerMemory, type WorkerMemory } from './reconciler.js';
import { createImagePresence } from './images.js';
import { createCapsuleReconciler, newCapsuleMemory, type CapsuleMemory } from './capsule-reconciler.js';
import type { HostResources } from './resources.js';
import { createHostRegistry, describeHost, readHostSettings, type HostRegistry } from './registry.js';
import { createHostRpc, type HostRpc } from './rpc.js';
import type { RpcExtras } from './rpc-extras.js';

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
  /**
   * Resync period: the host's desired slice against one listing of its
   * Docker containers. A container gets a pass (which inspects it) when the
   * listing disagrees with what its last pass found, when its worker knows
   * nothing yet, or when it was last inspected `recheckMs` ago or more.
   */
  readonly resyncMs: number;
  /** How often a settled container is inspected (and its networks looked at) all the same (default 60 s). */
  readonly recheckMs?: number;
  /**
   * How often a resync reads the desired slice's keys from the bucket
   * (default 300 s; 0: every resync). In between, a resync takes the keys
   * from the watch's copy of the slice, once the watch has delivered its
   * snapshot: see `watched`.
   */
  readonly desiredRelistMs?: number;
  /** Registers the host in etcd under a lease when given. */
  readonly etcd?: Etcd3;
  /** Registration details (default: TTL 10 s, capacity measured, no labels, zone nova). */
  readonly registration?: RegistrationOptions;
  /** How long a labelled container must stay undesired before it is removed (default: resyncMs). */
  readonly orphanGraceMs?: number;
  /** Passes running at once across containers (default 16). */
  readonly concurrency?: number;
  /** Serve logs/top/stats/exec on the host's RPC subject (default true). */
  readonly rpc?: boolean;
  /** Networks and volumes (resources.ts); without it containers get Docker's default bridge and no mounts. */
  readonly resources?: HostResources | null;
  /** Image of capsule sandboxes (default zun-base:latest). */
  readonly sandboxImage?: string;
  /** Archives, exec/attach streams, resizes and images on the same subject (rpc-extras.ts). */
  readonly rpcExtras?: RpcExtras;
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

type WorkerKind = 'container' | 'capsule';

interface Worker {
  readonly kind: WorkerKind;
  pending: boolean;
  /** The pending pass was asked for by a resync: a full one. */
  full: boolean;
  /** The pending pass was asked for by something other than the resync. */
  urgent: boolean;
  /** Set while this worker's pass waits in the resync queue for a slot. */
  queued: (() => void) | null;
  /**
   * The highest read-model sequence that arrived while a pass was under way
   * (0: none). Decided when the pass ends: news only if the pass did not get
   * that far itself (it often did: the update is the echo of its own append,
   * which can arrive before the append's acknowledgement is handled).
   */
  seenDuringPass: number;
  running: Promise<void> | null;
  timer: NodeJS.Timeout | undefined;
  mem: WorkerMemory;
  cmem: CapsuleMemory;
}

/** `<token(host)>.<kind>.<token(uuid)>` -> kind and uuid; null for other kinds or hosts. */
export function workOfKey(hostname: string, key: string): { kind: WorkerKind; uuid: string } | null {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== encodeToken(hostname)) return null;
  const kind = parts[1];
  if (kind !== 'container' && kind !== 'capsule') return null;
  try {
    return { kind, uuid: decodeToken(parts[2]!) };
  } catch {
    return null;
  }
}

/** `<token(host)>.container.<token(uuid)>` -> uuid; null for other kinds or hosts. */
export function containerOfKey(hostname: string, key: string): string | null {
  const w = workOfKey(hostname, key);
  return w?.kind === 'container' ? w.uuid : null;
}

const workerKey = (kind: WorkerKind, uuid: string) => `${kind}:${uuid}`;

/** The sequence of the freshest state a worker holds (0: none). */
const lastOf = (w: Worker): number => (w.kind === 'container' ? w.mem.last?.seq : w.cmem.last?.seq) ?? 0;

/** The aggregate sequence a desired entry was folded up to; undefined when it cannot be read (then it is news). */
function seqOfEntry(e: KvWatchEntry): number | undefined {
  try {
    const seq = e.json<{ seq?: unknown }>().seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
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
  const resources = o.resources ?? null;
  const images = createImagePresence(runtime, { now: () => clock().getTime() });
  const recheckMs = o.recheckMs ?? 60_000;
  const reconciler = createReconciler({ hostname, store, runtime, log, clock, newId: o.newId, resources, images, networkRecheckMs: recheckMs });
  const capsules = createCapsuleReconciler({
    hostname, store, runtime, log, clock, newId: o.newId, resources, ...(o.sandboxImage ? { sandboxImage: o.sandboxImage } : {}),
  });
  const workers = new Map<string, Worker>();
  // Twice a typical client's parallelism: a pass holds its slot through a slow
  // Docker start, and the passes that follow it (the events it raised) must
  // not wait for the next container's.
  const concurrency = o.concurrency ?? 16;
  const graceMs = o.orphanGraceMs ?? o.resyncMs;
  const desiredRelistMs = o.desiredRelistMs ?? 300_000;
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
  let capsuleSuspects: ReadonlyMap<string, number> = new Map();
  let active = 0;
  /** Waiting passes: asked for by a change (urgent), and by the resync. */
  const slots: (() => void)[] = [];
  const resyncSlots: (() => void)[] = [];
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

  async function acquire(w: Worker, background: boolean): Promise<void> {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((r) => {
      if (!background) return slots.push(r);
      w.queued = r;
      resyncSlots.push(r);
    });
    w.queued = null;
  }
  /** An urgent trigger for a worker whose pass waits behind the resync's: move it up. */
  function promote(w: Worker): void {
    const i = w.queued ? resyncSlots.indexOf(w.queued) : -1;
    if (i < 0) return;
    resyncSlots.splice(i, 1);
    slots.push(w.queued!);
    w.queued = null;
  }
  function release(): void {
    const next = slots.shift() ?? resyncSlots.shift();
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

  /**
   * The slice as the watch last delivered it, by key: what a pass reads
   * instead of asking the bucket again. The watch is ordered and sees every
   * update, so an entry here is the bucket's latest the actor knows of; a
   * newer one is on its way and will trigger another pass. Deleted keys are
   * dropped; a key not here (the watch restarting) is read from the bucket.
   * `seq`: the entry's sequence, read once when it arrives.
   */
  const watched = new Map<string, { readonly entry: KvWatchEntry; readonly seq: number | undefined }>();
  /**
   * Whether the current watch has delivered the slice as it was when the
   * watch began (an entry with nothing pending behind it): from then on
   * `watched` holds every live key, and a resync takes its keys from there,
   * as an informer's resync replays its cache, instead of reading the bucket
   * (a message per key, delete markers included: README.md). The bucket is
   * still read every `desiredRelistMs`, and while a watch is (re)starting.
   */
  let watchSynced = false;
  let lastRelistAt = Number.NEGATIVE_INFINITY;

  async function readDesired(uuid: string): Promise<ContainerState | null> {
    if (!kv) return null;
    const key = desiredKey(hostname, 'container', uuid);
    const e = watched.get(key)?.entry ?? (await kv.get(key));
    if (!e || e.operation !== 'PUT') return null;
    const s = e.json<ContainerState>();
    return s.host === hostname && s.uuid === uuid ? s : null;
  }

  async function readDesiredCapsule(uuid: string): Promise<CapsuleState | null> {
    if (!kv) return null;
    const key = desiredKey(hostname, 'capsule', uuid);
    const e = watched.get(key)?.entry ?? (await kv.get(key));
    if (!e || e.operation !== 'PUT') return null;
    const s = e.json<CapsuleState>();
    return s.host === hostname && s.uuid === uuid ? s : null;
  }

  /** The read model's value, unless our own appends have already moved past it. */
  function freshest<S extends { seq: number }>(desired: S | null, last: S | null): S | null {
    if (!desired) return null; // not desired here (deleted, or never): orphan handling decides
    return last && last.seq > desired.seq ? last : desired;
  }

  function schedule(kind: WorkerKind, uuid: string, w: Worker, ms: number): void {
    clearTimeout(w.timer);
    if (stopping) return;
    w.timer = setTimeout(() => {
      w.timer = undefined;
      trigger(uuid, kind);
    }, Math.max(0, ms));
    w.timer.unref?.();
  }

  /**
   * A container's desired entry brought up to the log. The entry trails the
   * log by the host's own observations (the projector does not rewrite it for
   * them: domain/container.ts, `rewritesDesiredEntry`). A worker that holds
   * state (`mem.last`, kept by its own appends) has them; a fresh one (after a
   * restart, or after a pass whose append outcome is unknown) asks the log
   * for the aggregate's last sequence and folds what it lacks, so it never
   * acts on an observation it made before and forgot (a reboot done twice).
   */
  async function caughtUp(s: ContainerState): Promise<ContainerState> {
    if ((await store.lastSeq('container', s.uuid)) <= s.seq) return s;
    const tail = (await store.load('container', s.uuid, s.seq)) as RecordedEvent<ContainerEvent>[];
    return tail.reduce(evolveContainer, s);
  }

  async function passOnce(kind: WorkerKind, uuid: string, w: Worker, wlog: Logger, full: boolean): Promise<void> {
    if (kind === 'container') {
      const desired = await readDesired(uuid);
      let state = freshest(desired, w.mem.last);
      if (state && !w.mem.last) state = await caughtUp(state);
      if (!state) {
        w.mem = newWorkerMemory();
        return;
      }
      const out = await reconciler.pass(state, w.mem, wlog, { full });
      w.mem.last = out.state;
      if (out.retryInMs !== null) schedule(kind, uuid, w, out.retryInMs);
      return;
    }
    const state = freshest(await readDesiredCapsule(uuid), w.cmem.last);
    if (!state) {
      w.cmem = newCapsuleMemory();
      return;
    }
    const out = await capsules.pass(state, w.cmem, wlog);
    w.cmem.last = out.state;
    if (out.retryInMs !== null) schedule(kind, uuid, w, out.retryInMs);
  }

  async function run(kind: WorkerKind, uuid: string, w: Worker): Promise<void> {
    const wlog = kind === 'container' ? log.child({ uuid }) : log.child({ capsule: uuid });
    while (w.pending && !stopping) {
      w.pending = false;
      const full = w.full;
      const background = !w.urgent;
      w.full = false;
      w.urgent = false;
      clearTimeout(w.timer);
      w.timer = undefined;
      await acquire(w, background);
      try {
        await passOnce(kind, uuid, w, wlog, full);
      } catch (err) {
        // An append may have landed without its answer: the state held is no longer known to be the log's.
        w.mem.last = null;
        const failures = kind === 'container' ? ++w.mem.failures : ++w.cmem.failures;
        const delay = failureBackoff(failures);
        wlog.warn({ err: (err as Error)?.message ?? String(err), retryInMs: delay }, 'reconcile pass failed');
        schedule(kind, uuid, w, delay);
      } finally {
        release();
        if (w.seenDuringPass > lastOf(w)) w.pending = w.urgent = true;
        w.seenDuringPass = 0;
      }
    }
  }

  /**
   * Marks a worker dirty. `seenSeq`: the trigger is a read-model update of
   * the aggregate at that sequence; dropped when the worker's state is
   * already that fresh (it holds every event up to it: our own append,
   * echoed). `full`: a resync asks (see PassOptions).
   */
  function trigger(uuid: string, kind: WorkerKind = 'container', o: { seenSeq?: number; full?: boolean } = {}): void {
    if (stopping) return;
    const key = workerKey(kind, uuid);
    const w = workerOf(kind, key);
    if (o.seenSeq !== undefined) {
      if (lastOf(w) >= o.seenSeq) return;
      if (w.running && !w.pending) {
        w.seenDuringPass = Math.max(w.seenDuringPass, o.seenSeq);
        return;
      }
    }
    w.pending = true;
    if (o.full) w.full = true;
    else {
      w.urgent = true;
      promote(w);
    }
    if (!w.running) spawn(kind, uuid, key, w);
  }

  /** The worker of a key, made when there is none. */
  function workerOf(kind: WorkerKind, key: string): Worker {
    let w = workers.get(key);
    if (!w) {
      w = {
        kind, pending: false, full: false, urgent: false, queued: null, seenDuringPass: 0,
        running: null, timer: undefined, mem: newWorkerMemory(), cmem: newCapsuleMemory(),
      };
      workers.set(key, w);
    }
    return w;
  }


  function spawn(kind: WorkerKind, uuid: string, key: string, worker: Worker): void {
    worker.running = run(kind, uuid, worker).finally(() => freeSlot(kind, uuid, key, worker));
  }

  /** A worker's slot is free again: run what was asked for meanwhile, or let the worker go. */
  function freeSlot(kind: WorkerKind, uuid: string, key: string, worker: Worker): void {
    worker.running = null;
    // An update that came in after the loop's last look (see seenDuringPass).
    if (worker.seenDuringPass > lastOf(worker)) worker.pending = worker.urgent = true;
    worker.seenDuringPass = 0;
    if (worker.pending && !stopping) spawn(kind, uuid, key, worker);
    else {
      // Forget work that is gone from the slice and has nothing scheduled.
      if (!worker.mem.last && !worker.cmem.last && worker.timer === undefined) workers.delete(key);
      notifyIdle();
    }
  }

  async function removeOrphan(c: LabelledContainer): Promise<void> {
    if (workers.get(workerKey('container', c.uuid))?.running) return;
    // The log, not the read model, decides: only a container the log no longer places here goes.
    const s = await loadContainer(store, c.uuid);
    if (s.status !== null && s.status !== 'Deleted' && s.host === hostname) {
      log.warn({ uuid: c.uuid, status: s.status, seq: s.seq }, 'labelled container is live in the log but not in the desired slice; keeping it');
      return;
    }
    await runtime.remove({ host: hostname, uuid: c.uuid, dockerId: c.dockerId });
    log.info({ uuid: c.uuid, dockerId: c.dockerId, status: s.status }, 'orphan container removed');
  }

  /** A capsule's containers with no desired capsule behind them: removed once the log confirms it is gone from here. */
  async function removeCapsuleOrphan(capsuleUuid: string, members: readonly { dockerId: string; uuid: string }[]): Promise<void> {
    if (workers.get(workerKey('capsule', capsuleUuid))?.running) return;
    const s = await loadCapsule(store, capsuleUuid);
    if (s.status !== null && s.status !== 'Deleted' && s.host === hostname) {
      log.warn({ capsule: capsuleUuid, status: s.status, seq: s.seq }, 'labelled capsule is live in the log but not in the desired slice; keeping it');
      return;
    }
    for (const m of members) await runtime.remove({ host: hostname, uuid: m.uuid, dockerId: m.dockerId });
    log.info({ capsule: capsuleUuid, containers: members.length, status: s.status }, 'orphan capsule containers removed');
  }

  async function doResync(): Promise<void> {
    if (!kv) return;
    const desired = new Set<string>();
    const desiredCapsules = new Set<string>();
    const add = (k: string) => {
      const w = workOfKey(hostname, k);
      if (w?.kind === 'container') desired.add(w.uuid);
      else if (w?.kind === 'capsule') desiredCapsules.add(w.uuid);
    };
    const startedAt = clock().getTime();
    if (watchSynced && startedAt - lastRelistAt < desiredRelistMs) {
      for (const k of watched.keys()) add(k);
    } else {
      lastRelistAt = startedAt;
      for await (const k of await kv.keys(desiredHostFilter(hostname))) add(k);
    }
    const labelled = await runtime.list(hostname);
    reconciler.sawListing(labelled.map((c) => c.uuid));
    const now = clock().getTime();
    const listedAs = new Map(labelled.filter((c) => !c.capsuleUuid).map((c) => [c.uuid, c]));
    for (const uuid of desired) if (!settled(uuid, listedAs.get(uuid), now)) trigger(uuid, 'container', { full: true });
    for (const uuid of desiredCapsules) trigger(uuid, 'capsule', { full: true });
    // Containers of capsules belong to their capsule, never to the container orphan sweep.
    const hd = diffHost(desired, labelled.filter((c) => !c.capsuleUuid), suspects, now, graceMs);
    suspects = hd.suspects;
    for (const c of hd.remove) {
      try {
        await removeOrphan(c);
      } catch (err) {
        log.warn({ uuid: c.uuid, err: (err as Error).message }, 'orphan removal failed');
      }
    }
    const byCapsule = new Map<string, { dockerId: string; uuid: string }[]>();
    for (const c of labelled) if (c.capsuleUuid) byCapsule.set(c.capsuleUuid, [...(byCapsule.get(c.capsuleUuid) ?? []), c]);
    const hc = diffHost(desiredCapsules, [...byCapsule.keys()].map((uuid) => ({ uuid, dockerId: uuid })), capsuleSuspects, now, graceMs);
    capsuleSuspects = hc.suspects;
    for (const c of hc.remove) {
      try {
        await removeCapsuleOrphan(c.uuid, byCapsule.get(c.uuid) ?? []);
      } catch (err) {
        log.warn({ capsule: c.uuid, err: (err as Error).message }, 'orphan capsule removal failed');
      }
    }
    if (resources) {
      try {
        await resources.collectNetworks(now, graceMs);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'network collection failed');
      }
    }
  }

  /**
   * Whether a container needs no pass from the resync (a PLEG-style relist,
   * as the kubelet does): its worker is idle with nothing scheduled, holds
   * the desired entry's state or newer, and its last pass converged on
   * Docker as the listing shows it now (same container id, same state),
   * less than `recheckMs` ago. What the listing cannot show (limits changed
   * by `docker update`, a network disconnected behind our back) raises a
   * Docker event or is found by the recheck.
   */
  function settled(uuid: string, listed: RuntimeContainer | undefined, now: number): boolean {
    const w = workers.get(workerKey('container', uuid));
    if (!w || w.running || w.pending || w.timer !== undefined || !w.mem.last || w.mem.seen === undefined) return false;
    const entrySeq = watched.get(desiredKey(hostname, 'container', uuid))?.seq;
    if (entrySeq === undefined || entrySeq > w.mem.last.seq) return false;
    if (now - w.mem.seenAt >= recheckMs) return false;
    const seen = w.mem.seen;
    return seen === null ? listed === undefined : listed !== undefined && listed.dockerId === seen.dockerId && listed.state === seen.state;
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
      onEvent: (uuid, action, capsuleUuid) => {
        if (capsuleUuid) return trigger(capsuleUuid, 'capsule');
        const w = workers.get(workerKey('container', uuid));
        if (w && isEcho(w.mem, action, clock().getTime())) return;
        trigger(uuid, 'container');
      },
      onClose: (err) => {
        if (stopping) return;
        // Echoes may never come now; the resync below observes everything.
        for (const w of workers.values()) w.mem.echoes.clear();
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
        watched.clear();
        watchSynced = false;
        watch = await kv.watch({ key: desiredHostFilter(hostname) });
        for await (const e of watch) {
          const seq = e.operation === 'PUT' ? seqOfEntry(e) : undefined;
          if (e.operation === 'PUT') watched.set(e.key, { entry: e, seq });
          else watched.delete(e.key);
          if (e.isUpdate || e.delta === 0) watchSynced = true;
          const w = workOfKey(hostname, e.key);
          if (w) trigger(w.uuid, w.kind, e.operation === 'PUT' ? { seenSeq: seq } : {});
        }
      } catch (err) {
        if (!stopping) log.warn({ err: (err as Error)?.message ?? String(err) }, 'desired watch failed');
      }
      watchSynced = false;
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
      if (o.rpc !== false) rpc = createHostRpc({ nc: o.nc, hostname, runtime, log, ...(o.rpcExtras ? { extras: o.rpcExtras } : {}) });
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
      // Docker networks no container uses any more go with us (no grace: nothing is being created now).
      if (resources) await resources.collectNetworks(clock().getTime(), 0).catch((err: unknown) => log.warn({ err: (err as Error)?.message }, 'network collection failed'));
      await registry?.stop();
      log.info('host actor stopped');
    },

    idle() {
      if (!busy()) return Promise.resolve();
      return new Promise<void>((r) => idleWaiters.push(r));
    },
  };
}
