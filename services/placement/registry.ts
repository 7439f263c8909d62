/**
 * The host inventory as placement sees it: the live registry under
 * `zun/hosts/` (one lease-backed key per host actor; a key that vanishes is a
 * lost host) merged with operator settings under `zun/host-settings/`
 * (enable/disable, outliving the lease).
 *
 * One range read, then one watch from the next revision over the common
 * prefix `zun/host`, so no change between the read and the watch is missed.
 * If the watch cannot resume (history compacted, etcd replaced) the registry
 * lists again and reports the difference as ups and downs. Listeners are
 * called synchronously, in etcd order, never for a host whose state did not
 * change.
 */
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { HOST_REGISTRY_PREFIX, HOST_SETTINGS_PREFIX, hostRegistryKey, type HostRecord } from '../../domain/host.js';
import type { Logger } from '../platform/log.js';

export interface HostSettings {
  readonly disabled: boolean;
  readonly disabledReason: string | null;
}

export type HostChange =
  | { readonly type: 'up'; readonly host: HostRecord }
  | { readonly type: 'updated'; readonly host: HostRecord }
  | { readonly type: 'down'; readonly hostname: string };

export interface PlacementHostRegistry {
  /** Lists and starts watching; resolves once the first listing is in (retrying until etcd answers). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once listed, and while the watch is connected. */
  synced(): boolean;
  /** The live hosts with their settings applied, ordered by hostname. */
  hosts(): readonly HostRecord[];
  get(hostname: string): HostRecord | undefined;
  isAlive(hostname: string): boolean;
  onChange(listener: (change: HostChange) => void): () => void;
}

const COMMON_PREFIX = 'zun/host';

function parseRecord(raw: string, log: Logger): HostRecord | null {
  try {
    const v = JSON.parse(raw) as HostRecord;
    if (typeof v?.hostname !== 'string' || typeof v.capacity?.cpus !== 'number') throw new Error('not a HostRecord');
    return v;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'ignoring a malformed host record');
    return null;
  }
}

function parseSettings(raw: string): HostSettings {
  try {
    const v = JSON.parse(raw) as { disabled?: unknown; disabledReason?: unknown; forcedDown?: unknown };
    // A service an operator forced down (PUT /v1/services/force_down) is down
    // for placement, like one whose lease lapsed (Zun's ComputeFilter).
    if (v.forcedDown === true) return { disabled: true, disabledReason: 'forced down' };
    return { disabled: v.disabled === true, disabledReason: typeof v.disabledReason === 'string' ? v.disabledReason : null };
  } catch {
    return { disabled: false, disabledReason: null };
  }
}

