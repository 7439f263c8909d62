/**
 * The placement service: one elected leader places every container and
 * capsule that needs a host, commits the claims to the ledger (fenced), then
 * tells each consumer where it runs.
 *
 * As leader (one "term"):
 *  1. fold the stream (readBatches): containers, capsules, ledger; from where
 *     the standby view handed over left off (see below), else from the start;
 *  2. reconcile by level: pending consumers are queued, claimed-but-not-yet-
 *     scheduled ones are scheduled from the ledger, claims of deleted or
 *     failed consumers are released, consumers on hosts missing from the
 *     registry are marked lost;
 *  3. tail the stream from there (an ordered consumer) and react to each event
 *     the same way; a single pump plans batches (group commit: after a quiet
 *     spell a request is planned at once; while requests keep coming, plans
 *     start at least batchDelayMs apart, or as soon as batchSize wait),
 *     commits them through the ledger writer (fenced, re-planned on
 *     conflicts), and dispatches the per-consumer commands (many in flight).
 *
 * Ordering and idempotency: the ledger is written by the pump only, one
 * append at a time. Per-consumer commands carry ids derived from what they
 * were decided on (the claim's commit sequence, the consumer's sequence), so a
 * retry — by this leader or the next — never appends twice; and every append
 * is fenced, so a deposed leader's late appends fail instead of doing harm.
 * The view folds its own appends at once and skips them when the tail brings
 * them back (sequences at or below what it holds).
 *
 * When the term ends (leadership lost, stop()), the pump and the tail stop at
 * once; commands already in flight finish, nothing new is started.
 *
 * Warm standby: an instance that is not leading folds the stream all the
 * same (the same fold, no reactions), as a Nomad follower applies the log.
 * When it is elected it hands that view to the term, whose step 1 then reads
 * only what the standby had not folded yet: a takeover costs the TTL and a
 * short catch-up, not a fold of the whole history. After a term ends the
 * instance stands by again with a fresh view.
 */
import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Etcd3 } from 'etcd3';
import {
  STREAM_NAME,
  decodeEvent,
  type CapsuleEvent,
  type ContainerEvent,
  type PlacementEvent,
  type RecordedEvent,
} from '../../events/index.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import { evolveCapsule, initialCapsuleState, type CapsuleState } from '../../domain/capsule.js';
import {
  applyLedgerEvent,
  capsuleNeedsPlacement,
  claimIsOrphaned,
  containerNeedsPlacement,
  initialLedger,
  requestFromCapsule,
  requestFromContainer,
  type ConsumerKind,
  type LedgerClaim,
  type MutableLedger,
  type PlacementRequest,
  type Weigher,
} from '../../domain/placement.js';
import type { EventStore } from '../platform/eventstore.js';
import { readBatches } from '../platform/jetstream-eventstore.js';
import type { Logger } from '../platform/log.js';
import { commitBatch, releaseClaims, type LedgerDeps } from './ledger.js';
import { failScheduling, markHostLost, scheduleClaim, type PlacementCommandDeps } from './consumers.js';
import { createEtcdElection, type Election, type LeaderTerm } from './election.js';
import { createHostRegistryView, type HostChange, type PlacementHostRegistry } from './registry.js';
import { createViewSnapshots, encodeViewSliced, type ViewSnapshots, type ViewState } from './view-snapshot.js';

export const ELECTION_NAME = 'zun-placement';
/** Snapshot bytes that weigh about as much as one event of history (to write, and to read back instead of folding). */
const SNAPSHOT_BYTES_PER_EVENT = 500;

export interface PlacementOptions {
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly etcd: Etcd3;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly newId: () => string;
  readonly weigher: Weigher;
  readonly domain: string;
  readonly instanceId: string;
  readonly electionTtlSeconds?: number;
  readonly batchSize?: number;
  readonly batchDelayMs?: number;
  /** Per-consumer commands in flight at once (default 2048, at least batchSize). */
  readonly maxInFlight?: number;
  readonly streamName?: string;
  /**
   * How long a new leader waits for the first host to register before it
   * fails requests for want of hosts (default 10 s, about a host lease TTL).
   */
  readonly emptyRegistryGraceMs?: number;
  /** Injected for tests; by default built on `etcd`. */
  readonly registry?: PlacementHostRegistry;
  readonly election?: Election;
  /**
   * Snapshots of the folded view (view-snapshot.ts): a standby writes one
   * when it has folded `snapshotEveryEvents` events past the latest (default
   * 10,000), at most once per `snapshotMinIntervalMs` (default 30 s), and so
   * does a leader when no other instance has (a lone instance); an instance
   * with an empty view starts from the latest. `false`: none.
   */
  readonly viewSnapshots?: ViewSnapshots | false;
  readonly snapshotEveryEvents?: number;
  readonly snapshotMinIntervalMs?: number;
}

