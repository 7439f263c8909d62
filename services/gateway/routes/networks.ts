/**
 * Networks (zun/api/controllers/v1/networks.py) and a container's networks
 * (containers.py network_attach / network_detach / network_list).
 *
 *   POST   /v1/networks                          200 {uuid,name,project_id,user_id,network_id,neutron_net_id}; admin; JSON only
 *   DELETE /v1/networks/{neutron_net_id}         204; 1.27; admin; 409 while a container or capsule is on it
 *   POST   /v1/containers/{ident}/network_attach 200 null; 1.8; network (or the project's default), fixed_ip
 *   POST   /v1/containers/{ident}/network_detach 202 null; 1.6; network, or port (its endpoint id here)
 *   GET    /v1/containers/{ident}/network_list   200 {"networks":[...]}; 1.13; flat entries up to 1.17, grouped by port from 1.18
 *
 * Networks are event-sourced (aggregate kind `network`); their subnets come
 * from the IPAM ledger (services/gateway/resources.ts). Attach and detach
 * are intents on the container (ContainerNetworkAttachRequested /
 * DetachRequested); the host actor connects or disconnects and records the
 * addresses it sees (ContainerNetworkAttached / Detached), which network_list
 * and the container view's `addresses` show.
 *
 * Differences from Zun: `network_id` (the Docker network id) is null, since
 * the Docker network is made per host when a container there first needs it.
 * With the bridge driver, ports are this service's own (routes/neutron.ts,
 * /v2.0/ports): `port` on attach takes one; on detach `port` names a port id
 * or, for a container without one, the Docker endpoint id shown in
 * `addresses`.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { isIPv4, isIPv6 } from 'node:net';
import type { NetRequest } from '../../../events/index.js';
import { addressesOf, desiredNets, netKey, observedNetworks, type ContainerState } from '../../../domain/container.js';
import type { CapsuleState } from '../../../domain/capsule.js';
import type { NetworkState } from '../../../domain/network.js';
import { InvalidValue, SchemaValidationError } from '../errors.js';
import { atLeast } from '../microversion.js';
import { enforce } from '../policy.js';
import type { ResourceService } from '../resources.js';
import { fieldError, unknownKeysError, type FieldSchema } from '../validate.js';
import { callerOf, jsonObject, mergedParams, requireJson, requireVersion } from './common.js';
import { identOf, sendNull, type RouteKit } from './kit.js';

export interface NetworkRoutesOptions {
  readonly kit: RouteKit;
  readonly resources: ResourceService;
  /** Every live capsule (for "in use" on delete). */
  readonly listCapsules: () => Promise<CapsuleState[]>;
}

// parameter_types.py neutron_net_id / network_name
const NET_NAME: FieldSchema = { type: ['string', 'null'], minLength: 2, maxLength: 255, pattern: /[a-zA-Z0-9][a-zA-Z0-9_.-]/ };
const ATTACH: Readonly<Record<string, FieldSchema>> = {
  network: { type: ['string'], minLength: 1, maxLength: 255 },
  fixed_ip: { type: ['string'] },
  port: { type: ['string'], minLength: 1, maxLength: 255 },
};
const DETACH: Readonly<Record<string, FieldSchema>> = {
  network: { type: ['string'], minLength: 1, maxLength: 255 },
  port: { type: ['string'], minLength: 1, maxLength: 255 },
};

function check(where: 'body' | 'query', params: Record<string, unknown>, props: Readonly<Record<string, FieldSchema>>): void {
  for (const [k, schema] of Object.entries(props)) {
    if (!Object.hasOwn(params, k)) continue;
    const e = fieldError(where, k, params[k], schema);
    if (e) throw e;
  }
  const e = unknownKeysError(params, Object.keys(props));
  if (e) throw e;
}

/** network_view.format_network. */
export function networkView(s: NetworkState): Record<string, unknown> {
  return {
    uuid: s.id,
    name: s.name,
    project_id: s.projectId,
    user_id: s.userId,
    network_id: null,
    neutron_net_id: s.neutronNetId,
  };
}

/** containers.py _get_container_networks_legacy (1.13-1.17). */
export function networkListLegacy(s: ContainerState): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [netId, infos] of Object.entries(addressesOf(s))) {
    for (const a of infos) out.push({ net_id: netId, subnet_id: a.subnet_id, port_id: a.port, version: a.version, ip_address: a.addr });
  }
  return out;
}

/** containers.py _get_container_networks (1.18+): one entry per port with its fixed IPs. */
export function networkList(s: ContainerState): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [netId, infos] of Object.entries(addressesOf(s))) {
    const byPort = new Map<string, Record<string, unknown>[]>();
    for (const a of infos) byPort.set(a.port, [...(byPort.get(a.port) ?? []), { subnet_id: a.subnet_id, version: a.version, ip_address: a.addr }]);
    for (const [port, fixed] of byPort) out.push({ net_id: netId, port_id: port, fixed_ips: fixed });
  }
  return out;
}

const live = (s: { status: string | null }) => s.status !== null && s.status !== 'Deleted';

