/**
 * The Neutron subset this service serves for its own bridge networks, so
 * that `nets: [{"port": ...}]` works without a Neutron: ports, and read-only
 * networks and subnets (to learn a network's subnets before choosing fixed
 * IPs). Paths and bodies follow Neutron's v2.0 API; errors are Zun's body
 * like every other route here.
 *
 *   GET    /v2.0/networks[?name=&id=]      {"networks":[...]}   networks the caller may use
 *   GET    /v2.0/networks/{id}             {"network":{...}}    by Neutron id, Zun id or name
 *   GET    /v2.0/subnets[?network_id=]     {"subnets":[...]}    one v4 and (newer networks) one v6 per network
 *   POST   /v2.0/ports                     201 {"port":{...}}   {"port":{"network_id", "name"?, "fixed_ips"?:[{"ip_address"?,"subnet_id"?}]}}
 *   GET    /v2.0/ports[?network_id=&device_id=&name=]  {"ports":[...]}
 *   GET    /v2.0/ports/{id}                {"port":{...}}
 *   DELETE /v2.0/ports/{id}                204; 400 PortInUse while a live container holds it
 *
 * A port's addresses are decided by one fenced append on its network
 * (domain/network.ts decideCreatePort): two ports never share an address.
 * A container takes a port with `nets: [{"port": "<id>"}]` (or
 * network_attach port=<id>): the gateway binds it fenced (PortInUse, 400, if
 * a live container holds it), and the container gets the port's addresses
 * as fixed IPs; its `addresses` name the port, preserve_on_delete true.
 * Deleting the container frees the port; the port stays.
 *
 * Not Neutron: no updates (PUT), no security groups, no admin_state_up,
 * device_owner is "compute:zun" while bound. Kuryr deployments use the real
 * Neutron instead (NETWORK_DRIVER=kuryr).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { isIPv4, isIPv6 } from 'node:net';
import type { NetworkState, PortState } from '../../../domain/network.js';
import { InvalidValue, SchemaValidationError } from '../errors.js';
import type { ResourceService } from '../resources.js';
import { callerOf, jsonObject, queryOf, requireJson } from './common.js';

export interface NeutronRoutesOptions {
  readonly resources: ResourceService;
}

/** The subnet ids of a bridge network: its Zun id for IPv4 (as in `addresses`), and that with -v6 for IPv6. */
export const subnetIdOf = (network: NetworkState, version: 4 | 6): string => (version === 4 ? network.id : `${network.id}-v6`);

export function subnetViews(n: NetworkState): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const base = { network_id: n.neutronNetId, tenant_id: n.projectId, project_id: n.projectId, enable_dhcp: false, created_at: n.createdAt };
  if (n.cidr) out.push({ ...base, id: subnetIdOf(n, 4), name: `${n.name}-v4`, ip_version: 4, cidr: n.cidr, gateway_ip: n.gateway });
  if (n.cidrV6) out.push({ ...base, id: subnetIdOf(n, 6), name: `${n.name}-v6`, ip_version: 6, cidr: n.cidrV6, gateway_ip: n.gatewayV6 });
  return out;
}

export function networkNeutronView(n: NetworkState): Record<string, unknown> {
  return {
    id: n.neutronNetId,
    name: n.name,
    tenant_id: n.projectId,
    project_id: n.projectId,
    status: 'ACTIVE',
    admin_state_up: true,
    shared: false,
    subnets: subnetViews(n).map((s) => s['id']),
    created_at: n.createdAt,
    'zun:network_uuid': n.id,
  };
}

export function portView(n: NetworkState, p: PortState, deviceId: string | null): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    network_id: n.neutronNetId,
    tenant_id: p.projectId,
    project_id: p.projectId,
    mac_address: p.macAddress,
    admin_state_up: true,
    status: deviceId ? 'ACTIVE' : 'DOWN',
    device_id: deviceId ?? '',
    device_owner: deviceId ? 'compute:zun' : '',
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: subnetIdOf(n, f.version), ip_address: f.ip })),
    security_groups: [],
    created_at: p.createdAt,
  };
}

const str = (q: Record<string, unknown>, k: string): string | undefined => (typeof q[k] === 'string' ? (q[k] as string) : undefined);