export function createHostRegistryView(o: { etcd: Etcd3; log: Logger }): PlacementHostRegistry {
  const log = o.log.child({ component: 'host-registry' });
  const records = new Map<string, HostRecord>();
  const settings = new Map<string, HostSettings>();
  const listeners = new Set<(c: HostChange) => void>();
  let cache: HostRecord[] | null = null;
  let watcher: Watcher | null = null;
  let listed = false;
  let connected = false;
  let stopped = false;

  const effective = (r: HostRecord): HostRecord => {
    const s = settings.get(r.hostname);
    return s ? { ...r, disabled: s.disabled, disabledReason: s.disabledReason } : r;
  };
  const emit = (c: HostChange) => {
    cache = null;
    for (const l of listeners) {
      try {
        l(c);
      } catch (err) {
        log.error({ err }, 'host change listener failed');
      }
    }
  };

  function applyPut(key: string, value: string): void {
    if (key.startsWith(HOST_REGISTRY_PREFIX)) {
      const r = parseRecord(value, log);
      if (!r) return;
      const had = records.has(r.hostname);
      records.set(r.hostname, r);
      emit(had ? { type: 'updated', host: effective(r) } : { type: 'up', host: effective(r) });
    } else if (key.startsWith(HOST_SETTINGS_PREFIX)) {
      const name = key.slice(HOST_SETTINGS_PREFIX.length);
      settings.set(name, parseSettings(value));
      const r = records.get(name);
      if (r) emit({ type: 'updated', host: effective(r) });
    }
  }

  function applyDelete(key: string): void {
    if (key.startsWith(HOST_REGISTRY_PREFIX)) {
      const name = key.slice(HOST_REGISTRY_PREFIX.length);
      if (records.delete(name)) emit({ type: 'down', hostname: name });
    } else if (key.startsWith(HOST_SETTINGS_PREFIX)) {
      const name = key.slice(HOST_SETTINGS_PREFIX.length);
      settings.delete(name);
      const r = records.get(name);
      if (r) emit({ type: 'updated', host: r });
    }
  }

  /** Lists everything and reconciles the maps with it; returns the revision read. */
  async function list(): Promise<string> {
    const res = await o.etcd.getAll().prefix(COMMON_PREFIX).exec();
    const seen = new Set<string>();
    settings.clear();
    const puts: [string, string][] = [];
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      const value = kv.value.toString();
      if (key.startsWith(HOST_SETTINGS_PREFIX)) settings.set(key.slice(HOST_SETTINGS_PREFIX.length), parseSettings(value));
      else if (key.startsWith(HOST_REGISTRY_PREFIX)) puts.push([key, value]);
    }
    for (const [key, value] of puts) {
      const r = parseRecord(value, log);
      if (!r) continue;
      seen.add(r.hostname);
      const before = records.get(r.hostname);
      records.set(r.hostname, r);
      if (!before) emit({ type: 'up', host: effective(r) });
      else if (JSON.stringify(before) !== value) emit({ type: 'updated', host: effective(r) });
      void key;
    }
    for (const name of [...records.keys()]) {
      if (!seen.has(name)) {
        records.delete(name);
        emit({ type: 'down', hostname: name });
      }
    }
    cache = null;
    return res.header.revision;
  }

  async function watchFrom(revision: string): Promise<void> {
    const next = (BigInt(revision) + 1n).toString();
    const w = await o.etcd.watch().prefix(COMMON_PREFIX).startRevision(next).create();
    if (stopped) {
      await w.cancel();
      return;
    }
    watcher = w;
    connected = true;
    w.on('put', (kv) => applyPut(kv.key.toString(), kv.value.toString()));
    w.on('delete', (kv) => applyDelete(kv.key.toString()));
    w.on('disconnected', (err) => {
      connected = false;
      log.warn({ err: err.message }, 'registry watch disconnected; etcd3 reconnects it');
    });
    w.on('connected', () => {
      connected = true;
    });
    w.on('error', (err) => {
      // Unrecoverable for this watcher (e.g. its revision was compacted): list and watch again.
      log.warn({ err: err.message }, 'registry watch failed; listing again');
      connected = false;
      if (watcher === w) watcher = null;
      void w.cancel().catch(() => {});
      void resync();
    });
  }

  let resyncing: Promise<void> | null = null;
  function resync(): Promise<void> {
    resyncing ??= (async () => {
      let delay = 200;
      while (!stopped) {
        try {
          const rev = await list();
          listed = true;
          await watchFrom(rev);
          return;
        } catch (err) {
          log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot list the host registry');
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 5_000);
        }
      }
    })().finally(() => {
      resyncing = null;
    });
    return resyncing;
  }

  return {
    async start() {
      stopped = false;
      await resync();
    },
    async stop() {
      stopped = true;
      const w = watcher;
      watcher = null;
      connected = false;
      await w?.cancel().catch(() => {});
    },
    synced: () => listed && connected,
    hosts() {
      cache ??= [...records.values()].map(effective).sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
      return cache;
    },
    get(hostname) {
      const r = records.get(hostname);
      return r ? effective(r) : undefined;
    },
    isAlive: (hostname) => records.has(hostname),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

// ---------------------------------------------------------------------------
// Registration helpers (tests, benchmarks; host actors use their own registry)

export interface Registration {
  readonly lease: Lease;
  /** Revokes the lease: the keys go at once. */
  revoke(): Promise<void>;
  /** Stops the keepalive: the keys go when the TTL runs out, as when a host dies. */
  lapse(): void;
}

/** Registers one host under its own lease (kept alive until revoked or lapsed). */
export async function registerHost(etcd: Etcd3, record: HostRecord, ttlSeconds: number): Promise<Registration> {
  return registerHosts(etcd, [record], ttlSeconds);
}

/** Registers many hosts under one shared lease, `concurrency` puts in flight. */
export async function registerHosts(etcd: Etcd3, records: readonly HostRecord[], ttlSeconds: number, concurrency = 256): Promise<Registration> {
  const lease = etcd.lease(ttlSeconds);
  const id = await lease.grant();
  let i = 0;
  const worker = async () => {
    while (i < records.length) {
      const r = records[i++]!;
      await etcd.put(hostRegistryKey(r.hostname)).value(JSON.stringify(r)).lease(id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, records.length) }, worker));
  return {
    lease,
    revoke: () => lease.revoke(),
    lapse: () => lease.release(),
  };
}

/** Sets the operator switch for a host (the services API's disable/enable). */
export async function setHostSettings(etcd: Etcd3, hostname: string, s: HostSettings): Promise<void> {
  await etcd.put(`${HOST_SETTINGS_PREFIX}${hostname}`).value(JSON.stringify(s));
}
