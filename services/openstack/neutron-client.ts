/**
 * The part of Neutron's networking API v2.0 the kuryr driver uses, with the
 * request shapes python-neutronclient sends for Zun (zun/network/neutron.py):
 *   GET    /v2.0/networks?id=<id>            list_networks(id=...)
 *   GET    /v2.0/subnets?network_id=<id>     list_subnets(network_id=...)
 *   GET    /v2.0/ports?id=..|name=..|device_id=..  list_ports(...)
 *   POST   /v2.0/ports       {"port":{...}}  create_port  -> 201 {"port":{...}}
 *   PUT    /v2.0/ports/<id>  {"port":{...}}  update_port  -> 200 {"port":{...}}
 *   DELETE /v2.0/ports/<id>                  delete_port  -> 204
 * Tested against recorded responses only (test/fixtures/neutron/); see README.md.
 */
import type { Logger } from '../platform/log.js';
import { createJsonCaller, type OpenStackAuth } from './openstack-http.js';

export interface NeutronNetwork {
  readonly id: string;
  readonly name: string;
  readonly shared: boolean;
  readonly subnets: readonly string[];
  readonly tenant_id?: string;
  readonly project_id?: string;
  readonly created_at?: string;
  readonly 'router:external'?: boolean;
}

export interface NeutronSubnet {
  readonly id: string;
  readonly network_id: string;
  readonly ip_version: 4 | 6;
  readonly cidr: string;
  readonly gateway_ip: string | null;
}

export interface NeutronFixedIp {
  readonly ip_address: string;
  readonly subnet_id: string;
}

export interface NeutronPort {
  readonly id: string;
  readonly network_id: string;
  readonly mac_address: string;
  readonly fixed_ips: readonly NeutronFixedIp[];
  readonly device_id: string;
  readonly device_owner: string;
  readonly tenant_id?: string;
  readonly project_id?: string;
  readonly name?: string;
  readonly status?: string;
  readonly security_groups?: readonly string[];
  readonly 'binding:host_id'?: string | null;
  readonly 'binding:vif_type'?: string;
  readonly 'binding:profile'?: Record<string, unknown>;
}

/** Body of POST /v2.0/ports as Zun builds it (neutron.py create_or_update_port). */
export interface PortCreateBody {
  readonly port: {
    readonly network_id: string;
    readonly tenant_id: string;
    readonly device_id: string;
    readonly device_owner?: string;
    readonly 'binding:host_id'?: string;
    readonly fixed_ips?: readonly { readonly ip_address: string }[];
    readonly security_groups?: readonly string[];
  };
}

export interface PortUpdateBody {
  readonly port: Readonly<Record<string, unknown>>;
}

export interface NeutronClient {
  listNetworks(query: { id?: string; name?: string; tenant_id?: string; shared?: boolean }): Promise<NeutronNetwork[]>;
  listSubnets(query: { network_id: string }): Promise<NeutronSubnet[]>;
  listPorts(query: { id?: string; name?: string; device_id?: string; network_id?: string; tenant_id?: string }): Promise<NeutronPort[]>;
  createPort(body: PortCreateBody): Promise<NeutronPort>;
  updatePort(id: string, body: PortUpdateBody): Promise<NeutronPort>;
  deletePort(id: string): Promise<void>;
}

function query(q: Record<string, string | boolean | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) if (v !== undefined) out[k] = typeof v === 'boolean' ? (v ? 'True' : 'False') : v;
  return out;
}

export function createNeutronClient({
  endpoint,
  auth,
  log,
  fetchImpl,
}: {
  /** Neutron's public endpoint, e.g. http://controller:9696 (without /v2.0). */
  endpoint: string;
  auth: OpenStackAuth;
  log: Logger;
  fetchImpl?: typeof fetch;
}): NeutronClient {
  const http = createJsonCaller({ service: 'neutron', endpoint, auth, log, ...(fetchImpl ? { fetchImpl } : {}) });
  return {
    async listNetworks(q) {
      return (await http.call<{ networks: NeutronNetwork[] }>('GET', '/v2.0/networks', { query: query(q) })).networks;
    },
    async listSubnets(q) {
      return (await http.call<{ subnets: NeutronSubnet[] }>('GET', '/v2.0/subnets', { query: query(q) })).subnets;
    },
    async listPorts(q) {
      return (await http.call<{ ports: NeutronPort[] }>('GET', '/v2.0/ports', { query: query(q) })).ports;
    },
    async createPort(body) {
      return (await http.call<{ port: NeutronPort }>('POST', '/v2.0/ports', { body })).port;
    },
    async updatePort(id, body) {
      return (await http.call<{ port: NeutronPort }>('PUT', `/v2.0/ports/${encodeURIComponent(id)}`, { body })).port;
    },
    async deletePort(id) {
      await http.call('DELETE', `/v2.0/ports/${encodeURIComponent(id)}`);
    },
  };
}
