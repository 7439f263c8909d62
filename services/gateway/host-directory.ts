/**
 * What the gateway knows about compute hosts (hosts, services and
 * availability-zone APIs), read from etcd:
 *
 * - `zun/hosts/<host>` (domain/host.ts HOST_REGISTRY_PREFIX): the live
 *   registry, a HostRecord put by the host actor under its lease. Present =
 *   the service is up (Zun's servicegroup heartbeat).
 * - `zun/host-settings/<host>` (HOST_SETTINGS_PREFIX): operator settings that
 *   outlive the lease: `{disabled, disabledReason, forcedDown}`. Placement's
 *   registry (services/placement/registry.ts) merges `disabled` and
 *   `disabledReason` over the live record, as this directory does; the host
 *   actor also reads them into its record when it registers. The registry
 *   keys themselves are never written here: they belong to the host actors.
 * - `zun/services/<host>` (SERVICE_RECORD_PREFIX): the gateway's memory of
 *   every host it has seen up, without a lease, so that a host that went
 *   away is still listed (state `down`), as Zun keeps its service rows. It is
 *   written when a live host is seen whose memory is missing or stale (at
 *   most once a minute per host); its etcd create revision is the service's
 *   stable integer `id`. Deleting a service forgets it (and its settings).
 *
 * Liveness is the lease's: `alive` = the registry key exists and the host is
 * not forced down.
 */
import type { Etcd3 } from 'etcd3';
import { HOST_REGISTRY_PREFIX, HOST_SETTINGS_PREFIX, hostRegistryKey, type HostRecord } from '../../domain/host.js';
import type { Logger } from '../platform/log.js';

export const SERVICE_RECORD_PREFIX = 'zun/services/';
/** Zun's binary name for a compute service: every host actor is one. */
export const COMPUTE_BINARY = 'zun-compute';

export interface HostSettings {
  readonly disabled: boolean;
  readonly disabledReason: string | null;
  readonly forcedDown: boolean;
}

export const DEFAULT_SETTINGS: HostSettings = { disabled: false, disabledReason: null, forcedDown: false };

export interface HostEntry {
  readonly hostname: string;
  /** The live record, or the last one seen when the host is down. */
  readonly record: HostRecord;
  /** The registry key exists (lease alive). */
  readonly registered: boolean;
  readonly settings: HostSettings;
  /** Stable integer id of the service (etcd create revision of its memory); 0 when not remembered yet. */
  readonly serviceId: number;
  readonly firstSeenAt: string;
  readonly lastSeenUpAt: string | null;
  /** How many times the host was seen up and remembered. */
  readonly reportCount: number;
}

export const isUp = (e: HostEntry) => e.registered && !e.settings.forcedDown;

export interface HostDirectory {
  /** Every host seen, live or remembered, sorted by name. */
  list(): Promise<HostEntry[]>;
  get(hostname: string): Promise<HostEntry | null>;
  /** Merges `patch` into the host's settings; returns the result. */
  updateSettings(hostname: string, patch: Partial<HostSettings>): Promise<HostSettings>;
  /** Forgets a host (its memory and settings); false when it was not known. */
  forget(hostname: string): Promise<boolean>;
}

interface ServiceMemory {
  readonly record: HostRecord;
  readonly firstSeenAt: string;
  readonly lastSeenUpAt: string;
}

function parseSettings(raw: string | null | undefined): HostSettings {
  if (!raw) return DEFAULT_SETTINGS;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    return {
      disabled: v['disabled'] === true,
      disabledReason: typeof v['disabledReason'] === 'string' ? v['disabledReason'] : null,
      forcedDown: v['forcedDown'] === true,
    };
  } catch {
    return DEFAULT_SETTINGS;
  }
}