export interface PlacementStats {
  readonly terms: number;
  /** Events the last term read before it began to place (its catch-up; the whole stream without a warm standby). */
  readonly takeoverEvents: number;
  /** How far the standby view has folded the stream (0 while leading). */
  readonly standbySeq: number;
  /** The sequence of the snapshot this instance's view last started from (0: it folded from the start). */
  readonly startedFromSnapshot: number;
  /** Snapshots of the view this instance wrote (as a standby, or as a leader that saw none recent). */
  readonly snapshotsWritten: number;
  /** Deleted consumers the view still remembers (the leader's, else the standby's): those whose claim is not yet released. */
  readonly tombstones: number;
  readonly placed: number;
  readonly failed: number;
  readonly released: number;
  readonly lost: number;
  readonly conflicts: number;
  readonly commits: number;
}

export interface PlacementService {
  /** Starts the registry view and campaigns; resolves once campaigning (not once elected). */
  start(): Promise<void>;
  /** Stops placing at once, then leaves the election (resigning by default). */
  stop(opts?: { resign?: boolean }): Promise<void>;
  isLeader(): boolean;
  stats(): PlacementStats;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

type Consumer = ContainerState | CapsuleState;

/**
 * What placement folds from the stream: the ledger and every live consumer.
 *
 * A deleted consumer's state is dropped. It is remembered (a tombstone in
 * `deleted`) only while the ledger holds a claim for it, which must be
 * released: the tombstone goes with the release, so the view's size follows
 * what is live, not all history. A claim whose consumer the view does not
 * hold at all (deleted before a lagging planner's commit landed, its
 * tombstone long gone) is checked against the consumer's own log by the
 * leader (`schedule`, which finds it deleted and releases the claim): the
 * view folds the stream in order from its start, so a consumer is always
 * folded before any claim for it, and an unknown one was deleted.
 */
class FoldedView {
  ledger: MutableLedger = initialLedger();
  containers = new Map<string, ContainerState>();
  capsules = new Map<string, CapsuleState>();
  /** Deleted consumers whose claim the ledger still holds (their states are dropped). */
  deleted = new Set<string>();
  /** The stream sequence folded up to (the tail's position; own appends do not move it). */
  lastSeq = 0;
}

/** Makes `v` the snapshot's view (v must be empty: nothing folded yet). */
function adoptSnapshot(v: FoldedView, snap: ViewState): void {
  v.ledger = snap.ledger;
  v.containers = snap.containers;
  v.capsules = snap.capsules;
  v.deleted = snap.deleted;
  v.lastSeq = snap.lastSeq;
}

/** Folds one event into a view; returns the consumer it touched, if any. Skips what is already folded. */
function foldEvent(v: FoldedView, e: RecordedEvent, domain: string): { kind: ConsumerKind; id: string } | 'ledger' | null {
  if (e.seq > v.lastSeq) v.lastSeq = e.seq;
  switch (e.aggregateKind) {
    case 'placement': {
      if (e.aggregateId !== domain) return null;
      const before = v.ledger.seq;
      const p = e as RecordedEvent<PlacementEvent>;
      applyLedgerEvent(v.ledger, p);
      // Released (now, or by the leader's own append this copy echoes): no tombstone needed.
      if (p.type === 'ClaimsReleased') for (const id of p.data.ids) if (!v.ledger.claims.has(id)) v.deleted.delete(id);
      return v.ledger.seq !== before ? 'ledger' : null;
    }
    case 'container': {
      if (v.deleted.has(e.aggregateId)) return null;
      const s = v.containers.get(e.aggregateId) ?? initialContainerState(e.aggregateId);
      if (e.seq <= s.seq) return null;
      setConsumerIn(v, 'container', e.aggregateId, evolveContainer(s, e as RecordedEvent<ContainerEvent>));
      return { kind: 'container', id: e.aggregateId };
    }
    case 'capsule': {
      if (v.deleted.has(e.aggregateId)) return null;
      const s = v.capsules.get(e.aggregateId) ?? initialCapsuleState(e.aggregateId);
      if (e.seq <= s.seq) return null;
      setConsumerIn(v, 'capsule', e.aggregateId, evolveCapsule(s, e as RecordedEvent<CapsuleEvent>));
      return { kind: 'capsule', id: e.aggregateId };
    }
    default:
      return null;
  }
}

/** Records a consumer's newer state; a deleted one is dropped, and remembered while it holds a claim. */
function setConsumerIn(v: FoldedView, kind: ConsumerKind, id: string, s: Consumer): void {
  if (v.deleted.has(id)) return;
  const cur = kind === 'container' ? v.containers.get(id) : v.capsules.get(id);
  if (cur && cur.seq >= s.seq) return;
  if (s.status === 'Deleted') {
    v.containers.delete(id);
    v.capsules.delete(id);
    if (v.ledger.claims.has(id)) v.deleted.add(id);
    return;
  }
  if (kind === 'container') v.containers.set(id, s as ContainerState);
  else v.capsules.set(id, s as CapsuleState);
}

interface StreamSource {
  readonly nc: NatsConnection;
  readonly streamName?: string | undefined;
  readonly domain: string;
  readonly log: Logger;
}

/**
 * Folds the stream into `v` from v.lastSeq + 1 to its present end (bulk
 * reads), until `active()` says stop; malformed messages are logged and
 * skipped. Returns how many events it folded.
 */
async function catchUp(v: FoldedView, src: StreamSource, active: () => boolean): Promise<number> {
  let read = 0;
  const onMalformed = (err: Error, seq: number) => {
    v.lastSeq = Math.max(v.lastSeq, seq);
    src.log.error({ err: err.message, seq }, 'skipping a malformed event');
  };
  for await (const batch of readBatches({ nc: src.nc, streamName: src.streamName, fromSeq: v.lastSeq + 1, onMalformed })) {
    for (const e of batch) foldEvent(v, e, src.domain);
    read += batch.length;
    if (!active()) break;
  }
  return read;
}

/** A tail message as an event for `v`: null when already folded, or malformed (logged; lastSeq moves past it). */
function decodeTail(v: FoldedView, m: JsMsg, log: Logger): RecordedEvent | null {
  if (m.seq <= v.lastSeq) return null;
  try {
    return decodeEvent(m.data, m.seq);
  } catch (err) {
    v.lastSeq = m.seq;
    log.error({ err: (err as Error).message, seq: m.seq }, 'skipping a malformed event');
    return null;
  }
}

/**
 * Tails the stream from v.lastSeq + 1 with an ordered consumer, handing each
 * message to `onMessage`, until `active()` says stop; the consumer is opened
 * again from where the view is when it closes or fails. `hold` receives the
 * open consumer, so that it can be closed from outside (stop, reconnect).
 */
async function tailStream(
  v: FoldedView,
  src: StreamSource,
  active: () => boolean,
  onMessage: (m: JsMsg) => void,
  hold: (msgs: ConsumerMessages) => void,
  signal?: AbortSignal,
): Promise<void> {
  const js = jetstream(src.nc);
  while (active()) {
    try {
      const consumer = await js.consumers.get(src.streamName ?? STREAM_NAME, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: v.lastSeq + 1,
      });
      if (!active()) return;
      const msgs = await consumer.consume({ max_messages: 4096, callback: onMessage });
      hold(msgs);
      if (!active()) {
        await msgs.close();
        return;
      }
      const closed = await msgs.closed();
      if (closed instanceof Error) throw closed;
      if (active()) src.log.info({ from: v.lastSeq + 1 }, 'reopening the stream tail');
    } catch (err) {
      if (!active()) return;
      src.log.warn({ err: (err as Error).message, from: v.lastSeq + 1 }, 'stream tail failed; reopening');
      await sleep(500, signal);
    }
  }
}

