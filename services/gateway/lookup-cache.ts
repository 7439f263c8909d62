/**
 * A cache of the small aggregates the gateway reads on every container
 * create: the default quota class, the project's quota (for the check that
 * nothing is limited) and the project's default network. Without it each
 * create asks the log three times (a direct get each) for aggregates that
 * change a few times a day.
 *
 * Freshness: a core NATS subscription on the cached kinds' subjects
 * (`zun.evt.<kind>.*`) drops an entry when an event of its aggregate is
 * appended, by any gateway. JetStream appends are ordinary publishes, so the
 * subscription sees each one as the stream does; on this gateway's own
 * connection it arrives before the append's ack, so the gateway reads its
 * own writes (the server hands a publish to core subscribers as it routes
 * it, and acks only once the stream has stored it). A reader on another gateway can see
 * the previous state for as long as the event takes to reach it (a
 * millisecond here), which is no different from its request arriving a
 * millisecond earlier. What is cached is only ever used where that holds:
 * fenced commands (a quota reservation, a network create) load afresh, and
 * their fence catches anything older.
 *
 * Whatever could make the subscription miss an event empties the cache: a
 * disconnect, a reconnect, a slow-consumer report; a subscription that
 * fails (a permissions violation) turns caching off for good. A load that
 * an event overtakes (the event arrives while the load runs) is returned
 * but not kept. Concurrent gets of one key share one load. Bounded: past
 * `maxEntries` the oldest entry goes.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { aggregateSubject, kindSubject, type AggregateKind } from '../../events/index.js';
import type { Logger } from '../platform/log.js';

export interface LookupCache {
  /** The aggregate's value: cached, or from `load` (kept unless an event of it arrived meanwhile). */
  get<T>(kind: AggregateKind, id: string, load: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** No cache: every get loads (a gateway without NATS, as in unit tests on the in-memory store). */
export const noLookupCache: LookupCache = {
  get: (_kind, _id, load) => load(),
  close: async () => {},
};

export async function createLookupCache(opts: {
  nc: NatsConnection;
  kinds: readonly AggregateKind[];
  log: Logger;
  maxEntries?: number;
}): Promise<LookupCache> {
  const { nc } = opts;
  const log = opts.log.child({ component: 'lookup-cache' });
  const maxEntries = opts.maxEntries ?? 10_000;
  const entries = new Map<string, unknown>();
  /** Loads in flight, by subject; an event for the subject (or a reset) removes its load, which then is not kept. */
  const loading = new Map<string, Promise<unknown>>();
  let closed = false;
  /** A subscription failed (a permissions violation, say): nothing is cached any more. */
  let broken = false;

  const drop = (subject: string) => {
    entries.delete(subject);
    loading.delete(subject);
  };
  const reset = (why: string) => {
    if (entries.size > 0 || loading.size > 0) log.info({ why, entries: entries.size }, 'lookup cache emptied');
    entries.clear();
    loading.clear();
  };

  const subs: Subscription[] = opts.kinds.map((kind) =>
    nc.subscribe(kindSubject(kind), {
      callback: (err, msg) => {
        if (!err) return drop(msg.subject);
        broken = true;
        log.warn({ err: err.message, kind }, 'lookup cache subscription failed; caching nothing from now on');
        reset('subscription failed');
      },
    }),
  );
  // The server has the subscriptions before anything is cached.
  await nc.flush();
  void (async () => {
    for await (const s of nc.status()) {
      if (closed) return;
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'staleConnection') reset(s.type);
      else if (s.type === 'slowConsumer' && subs.includes(s.sub)) reset(s.type);
    }
  })().catch(() => {});

  return {
    async get<T>(kind: AggregateKind, id: string, load: () => Promise<T>): Promise<T> {
      const subject = aggregateSubject(kind, id);
      if (entries.has(subject)) return entries.get(subject) as T;
      const pending = loading.get(subject);
      if (pending) return pending as Promise<T>;
      if (closed || broken || nc.isClosed()) return load();
      const p = load();
      loading.set(subject, p);
      try {
        const value = await p;
        if (loading.get(subject) === p) {
          entries.set(subject, value);
          if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
        }
        return value;
      } finally {
        if (loading.get(subject) === p) loading.delete(subject);
      }
    },
    async close() {
      closed = true;
      reset('closed');
      for (const s of subs) s.unsubscribe();
    },
  };
}
