/**
 * Hosts (1.4+), services and availability zones (zun-api.md a.4), from the
 * etcd host registry through the HostDirectory port (host-directory.ts).
 *
 * - A host is a host actor's registration (live or remembered). Its usage
 *   (mem_used, cpu_used, disk_used, total_containers) is the sum of the
 *   claims of the live containers the read model places on it.
 * - The services are the host actors, binary `zun-compute`; state `up` while
 *   the registration's lease lives (and the service is not forced down).
 *   enable / disable / force_down are operator settings stored under
 *   `zun/host-settings/<host>`; delete forgets a remembered host.
 * - Availability zones are the distinct zones of the services.
 *
 * Every call here is admin-only by Zun's default policies, except the
 * availability-zone list (admin or owner).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ContainerState } from '../../../domain/container.js';
import { DEFAULT_AVAILABILITY_ZONE } from '../../../domain/host.js';
import { ApiNotSupportedInVersion, InvalidValue, SchemaValidationError, ZunError } from '../errors.js';
import { COMPUTE_BINARY, isUp, type HostDirectory, type HostEntry } from '../host-directory.js';
import { atLeast, formatVersion } from '../microversion.js';
import { enforce } from '../policy.js';
import { uuidLike } from '../app.js';
import { buildUrl } from '../views.js';
import { BOOL_STRINGS, Schemas, pageOf, parsePageQuery, queryOf, sendNull, strictBool, strtime, validateParams, type RouteKit } from './kit.js';

export class ComputeNodeNotFound extends ZunError {
  constructor(ident: string) {
    super(404, 'compute-node-not-found', `Compute node ${ident} could not be found.`);
    this.name = 'ComputeNodeNotFound';
  }
}

export class ZunServiceNotFound extends ZunError {
  constructor(binary: string, host: string) {
    super(404, 'zun-service-not-found', `Zun service ${binary} on host ${host} could not be found.`);
    this.name = 'ZunServiceNotFound';
  }
}

export interface HostUsage {
  readonly memUsed: number;
  readonly cpuUsed: number;
  readonly diskUsed: number;
  readonly totalContainers: number;
}

/** Claims of live containers per host, from the read model. */
export function usageByHost(containers: readonly ContainerState[]): Map<string, HostUsage> {
  const out = new Map<string, { memUsed: number; cpuUsed: number; diskUsed: number; totalContainers: number }>();
  for (const s of containers) {
    if (!s.host || s.status === null || s.status === 'Deleted') continue;
    const u = out.get(s.host) ?? { memUsed: 0, cpuUsed: 0, diskUsed: 0, totalContainers: 0 };
    u.totalContainers++;
    if (s.claim) {
      u.memUsed += s.claim.memoryMiB;
      u.cpuUsed += s.claim.cpu;
      u.diskUsed += s.claim.diskGb;
    }
    out.set(s.host, u);
  }
  return out;
}

const NO_USAGE: HostUsage = { memUsed: 0, cpuUsed: 0, diskUsed: 0, totalContainers: 0 };

/** views/hosts_view.py format_host. */
export function hostView(baseUrl: string, e: HostEntry, u: HostUsage = NO_USAGE) {
  const r = e.record;
  return {
    uuid: r.uuid,
    links: [
      { href: buildUrl(baseUrl, 'hosts', r.uuid), rel: 'self' },
      { href: buildUrl(baseUrl, 'hosts', r.uuid, true), rel: 'bookmark' },
    ],
    hostname: r.hostname,
    mem_total: r.capacity.memoryMiB,
    mem_used: u.memUsed,
    cpus: r.capacity.cpus,
    cpu_used: u.cpuUsed,
    disk_total: r.capacity.diskGb,
    disk_used: u.diskUsed,
    disk_quota_supported: false,
    total_containers: u.totalContainers,
    os: r.os,
    os_type: r.osType,
    architecture: r.architecture,
    kernel_version: r.kernelVersion,
    labels: r.labels,
    runtimes: r.runtimes,
    enable_cpu_pinning: false,
  };
}

/** views/services_view.py format_service. */
export function serviceView(e: HostEntry) {
  return {
    id: e.serviceId,
    host: e.hostname,
    binary: COMPUTE_BINARY,
    state: isUp(e) ? 'up' : 'down',
    disabled: e.settings.disabled,
    disabled_reason: e.settings.disabledReason,
    forced_down: e.settings.forcedDown,
    report_count: e.reportCount,
    availability_zone: e.record.availabilityZone || DEFAULT_AVAILABILITY_ZONE,
    created_at: strtime(e.firstSeenAt),
    updated_at: strtime(e.lastSeenUpAt),
    last_seen_up: strtime(e.lastSeenUpAt),
  };
}

const HOST_SORT_KEYS = ['hostname', 'uuid', 'id', 'mem_total', 'cpus', 'disk_total', 'os', 'architecture'] as const;