export function createPlacement(o: PlacementOptions): PlacementService {
  const log = o.log.child({ component: 'placement', instance: o.instanceId, domain: o.domain });
  const registry = o.registry ?? createHostRegistryView({ etcd: o.etcd, log });
  const election =
    o.election ??
    createEtcdElection({ etcd: o.etcd, name: ELECTION_NAME, instanceId: o.instanceId, ttlSeconds: o.electionTtlSeconds ?? 5, log });
  const stats = { terms: 0, takeoverEvents: 0, placed: 0, failed: 0, released: 0, lost: 0, conflicts: 0, commits: 0, startedFromSnapshot: 0, snapshotsWritten: 0 };
  const snapshots = o.viewSnapshots === false ? null : (o.viewSnapshots ?? createViewSnapshots({ nc: o.nc, domain: o.domain, streamName: o.streamName }));
  const snapshotEvery = o.snapshotEveryEvents ?? 10_000;
  const snapshotInterval = o.snapshotMinIntervalMs ?? 30_000;

  /** Starts an empty view from the latest snapshot, if there is a usable one. Never fails: the stream is the fallback. */
  async function fromSnapshot(v: FoldedView, l: Logger): Promise<void> {
    if (!snapshots || v.lastSeq !== 0) return;
    try {
      const t0 = Date.now();
      const snap = await snapshots.read();
      if (!snap || v.lastSeq !== 0) return;
      adoptSnapshot(v, snap);
      stats.startedFromSnapshot = snap.lastSeq;
      l.info({ seq: snap.lastSeq, containers: snap.containers.size, capsules: snap.capsules.size, claims: snap.ledger.claims.size, ms: Date.now() - t0 }, 'view started from a snapshot');
    } catch (err) {
      l.warn({ err: (err as Error).message }, 'view snapshot unreadable; folding the stream from the start');
    }
  }
  let session: Session | null = null;
  let standby: Standby | null = null;
  let stopping = false;
  let unsubscribe: (() => void) | null = null;

  const ledgerDeps: LedgerDeps = { store: o.store, domain: o.domain, newId: o.newId, now: o.clock };
  const cmdDeps: PlacementCommandDeps = { store: o.store, newId: o.newId, now: o.clock, domain: o.domain };

  /** Everything one term knows and does; dropped when the term ends. */
  class Session extends FoldedView {
    /** Waiting for a plan, in arrival order. */
    readonly pending = new Map<string, ConsumerKind>();
    readonly releases = new Set<string>();
    /** Consumers with a command in flight: not planned, released or marked again meanwhile. */
    readonly busy = new Set<string>();
    inFlight = 0;
    /** When the pump last started planning a batch (ms, o.clock). */
    lastPlanAt = Number.NEGATIVE_INFINITY;
    private wakePump: (() => void) | null = null;
    private slotFreed: (() => void) | null = null;
    private tail: ConsumerMessages | null = null;
    readonly log: Logger;
    readonly startedAt = o.clock().getTime();
    /** Not seeded: a leader that had to fold much writes a snapshot soon, unless another instance has one. */
    private readonly snapshotter: ReturnType<typeof snapshotWriter>;

    constructor(readonly term: LeaderTerm) {
      super();
      this.log = log.child({ term: term.number });
      this.snapshotter = snapshotWriter(this, this.log, 'leader');
      // One listener for the whole term: every wait below ends when the term does.
      term.signal.addEventListener(
        'abort',
        () => {
          this.wake();
          this.freeSlot();
        },
        { once: true },
      );
    }

    /** Takes over a standby's view (before run(): nothing else has touched this term's). */
    adopt(v: FoldedView): void {
      this.ledger = v.ledger;
      this.containers = v.containers;
      this.capsules = v.capsules;
      this.deleted = v.deleted;
      this.lastSeq = v.lastSeq;
    }

    private freeSlot(): void {
      const f = this.slotFreed;
      this.slotFreed = null;
      f?.();
    }

    get active(): boolean {
      return !this.term.signal.aborted && session === this;
    }

    wake(): void {
      const w = this.wakePump;
      this.wakePump = null;
      w?.();
    }

    consumer(kind: ConsumerKind, id: string): Consumer | undefined {
      return kind === 'container' ? this.containers.get(id) : this.capsules.get(id);
    }

    /** The consumer as claimIsOrphaned needs it: deleted ones are tombstones. */
    consumerOf(claim: LedgerClaim): Consumer | undefined {
      if (this.deleted.has(claim.id)) {
        return claim.kind === 'container'
          ? { ...initialContainerState(claim.id), status: 'Deleted' }
          : { ...initialCapsuleState(claim.id), status: 'Deleted' };
      }
      return this.consumer(claim.kind, claim.id);
    }

    needsPlacement(kind: ConsumerKind, s: Consumer): boolean {
      return kind === 'container' ? containerNeedsPlacement(s as ContainerState) : capsuleNeedsPlacement(s as CapsuleState);
    }

    // ---- the fold ---------------------------------------------------------

    /** Folds one event; returns the consumer it touched, if any. Skips what is already folded. */
    fold(e: RecordedEvent): { kind: ConsumerKind; id: string } | 'ledger' | null {
      return foldEvent(this, e, o.domain);
    }

    /**
     * A command's outcome. One the view has folded past without holding the
     * consumer is stale: the consumer was deleted meanwhile (and, holding no
     * claim, not remembered), so it is not brought back.
     */
    setConsumer(kind: ConsumerKind, id: string, s: Consumer): void {
      if (s.seq <= this.lastSeq && !this.consumer(kind, id) && !this.deleted.has(id)) return;
      setConsumerIn(this, kind, id, s);
    }

    // ---- reactions (level-based: look at the state, not at the event) ----

    react(kind: ConsumerKind, id: string): void {
      if (this.busy.has(id)) return;
      const claim = this.ledger.claims.get(id);
      if (this.deleted.has(id)) {
        this.pending.delete(id);
        if (claim) this.releases.add(id);
        return;
      }
      const s = this.consumer(kind, id);
      if (!s) return;
      if (this.needsPlacement(kind, s)) {
        if (claim) this.schedule(claim);
        else this.pending.set(id, kind);
        return;
      }
      this.pending.delete(id);
      if (claim && claimIsOrphaned(claim, s)) this.releases.add(id);
      if (s.host !== null && !registry.isAlive(s.host) && s.status !== 'Unknown' && s.status !== 'Deleted') this.markLost(kind, s);
    }

    /**
     * A claim whose consumer this view remembers as deleted is released; one
     * whose consumer it does not hold at all is checked against the
     * consumer's log (`schedule` finds it deleted and releases the claim).
     */
    checkClaim(claim: LedgerClaim): void {
      if (this.busy.has(claim.id)) return;
      const known = this.consumer(claim.kind, claim.id);
      if (!known && !this.deleted.has(claim.id)) this.schedule(claim);
      else if (claimIsOrphaned(claim, this.consumerOf(claim))) this.releases.add(claim.id);
    }

    reactToLedger(): void {
      // A commit by another (deposed) leader: schedule what it claimed, if it has not.
      for (const id of this.pending.keys()) {
        const claim = this.ledger.claims.get(id);
        if (claim) {
          this.pending.delete(id);
          this.schedule(claim);
        }
      }
    }

    reconcileAll(): void {
      for (const id of this.containers.keys()) this.react('container', id);
      for (const id of this.capsules.keys()) this.react('capsule', id);
      for (const claim of this.ledger.claims.values()) this.checkClaim(claim);
      this.wake();
    }

    hostDown(hostname: string): void {
      for (const s of this.containers.values()) if (s.host === hostname) this.react('container', s.uuid);
      for (const s of this.capsules.values()) if (s.host === hostname) this.react('capsule', s.uuid);
    }

    // ---- per-consumer commands, pipelined --------------------------------

    private dispatch(id: string, what: string, run: () => Promise<void>): void {
      if (!this.active || this.busy.has(id)) return;
      this.busy.add(id);
      this.inFlight++;
      void (async () => {
        let delay = 100;
        for (;;) {
          try {
            await run();
            break;
          } catch (err) {
            if (!this.active) break;
            this.log.warn({ err: (err as Error).message, id, what, retryInMs: delay }, 'consumer command failed; retrying');
            await sleep(delay, this.term.signal);
            delay = Math.min(delay * 2, 5_000);
            if (!this.active) break;
          }
        }
        this.busy.delete(id);
        this.inFlight--;
        this.freeSlot();
        if (this.active) {
          const kind = this.containers.has(id) ? 'container' : this.capsules.has(id) ? 'capsule' : null;
          if (kind) this.react(kind, id);
          else if (this.deleted.has(id) && this.ledger.claims.has(id)) this.releases.add(id);
          this.wake();
        }
      })();
    }

    schedule(claim: LedgerClaim): void {
      this.pending.delete(claim.id);
      this.dispatch(claim.id, 'schedule', async () => {
        const known = this.consumer(claim.kind, claim.id);
        const r = await scheduleClaim(cmdDeps, known, claim, `req-${o.newId()}`);
        this.setConsumer(claim.kind, claim.id, r.state);
        if (r.result === 'orphaned') {
          this.log.info({ id: claim.id, host: claim.host, status: r.state.status, on: r.state.host }, 'claim orphaned: its consumer went away; releasing');
          this.releases.add(claim.id);
        }
        else stats.placed++;
      });
    }

    fail(req: PlacementRequest): void {
      this.pending.delete(req.id);
      this.dispatch(req.id, 'fail', async () => {
        const st = await failScheduling(cmdDeps, this.consumer(req.kind, req.id), req.kind, req.id, `req-${o.newId()}`);
        this.setConsumer(req.kind, req.id, st);
        stats.failed++;
      });
    }

    markLost(kind: ConsumerKind, s: Consumer): void {
      const host = s.host!;
      this.dispatch(s.uuid, 'host-lost', async () => {
        const cur = this.consumer(kind, s.uuid) ?? s;
        if (cur.host !== host || registry.isAlive(host) || cur.status === 'Unknown') return;
        const st = await markHostLost(cmdDeps, cur, kind, s.uuid, host, `req-${o.newId()}`);
        this.setConsumer(kind, s.uuid, st);
        stats.lost++;
      });
    }

    // ---- the term ---------------------------------------------------------

    async run(warm: Promise<FoldedView | null>): Promise<void> {
      const view = await warm;
      if (view) this.adopt(view);
      else await fromSnapshot(this, this.log);
      if (!this.active) return;
      const from = this.lastSeq + 1;
      this.log.info({ from }, view ? 'leading: catching up from the standby view' : 'leading: folding the stream');
      const t0 = Date.now();
      let read = 0;
      await this.retrying('initial read', async () => {
        read += await catchUp(this, this.source(), () => this.active);
      });
      if (!this.active) return;
      stats.takeoverEvents = read;
      this.log.info(
        { seq: this.lastSeq, read, containers: this.containers.size, capsules: this.capsules.size, claims: this.ledger.claims.size, ms: Date.now() - t0 },
        'stream folded',
      );
      this.reconcileAll();
      void this.runTail();
      await this.pump();
    }

    /** Runs `f` until it succeeds or the term ends, backing off on errors. */
    private async retrying(what: string, f: () => Promise<void>): Promise<void> {
      let delay = 200;
      while (this.active) {
        try {
          await f();
          return;
        } catch (err) {
          if (!this.active) return;
          this.log.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; retrying`);
          await sleep(delay, this.term.signal);
          delay = Math.min(delay * 2, 5_000);
        }
      }
    }

    private source(): StreamSource {
      return { nc: o.nc, streamName: o.streamName, domain: o.domain, log: this.log };
    }

    private runTail(): Promise<void> {
      return tailStream(this, this.source(), () => this.active, (m) => this.onTail(m), (msgs) => (this.tail = msgs), this.term.signal);
    }

    private onTail(m: JsMsg): void {
      if (!this.active) return;
      const e = decodeTail(this, m, this.log);
      if (!e) return;
      const touched = this.fold(e);
      if (touched === 'ledger') this.reactToLedger();
      else if (touched) this.react(touched.kind, touched.id);
      // A commit's claims may be of consumers deleted since it was planned (another
      // instance's, folded now or already by a fenced retry's reload; or our own).
      if (e.type === 'PlacementsCommitted' && e.aggregateId === o.domain) {
        for (const p of (e as RecordedEvent<PlacementEvent & { type: 'PlacementsCommitted' }>).data.placements) {
          const claim = this.ledger.claims.get(p.id);
          if (claim) this.checkClaim(claim);
        }
      }
      if (this.pending.size > 0 || this.releases.size > 0) this.wake();
      this.snapshotter.maybe();
    }

    private async pump(): Promise<void> {
      const batchSize = o.batchSize ?? 500;
      const batchDelay = o.batchDelayMs ?? 20;
      const hostGraceMs = o.emptyRegistryGraceMs ?? 10_000;
      const maxInFlight = Math.max(o.maxInFlight ?? 2048, batchSize);
      while (this.active) {
        // Claims of consumers with a command in flight wait for it: its outcome decides.
        const releasable = [...this.releases].filter((id) => !this.busy.has(id));
        if (this.pending.size === 0 && releasable.length === 0) {
          await new Promise<void>((r) => (this.wakePump = r));
          continue;
        }
        if (releasable.length > 0) {
          for (const id of releasable) this.releases.delete(id);
          await this.retrying('release', async () => {
            const done = await releaseClaims(ledgerDeps, this.ledger, releasable, `req-${o.newId()}`);
            stats.released += done.length;
            for (const id of done) if (!this.ledger.claims.has(id)) this.deleted.delete(id);
          });
          continue;
        }
        if (registry.hosts().length === 0 && o.clock().getTime() - this.startedAt < hostGraceMs) {
          // Just elected with an empty registry (a whole-cluster restart): give the host
          // actors a moment to register before anything is failed for want of hosts.
          await sleep(100, this.term.signal);
          continue;
        }
        // Group commit: a request after a quiet spell goes at once (no latency
        // added at low load); under a stream of them, plans are spaced
        // batchDelay apart so that each commit carries many placements.
        const sinceLastPlan = o.clock().getTime() - this.lastPlanAt;
        if (this.pending.size < batchSize && batchDelay > 0 && sinceLastPlan < batchDelay) {
          await sleep(batchDelay - Math.max(0, sinceLastPlan), this.term.signal);
        }
        this.lastPlanAt = o.clock().getTime();
        // Back-pressure: plan a batch only when its commands can all be in flight.
        while (this.active && this.inFlight + Math.min(this.pending.size, batchSize) > maxInFlight) {
          await new Promise<void>((r) => (this.slotFreed = r));
        }
        if (!this.active) return;
        const requests: PlacementRequest[] = [];
        for (const [id, kind] of this.pending) {
          if (requests.length >= batchSize) break;
          this.pending.delete(id);
          if (this.busy.has(id)) continue; // its command's outcome re-queues it if needed
          const claim = this.ledger.claims.get(id);
          if (claim) {
            this.schedule(claim);
            continue;
          }
          const s = this.consumer(kind, id);
          if (!s || !this.needsPlacement(kind, s)) continue;
          requests.push(kind === 'container' ? requestFromContainer(s as ContainerState) : requestFromCapsule(s as CapsuleState));
        }
        if (requests.length === 0) {
          // Never spin without yielding: timers and I/O must get their turn.
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        if (requests.length === 0) continue;
        await this.planAndCommit(requests);
      }
    }

    private async planAndCommit(requests: PlacementRequest[]): Promise<void> {
      const reqId = `req-${o.newId()}`;
      let out;
      try {
        out = await commitBatch(ledgerDeps, this.ledger, requests, registry.hosts(), o.weigher, reqId);
      } catch (err) {
        for (const r of requests) this.pending.set(r.id, r.kind);
        if (!this.active) return;
        this.log.warn({ err: (err as Error).message, requests: requests.length }, 'ledger commit failed; retrying');
        await sleep(500, this.term.signal);
        return;
      }
      stats.conflicts += out.conflicts;
      if (out.commitSeq > 0) stats.commits++;
      this.log.debug(
        { reqId, placed: out.placements.length, failed: out.failures.length, retry: out.retry.length, conflicts: out.conflicts, seq: out.commitSeq },
        'batch committed',
      );
      if (!this.active) return;
      for (const p of out.placements) this.schedule(this.ledger.claims.get(p.id)!);
      for (const r of out.alreadyClaimed) {
        const claim = this.ledger.claims.get(r.id);
        if (claim) this.schedule(claim);
      }
      for (const f of out.failures) this.fail(f.request);
      for (const r of out.retry) this.pending.set(r.request.id, r.request.kind);
      // Refused by the applier (a host went away between plan and commit): the registry
      // catches up in a moment; do not re-plan in a tight loop meanwhile.
      if (out.retry.length > 0 && out.placements.length === 0) await sleep(50, this.term.signal);
    }

    /** After a reconnect the server may have lost the consumer: reopen at once rather than wait for missed heartbeats. */
    reopenTail(): void {
      const t = this.tail;
      this.tail = null;
      void t?.close().catch(() => {});
    }

    async end(): Promise<void> {
      this.wake();
      const t = this.tail;
      this.tail = null;
      await t?.close().catch(() => {});
    }
  }

  function onHostChange(c: HostChange): void {
    if (c.type === 'down') {
      log.info({ host: c.hostname }, 'host lost');
      session?.hostDown(c.hostname);
    } else if (c.type === 'up') {
      log.info({ host: c.host.hostname }, 'host up');
    }
  }

  function onElected(term: LeaderTerm): void {
    stats.terms++;
    const s = new Session(term);
    const previous = session;
    session = s;
    void previous?.end();
    // The standby's view, once its tail has stopped (null without one).
    const sb = standby;
    standby = null;
    const warm = sb ? sb.stop() : Promise.resolve(null);
    term.signal.addEventListener(
      'abort',
      () => {
        if (session === s) session = null;
        void s.end();
        standBy();
      },
      { once: true },
    );
    s.run(warm).catch((err: unknown) => s.log.error({ err }, 'placement term failed'));
  }

  /** Folds the stream while not leading, so that a takeover starts from it. */
  function standBy(): void {
    if (stopping || standby || session) return;
    standby = new Standby();
  }

  /**
   * Writes snapshots of one view when it has folded enough past the latest
   * (at least snapshotEvery events, and one event per SNAPSHOT_BYTES_PER_EVENT
   * of the last snapshot, so a large view is not rewritten for a little
   * history; at most once per snapshotInterval). `maybe` is called between
   * folds, so the view is a cut at lastSeq; encodeViewSliced copies it at
   * once and encodes it in slices while folding goes on.
   *
   * A standby writes when due. A leader folds too, but writes only when no
   * other instance has written one within the spacing: with a standby the
   * leader spends nothing on snapshots, and a lone instance still leaves one
   * for its next start. A leader's view may hold a few consumers and the
   * ledger past lastSeq (its own appends, applied at once): the fold skips
   * what a view already has, so folding on from lastSeq + 1 gives the same.
   */
  function snapshotWriter(v: FoldedView, l: Logger, role: 'standby' | 'leader') {
    /** Folded up to this when the latest snapshot (ours or another instance's) was taken. */
    let snapshotSeq = 0;
    let snapshotBytes = 0;
    let lastAt = 0;
    let busy = false;
    const spacing = () => Math.max(snapshotEvery, Math.ceil(snapshotBytes / SNAPSHOT_BYTES_PER_EVENT));
    const write = async (seq: number, encoded: ReturnType<typeof encodeViewSliced>) => {
      const bytes = await snapshots!.write(seq, await encoded);
      snapshotSeq = seq;
      snapshotBytes = bytes;
      stats.snapshotsWritten++;
      l.info({ seq, bytes, role }, 'view snapshot written');
    };
    return {
      /** Starts counting from the latest snapshot there is. */
      async seed(): Promise<void> {
        if (snapshots) snapshotSeq = Math.max(v.lastSeq, await snapshots.latestSeq().catch(() => 0));
      },
      maybe(): void {
        if (!snapshots || busy) return;
        if (v.lastSeq - snapshotSeq < spacing() || Date.now() - lastAt < snapshotInterval) return;
        busy = true;
        lastAt = Date.now();
        // A standby cuts at once; another standby may have written a newer one meanwhile, ours is written anyway (it is valid).
        const cut = role === 'standby' ? { seq: v.lastSeq, encoded: encodeViewSliced(v) } : null;
        void (async () => {
          try {
            if (cut) return await write(cut.seq, cut.encoded);
            const latest = await snapshots.latestSeq();
            if (v.lastSeq - latest < spacing()) {
              snapshotSeq = Math.max(snapshotSeq, latest);
              return;
            }
            // Between folds again (a continuation, not inside one): cut here.
            await write(v.lastSeq, encodeViewSliced(v));
          } catch (err) {
            l.warn({ err: (err as Error).message, seq: v.lastSeq, role }, 'view snapshot not written');
          } finally {
            busy = false;
          }
        })();
      },
    };
  }

  class Standby extends FoldedView {
    private stopped = false;
    private tail: ConsumerMessages | null = null;
    private readonly done: Promise<void>;
    private readonly src: StreamSource = { nc: o.nc, streamName: o.streamName, domain: o.domain, log: log.child({ standby: true }) };

    constructor() {
      super();
      this.done = this.follow();
    }

    /** Stops following and hands over the view: consistent up to lastSeq. */
    async stop(): Promise<FoldedView> {
      this.stopped = true;
      this.reopenTail();
      await this.done;
      return this;
    }

    /** Closes the tail; it is opened again from where the view is (unless stopped). */
    reopenTail(): void {
      const t = this.tail;
      this.tail = null;
      void t?.close().catch(() => {});
    }

    private readonly snapshotter = snapshotWriter(this, this.src.log, 'standby');

    private onTailMessage(m: JsMsg): void {
      if (this.stopped) return;
      const e = decodeTail(this, m, this.src.log);
      if (e) foldEvent(this, e, o.domain);
      this.maybeSnapshot();
    }

    private maybeSnapshot(): void {
      if (!this.stopped) this.snapshotter.maybe();
    }

    private async follow(): Promise<void> {
      const active = () => !this.stopped;
      await fromSnapshot(this, this.src.log);
      await this.snapshotter.seed();
      while (active()) {
        try {
          await catchUp(this, this.src, active);
          break;
        } catch (err) {
          if (!active()) return;
          this.src.log.warn({ err: (err as Error).message, from: this.lastSeq + 1 }, 'standby fold failed; retrying');
          await sleep(500);
        }
      }
      this.maybeSnapshot();
      await tailStream(this, this.src, active, (m) => this.onTailMessage(m), (msgs) => (this.tail = msgs));
    }
  }

  let watchingStatus = false;
  function watchConnection(): void {
    if (watchingStatus) return;
    watchingStatus = true;
    void (async () => {
      for await (const st of o.nc.status()) {
        if (st.type === 'reconnect') {
          session?.reopenTail();
          standby?.reopenTail();
        }
      }
    })().catch(() => {});
  }

  return {
    async start() {
      stopping = false;
      watchConnection();
      await registry.start();
      unsubscribe = registry.onChange(onHostChange);
      standBy();
      election.start(onElected);
      log.info({ weigher: o.weigher }, 'placement started; campaigning');
    },
    async stop(opts = {}) {
      stopping = true;
      const s = session;
      session = null;
      const sb = standby;
      standby = null;
      await sb?.stop();
      await election.stop(opts);
      await s?.end();
      unsubscribe?.();
      unsubscribe = null;
      await registry.stop();
      log.info('placement stopped');
    },
    isLeader: () => session !== null && election.isLeader(),
    stats: () => ({ ...stats, standbySeq: standby?.lastSeq ?? 0, tombstones: (session ?? standby)?.deleted.size ?? 0 }),
  };
}