function parseJson<T>(raw: string | null | undefined): T | null {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/** A remembered record is refreshed when older than this, or when the live record changed. */
const REMEMBER_EVERY_MS = 60_000;

export function createEtcdHostDirectory(o: { etcd: Etcd3; now: () => Date; log: Logger }): HostDirectory {
  const { etcd } = o;
  const log = o.log.child({ component: 'host-directory' });

  async function remember(hostname: string, record: HostRecord, prev: { mem: ServiceMemory | null }): Promise<void> {
    const at = o.now();
    const fresh = prev.mem && at.getTime() - Date.parse(prev.mem.lastSeenUpAt) < REMEMBER_EVERY_MS && JSON.stringify(prev.mem.record) === JSON.stringify(record);
    if (fresh) return;
    const mem: ServiceMemory = { record, firstSeenAt: prev.mem?.firstSeenAt ?? at.toISOString(), lastSeenUpAt: at.toISOString() };
    try {
      await etcd.put(`${SERVICE_RECORD_PREFIX}${hostname}`).value(JSON.stringify(mem));
    } catch (err) {
      log.warn({ err: (err as Error).message, hostname }, 'cannot remember the host');
    }
  }

  async function load(): Promise<HostEntry[]> {
    const [live, settings, memories] = await Promise.all([
      etcd.getAll().prefix(HOST_REGISTRY_PREFIX).strings(),
      etcd.getAll().prefix(HOST_SETTINGS_PREFIX).strings(),
      etcd.getAll().prefix(SERVICE_RECORD_PREFIX).exec(),
    ]);
    const mems = new Map<string, { mem: ServiceMemory | null; id: number; version: number }>();
    for (const kv of memories.kvs) {
      const hostname = kv.key.toString().slice(SERVICE_RECORD_PREFIX.length);
      mems.set(hostname, { mem: parseJson<ServiceMemory>(kv.value.toString()), id: Number(kv.create_revision), version: Number(kv.version) });
    }
    const names = new Set<string>();
    for (const k of Object.keys(live)) names.add(k.slice(HOST_REGISTRY_PREFIX.length));
    for (const k of mems.keys()) names.add(k);
    const out: HostEntry[] = [];
    const writes: Promise<void>[] = [];
    for (const hostname of [...names].sort()) {
      const rec = parseJson<HostRecord>(live[hostRegistryKey(hostname)]);
      const m = mems.get(hostname);
      const seen = rec ?? m?.mem?.record;
      if (!seen) continue;
      if (rec) writes.push(remember(hostname, rec, { mem: m?.mem ?? null }));
      const st = parseSettings(settings[`${HOST_SETTINGS_PREFIX}${hostname}`]);
      out.push({
        hostname,
        // Settings win over what the actor read at registration, as in placement.
        record: { ...seen, disabled: st.disabled, disabledReason: st.disabledReason },
        registered: rec !== null,
        settings: st,
        serviceId: m?.id ?? 0,
        firstSeenAt: m?.mem?.firstSeenAt ?? seen.startedAt,
        lastSeenUpAt: rec ? o.now().toISOString() : (m?.mem?.lastSeenUpAt ?? null),
        reportCount: m?.version ?? 0,
      });
    }
    await Promise.all(writes);
    // Hosts remembered just now get their id on the next read; give them one now.
    const missing = out.filter((e) => e.serviceId === 0);
    if (missing.length > 0) {
      const again = await etcd.getAll().prefix(SERVICE_RECORD_PREFIX).exec();
      const ids = new Map(again.kvs.map((kv) => [kv.key.toString().slice(SERVICE_RECORD_PREFIX.length), Number(kv.create_revision)]));
      return out.map((e) => (e.serviceId === 0 ? { ...e, serviceId: ids.get(e.hostname) ?? 0, reportCount: Math.max(1, e.reportCount) } : e));
    }
    return out;
  }

  return {
    list: load,
    async get(hostname) {
      return (await load()).find((e) => e.hostname === hostname) ?? null;
    },
    async updateSettings(hostname, patch) {
      const key = `${HOST_SETTINGS_PREFIX}${hostname}`;
      const current = parseSettings(await etcd.get(key).string());
      const next: HostSettings = { ...current, ...patch };
      await etcd.put(key).value(JSON.stringify(next));
      return next;
    },
    async forget(hostname) {
      const res = await etcd.delete().key(`${SERVICE_RECORD_PREFIX}${hostname}`).exec();
      await etcd.delete().key(`${HOST_SETTINGS_PREFIX}${hostname}`).exec();
      return Number(res.deleted) > 0;
    },
  };
}

/** The in-memory twin, for unit tests: records are set and dropped by the test. */
export interface MemoryHostDirectory extends HostDirectory {
  put(record: HostRecord): void;
  /** The lease expired: the host is remembered but no longer registered. */
  expire(hostname: string): void;
}

export function createMemoryHostDirectory(now: () => Date = () => new Date()): MemoryHostDirectory {
  const live = new Map<string, HostRecord>();
  const mem = new Map<string, { record: HostRecord; id: number; firstSeenAt: string; lastSeenUpAt: string; reports: number }>();
  const settings = new Map<string, HostSettings>();
  let nextId = 1;
  const entry = (hostname: string): HostEntry | null => {
    const rec = live.get(hostname);
    const m = mem.get(hostname);
    const seen = rec ?? m?.record;
    if (!seen || !m) return null;
    const st = settings.get(hostname) ?? DEFAULT_SETTINGS;
    return {
      hostname,
      record: { ...seen, disabled: st.disabled, disabledReason: st.disabledReason },
      registered: rec !== undefined,
      settings: st,
      serviceId: m.id,
      firstSeenAt: m.firstSeenAt,
      lastSeenUpAt: rec ? now().toISOString() : m.lastSeenUpAt,
      reportCount: m.reports,
    };
  };
  return {
    put(record) {
      live.set(record.hostname, record);
      const m = mem.get(record.hostname);
      const at = now().toISOString();
      mem.set(record.hostname, { record, id: m?.id ?? nextId++, firstSeenAt: m?.firstSeenAt ?? at, lastSeenUpAt: at, reports: (m?.reports ?? 0) + 1 });
    },
    expire(hostname) {
      live.delete(hostname);
    },
    async list() {
      return [...mem.keys()].sort().map(entry).filter((e): e is HostEntry => e !== null);
    },
    async get(hostname) {
      return entry(hostname);
    },
    async updateSettings(hostname, patch) {
      const next = { ...(settings.get(hostname) ?? DEFAULT_SETTINGS), ...patch };
      settings.set(hostname, next);
      return next;
    },
    async forget(hostname) {
      settings.delete(hostname);
      return mem.delete(hostname);
    },
  };
}