export const neutronRoutes: FastifyPluginAsync<NeutronRoutesOptions> = async (app, { resources }) => {
  const caller = (req: FastifyRequest) => ({ auth: callerOf(req), requestId: req.id });
  const paramId = (req: FastifyRequest) => (req.params as { id: string }).id;

  /** A bound port's holder, or null when the binding is void (holder deleted or no longer using it). */
  const deviceOf = async (p: PortState): Promise<string | null> =>
    p.boundTo !== null && !(await resources.stalePortHolders(p)).includes(p.boundTo) ? p.boundTo : null;

  const usable = async (req: FastifyRequest): Promise<NetworkState[]> => {
    const auth = callerOf(req);
    return (await resources.allNetworks()).filter((n) => auth.isAdmin || n.projectId === auth.projectId);
  };

  app.get('/v2.0/networks', async (req) => {
    const q = queryOf(req);
    const name = str(q, 'name');
    const id = str(q, 'id');
    const nets = (await usable(req)).filter((n) => (name === undefined || n.name === name) && (id === undefined || n.neutronNetId === id));
    return { networks: nets.map(networkNeutronView) };
  });

  app.get('/v2.0/networks/:id', async (req) => {
    const n = await resources.findNetwork(caller(req), paramId(req));
    return { network: networkNeutronView(n) };
  });

  app.get('/v2.0/subnets', async (req) => {
    const q = queryOf(req);
    const net = str(q, 'network_id');
    const nets = (await usable(req)).filter((n) => net === undefined || n.neutronNetId === net || n.id === net);
    return { subnets: nets.flatMap(subnetViews) };
  });

  app.post('/v2.0/ports', async (req, reply) => {
    requireJson(req);
    const body = jsonObject(req);
    const port = body['port'];
    if (typeof port !== 'object' || port === null || Array.isArray(port)) throw new SchemaValidationError(`'port' is a required property`);
    const p = port as Record<string, unknown>;
    for (const k of Object.keys(p)) {
      if (!['network_id', 'name', 'fixed_ips', 'admin_state_up', 'description'].includes(k)) {
        throw new InvalidValue(`Unrecognized attribute(s) '${k}'`);
      }
    }
    if (typeof p['network_id'] !== 'string' || p['network_id'] === '') throw new InvalidValue(`Failed to parse request. Required attribute 'network_id' not specified`);
    if (p['name'] !== undefined && (typeof p['name'] !== 'string' || p['name'].length > 255)) throw new InvalidValue(`Invalid input for name: must be a string of at most 255 characters.`);
    let fixedIps: { ip?: string; version?: 4 | 6 }[] | undefined;
    if (p['fixed_ips'] !== undefined) {
      if (!Array.isArray(p['fixed_ips'])) throw new InvalidValue(`Invalid input for fixed_ips: must be a list.`);
      const network = await resources.findNetwork(caller(req), p['network_id']);
      fixedIps = p['fixed_ips'].map((f: unknown) => {
        if (typeof f !== 'object' || f === null) throw new InvalidValue(`Invalid input for fixed_ips: ${JSON.stringify(f)} is not a dict.`);
        const e = f as Record<string, unknown>;
        const ip = e['ip_address'];
        const subnet = e['subnet_id'];
        if (ip !== undefined && (typeof ip !== 'string' || (!isIPv4(ip) && !isIPv6(ip)))) throw new InvalidValue(`Invalid input for fixed_ips: '${String(ip)}' is not a valid IP address.`);
        let version: 4 | 6 | undefined;
        if (subnet !== undefined) {
          if (subnet === subnetIdOf(network, 4) && network.cidr) version = 4;
          else if (subnet === subnetIdOf(network, 6) && network.cidrV6) version = 6;
          else throw new InvalidValue(`Invalid input for fixed_ips: subnet ${String(subnet)} is not a subnet of network ${p['network_id'] as string}.`);
        }
        if (ip === undefined && version === undefined) throw new InvalidValue(`Invalid input for fixed_ips: give ip_address or subnet_id.`);
        return { ...(ip !== undefined ? { ip: ip as string } : {}), ...(version !== undefined ? { version } : {}) };
      });
    }
    const created = await resources.createPort(caller(req), {
      network: p['network_id'],
      name: typeof p['name'] === 'string' ? p['name'] : '',
      ...(fixedIps ? { fixedIps } : {}),
    });
    req.log.info({ port: created.port.id, network: created.network.id, fixedIps: created.port.fixedIps }, 'port created');
    return reply.code(201).send({ port: portView(created.network, created.port, null) });
  });

  app.get('/v2.0/ports', async (req) => {
    const q = queryOf(req);
    const net = str(q, 'network_id');
    const device = str(q, 'device_id');
    const name = str(q, 'name');
    const out: Record<string, unknown>[] = [];
    for (const { network, port } of await resources.listPorts(caller(req))) {
      if (net !== undefined && network.neutronNetId !== net && network.id !== net) continue;
      if (name !== undefined && port.name !== name) continue;
      const deviceId = await deviceOf(port);
      if (device !== undefined && (deviceId ?? '') !== device) continue;
      out.push(portView(network, port, deviceId));
    }
    return { ports: out };
  });

  app.get('/v2.0/ports/:id', async (req) => {
    const { network, port } = await resources.findPort(caller(req), paramId(req));
    return { port: portView(network, port, await deviceOf(port)) };
  });

  app.delete('/v2.0/ports/:id', async (req, reply) => {
    await resources.deletePort(caller(req), paramId(req));
    req.log.info({ port: paramId(req) }, 'port deleted');
    return reply.code(204).send();
  });
};