export const networkRoutes: FastifyPluginAsync<NetworkRoutesOptions> = async (app, { kit, resources, listCapsules }) => {
  const caller = (req: FastifyRequest) => ({ auth: callerOf(req), requestId: req.id });

  app.post('/v1/networks', async (req) => {
    requireJson(req);
    const auth = callerOf(req);
    enforce(auth, 'network:create');
    const body = jsonObject(req);
    check('body', body, { neutron_net_id: NET_NAME, name: NET_NAME });
    if (!Object.hasOwn(body, 'name')) throw new SchemaValidationError(`'name' is a required property`);
    const name = body['name'];
    if (typeof name !== 'string') throw new InvalidValue('A network needs a name.');
    const neutron = typeof body['neutron_net_id'] === 'string' ? body['neutron_net_id'] : null;
    const s = await resources.createNamedNetwork(caller(req), { name, neutronNetId: neutron });
    req.log.info({ network: s.id, cidr: s.cidr }, 'network created');
    return networkView(s);
  });

  app.delete('/v1/networks/:ident', async (req, reply) => {
    requireVersion(req, 27);
    const auth = callerOf(req);
    enforce(auth, 'network:delete');
    // Zun looks the network up in every project (context.all_projects = True).
    const c = { auth: { ...auth, isAdmin: true }, requestId: req.id };
    await resources.deleteNetwork(c, identOf(req), async (networkId) => {
      const containers = (await kit.readModel.listContainers({})).filter(
        (s) => live(s) && (desiredNets(s).some((n) => netKey(n) === networkId) || observedNetworks(s)[networkId] !== undefined),
      );
      const capsules = (await listCapsules()).filter((s) => live(s) && (s.spec?.nets ?? []).some((n) => netKey(n) === networkId));
      return [...containers.map((s) => `container ${s.uuid}`), ...capsules.map((s) => `capsule ${s.uuid}`)];
    });
    return reply.code(204).send();
  });

  app.post('/v1/containers/:ident/network_attach', async (req, reply) => {
    requireVersion(req, 8);
    const params = mergedParams(req);
    check('query', params, ATTACH);
    if (Object.hasOwn(params, 'network') && Object.hasOwn(params, 'port')) {
      throw new SchemaValidationError(`${JSON.stringify(params)} should not be valid under {'required': ['port', 'network']}`);
    }
    const fixed = params['fixed_ip'];
    if (fixed !== undefined && !isIPv4(String(fixed)) && !isIPv6(String(fixed))) {
      throw new SchemaValidationError(`Invalid input for field 'fixed_ip'. Value: '${String(fixed)}'. '${String(fixed)}' is not valid under any of the given schemas`);
    }
    const s = await kit.resolve(req, identOf(req));
    enforce(callerOf(req), 'container:network_attach', { projectId: s.projectId });
    const request: NetRequest = {
      ...(typeof params['network'] === 'string' ? { network: params['network'] } : {}),
      ...(typeof params['port'] === 'string' ? { port: params['port'] } : {}),
      ...(fixed !== undefined && isIPv4(String(fixed)) ? { v4FixedIp: String(fixed) } : {}),
      ...(fixed !== undefined && isIPv6(String(fixed)) ? { v6FixedIp: String(fixed) } : {}),
    };
    // Checks first (nothing written), then the default network of the container's project is made if that is the one.
    const plan = await resources.prepareNet(caller(req), request, s.projectId ?? callerOf(req).projectId, s.uuid);
    if (desiredNets(s).some((n) => netKey(n) === plan.id) || observedNetworks(s)[plan.id] !== undefined) {
      throw new InvalidValue(`Network '${request.network ?? 'default'}' is already connected to container '${identOf(req)}'.`);
    }
    await kit.execute(req, s.uuid, { type: 'AttachNetwork', net: await plan.commit() });
    return sendNull(reply, 200);
  });

  app.post('/v1/containers/:ident/network_detach', async (req, reply) => {
    requireVersion(req, 6);
    const params = mergedParams(req);
    check('query', params, DETACH);
    const hasNet = Object.hasOwn(params, 'network');
    const hasPort = Object.hasOwn(params, 'port');
    if (hasNet === hasPort) {
      throw new SchemaValidationError(
        hasNet ? `${JSON.stringify(params)} is valid under each of {'required': ['network']}, {'required': ['port']}` : `${JSON.stringify(params)} is not valid under any of the given schemas`,
      );
    }
    const s = await kit.resolve(req, identOf(req));
    enforce(callerOf(req), 'container:network_detach', { projectId: s.projectId });
    let networkId: string;
    if (hasPort) {
      const port = String(params['port']);
      const hit = Object.entries(observedNetworks(s)).find(([, n]) => n.addresses.some((a) => a.port === port));
      const wanted = desiredNets(s).find((n) => n.port === port);
      if (!hit && !wanted) throw new InvalidValue(`Port '${port}' is not attached to container '${identOf(req)}'.`);
      networkId = hit ? hit[0] : netKey(wanted!);
    } else {
      const ident = String(params['network']);
      const n = await resources.findNetwork(caller(req), ident, s.projectId ?? callerOf(req).projectId);
      if (!desiredNets(s).some((x) => netKey(x) === n.id) && observedNetworks(s)[n.id] === undefined) {
        throw new InvalidValue(`Network '${ident}' is not attached to container '${identOf(req)}'.`);
      }
      networkId = n.id;
    }
    await kit.execute(req, s.uuid, { type: 'DetachNetwork', network: networkId });
    return sendNull(reply, 202);
  });

  app.get('/v1/containers/:ident/network_list', async (req) => {
    const v = requireVersion(req, 13);
    const s = await kit.resolve(req, identOf(req));
    return { networks: atLeast(v, 18) ? networkList(s) : networkListLegacy(s) };
  });
};