export async function hostRoutes(app: FastifyInstance, o: { kit: RouteKit; directory: HostDirectory }): Promise<void> {
  const { kit, directory } = o;

  const since14 = (req: FastifyRequest) => {
    const v = kit.versionOf(req);
    if (!atLeast(v, 4)) throw new ApiNotSupportedInVersion(formatVersion(v));
  };
  const usage = async () => usageByHost(await kit.readModel.listContainers({}));

  // ---- hosts ----------------------------------------------------------------------------------------
  app.get('/v1/hosts', async (req) => {
    since14(req);
    enforce(kit.ctxOf(req), 'host:get_all');
    const q = parsePageQuery(queryOf(req), 'hostname', HOST_SORT_KEYS);
    const [entries, used] = await Promise.all([directory.list(), usage()]);
    const items = entries.map((e) => ({ uuid: e.record.uuid, e }));
    const sortKey = (i: (typeof items)[number]) => {
      const r = i.e.record;
      switch (q.sortKey) {
        case 'uuid':
          return r.uuid;
        case 'id':
          return i.e.serviceId;
        case 'mem_total':
          return r.capacity.memoryMiB;
        case 'cpus':
          return r.capacity.cpus;
        case 'disk_total':
          return r.capacity.diskGb;
        case 'os':
          return r.os;
        case 'architecture':
          return r.architecture;
        default:
          return r.hostname;
      }
    };
    const { page, next } = pageOf(items, q, sortKey, (m) => new ComputeNodeNotFound(m), { baseUrl: kit.baseUrlOf(req), resource: 'hosts' });
    return { hosts: page.map((i) => hostView(kit.baseUrlOf(req), i.e, used.get(i.e.hostname))), next };
  });

  app.get('/v1/hosts/:ident', async (req) => {
    since14(req);
    enforce(kit.ctxOf(req), 'host:get');
    const ident = (req.params as { ident: string }).ident;
    const uuid = uuidLike(ident);
    const entries = await directory.list();
    const e = entries.find((x) => (uuid ? x.record.uuid === uuid : x.hostname === ident));
    if (!e) throw new ComputeNodeNotFound(ident);
    return hostView(kit.baseUrlOf(req), e, (await usage()).get(e.hostname));
  });

  // ---- services --------------------------------------------------------------------------------------
  app.get('/v1/services', async (req) => {
    enforce(kit.ctxOf(req), 'zun-service:get_all');
    return { services: (await directory.list()).map(serviceView) };
  });

  /** host and binary name an existing zun-compute service; the query is validated first. */
  async function service(params: Record<string, unknown>): Promise<{ host: string; binary: string }> {
    const host = params['host'];
    const binary = params['binary'];
    if (typeof host !== 'string') throw new SchemaValidationError("'host' is a required property");
    if (typeof binary !== 'string') throw new SchemaValidationError("'binary' is a required property");
    if (binary !== COMPUTE_BINARY || !(await directory.get(host))) throw new ZunServiceNotFound(binary, host);
    return { host, binary };
  }

  app.delete('/v1/services', async (req, reply) => {
    enforce(kit.ctxOf(req), 'zun-service:delete');
    const { host } = await service(kit.merged(req));
    await directory.forget(host);
    return sendNull(reply, 200);
  });

  app.put('/v1/services/enable', async (req) => {
    validateParams('query', queryOf(req), { host: Schemas.hostname, binary: Schemas.binary });
    enforce(kit.ctxOf(req), 'zun-service:enable');
    const { host, binary } = await service(kit.merged(req));
    await directory.updateSettings(host, { disabled: false, disabledReason: null });
    return { service: { host, binary, disabled: false, disabled_reason: null } };
  });

  app.put('/v1/services/disable', async (req) => {
    validateParams('query', queryOf(req), { host: Schemas.hostname, binary: Schemas.binary, disabled_reason: Schemas.reason });
    enforce(kit.ctxOf(req), 'zun-service:disable');
    const p = kit.merged(req);
    const { host, binary } = await service(p);
    const reason = typeof p['disabled_reason'] === 'string' ? p['disabled_reason'] : null;
    await directory.updateSettings(host, { disabled: true, disabledReason: reason });
    return { service: { host, binary, disabled: true, disabled_reason: reason } };
  });

  app.put('/v1/services/force_down', async (req) => {
    validateParams('query', queryOf(req), { host: Schemas.hostname, binary: Schemas.binary, forced_down: Schemas.boolean });
    enforce(kit.ctxOf(req), 'zun-service:force_down');
    const p = kit.merged(req);
    const { host, binary } = await service(p);
    if (p['forced_down'] === undefined) throw new SchemaValidationError("'forced_down' is a required property");
    const forcedDown = strictBool(p['forced_down'], false, () => new InvalidValue(`Valid forced_down values are: ${BOOL_STRINGS}`));
    await directory.updateSettings(host, { forcedDown });
    return { service: { host, binary, forced_down: forcedDown } };
  });

  // ---- availability zones --------------------------------------------------------------------------
  app.get('/v1/availability_zones', async (req) => {
    enforce(kit.ctxOf(req), 'availability_zones:get_all');
    parsePageQuery(queryOf(req), 'availability_zone', ['availability_zone', 'id', 'host']);
    const zones = [...new Set((await directory.list()).map((e) => e.record.availabilityZone || DEFAULT_AVAILABILITY_ZONE))].sort();
    return { availability_zones: zones.map((availability_zone) => ({ availability_zone })), next: null };
  });
}
