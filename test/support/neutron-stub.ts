// A stateful Neutron API (v2.0) stub for tests, built on the RECORDED bodies
// in test/fixtures/neutron: the networks and subnets those fixtures describe,
// and ports that are kept once created, so that listing by id / device_id /
// network_id, updating and deleting behave as Neutron's do. A created port is
// the recorded port-create-bound (with binding:host_id) or -unbound body,
// given a fresh id and MAC, the request's fields, and fixed IPs: the ones
// asked for, else the first free address of each subnet's allocation pool
// (IPv4) or the EUI-64 address of the MAC (IPv6, as the recording has it).
// Loopback only.
import { randomBytes, randomUUID } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { fixture, startHttpStub, type HttpStub, type StubReply, type StubRequest } from './http-stub.js';

type Port = Record<string, any>;

export interface NeutronStubState {
  readonly networks: Record<string, any>[];
  readonly subnets: Record<string, any>[];
  /** Live ports by id. */
  readonly ports: Map<string, Port>;
  /** Ids of the ports deleted, in order. */
  readonly deleted: string[];
  /** The token every request must carry (X-Auth-Token). */
  readonly token: string;
}

export interface NeutronStub {
  readonly stub: HttpStub;
  /** Neutron's endpoint (NEUTRON_URL), without /v2.0. */
  readonly endpoint: string;
  readonly state: NeutronStubState;
  /** The bodies of POST /v2.0/ports, in order. */
  createRequests(): Record<string, any>[];
  close(): Promise<void>;
}

const v4ToInt = (ip: string) => ip.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
const intToV4 = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

function inV4Cidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return !isIPv6(ip) && ((v4ToInt(ip) & mask) >>> 0) === ((v4ToInt(base!) & mask) >>> 0);
}

/** The EUI-64 interface id of a MAC on a /64 prefix (SLAAC), e.g. fa:16:3e:c9:cb:f0 -> ...:f816:3eff:fec9:cbf0. */
function eui64(prefix64: string, mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  b[0]! ^= 0x02;
  const g = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!].map((x) => x.toString(16));
  return `${v6Groups(prefix64.split('/')[0]!).slice(0, 4).join(':')}:${g.join(':')}`;
}

/** The eight groups of an IPv6 address, in hex without leading zeros. */
function v6Groups(ip: string): string[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  return [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((x) => parseInt(x, 16).toString(16));
}

const notFound = (what: string, id: string): StubReply => ({
  status: 404,
  body: what === 'Port' ? { NeutronError: { ...fixture('neutron', 'port-not-found').NeutronError, message: `Port ${id} could not be found.` } } : { NeutronError: { type: `${what}NotFound`, message: `${what} ${id} could not be found.`, detail: '' } },
});
const conflict = (type: string, message: string): StubReply => ({ status: 409, body: { NeutronError: { type, message, detail: '' } } });
const badRequest = (message: string): StubReply => ({ status: 400, body: { NeutronError: { type: 'HTTPBadRequest', message, detail: '' } } });

/** GET list filters: Neutron matches each given field exactly (a repeated field: any of its values). */
function matches(item: Record<string, any>, query: URLSearchParams): boolean {
  for (const key of new Set(query.keys())) {
    if (key === 'fields') continue;
    const wanted = query.getAll(key);
    const v = item[key];
    const s = typeof v === 'boolean' ? (v ? 'True' : 'False') : v === null || v === undefined ? '' : String(v);
    if (!wanted.some((w) => w === s || (typeof v === 'boolean' && w.toLowerCase() === String(v)))) return false;
  }
  return true;
}

export function neutronApi(o: { token: string }) {
  const state: NeutronStubState = {
    networks: [...fixture('neutron', 'networks-list').networks, ...fixture('neutron', 'networks-list-shared').networks],
    subnets: [...fixture('neutron', 'subnets-list-v4v6').subnets, ...fixture('neutron', 'subnets-list-v4').subnets],
    ports: new Map(),
    deleted: [],
    token: o.token,
  };
  const macs = new Set<string>();
  const newMac = () => {
    for (;;) {
      const mac = ['fa', '16', '3e', ...[...randomBytes(3)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
      if (!macs.has(mac)) return macs.add(mac), mac;
    }
  };
  const usedIps = (networkId: string) =>
    new Set([...state.ports.values()].filter((p) => p.network_id === networkId).flatMap((p) => (p.fixed_ips as { ip_address: string }[]).map((f) => f.ip_address)));

  function fixedIps(networkId: string, mac: string, asked: { ip_address?: string; subnet_id?: string }[] | undefined): { ip_address: string; subnet_id: string }[] | StubReply {
    const subnets = state.subnets.filter((s) => s.network_id === networkId);
    const used = usedIps(networkId);
    if (asked && asked.length > 0) {
      const out: { ip_address: string; subnet_id: string }[] = [];
      for (const a of asked) {
        if (!a.ip_address) return badRequest('this stub takes fixed_ips with an ip_address only');
        const s = subnets.find((x) => (a.subnet_id ? x.id === a.subnet_id : x.ip_version === (isIPv6(a.ip_address!) ? 6 : 4) && (x.ip_version === 6 || inV4Cidr(a.ip_address!, x.cidr))));
        if (!s || (s.ip_version === 4 && !inV4Cidr(a.ip_address, s.cidr))) return badRequest(`IP address ${a.ip_address} is not a valid IP for the specified subnet.`);
        if (used.has(a.ip_address)) return conflict('IpAddressAlreadyAllocated', `IP address ${a.ip_address} already allocated in subnet ${s.id}`);
        out.push({ ip_address: a.ip_address, subnet_id: s.id });
      }
      return out;
    }
    const out: { ip_address: string; subnet_id: string }[] = [];
    for (const s of subnets) {
      if (s.ip_version === 6) {
        out.push({ ip_address: eui64(s.cidr, mac), subnet_id: s.id });
        continue;
      }
      const pool = (s.allocation_pools as { start: string; end: string }[])[0]!;
      let ip: string | null = null;
      for (let n = v4ToInt(pool.start); n <= v4ToInt(pool.end); n++) {
        if (!used.has(intToV4(n)) && intToV4(n) !== s.gateway_ip) {
          ip = intToV4(n);
          break;
        }
      }
      if (!ip) return conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);
      out.push({ ip_address: ip, subnet_id: s.id });
    }
    return out;
  }

  const dns = (ips: { ip_address: string }[]) =>
    ips.map((f) => {
      const host = `host-${f.ip_address.replace(/[.:]/g, '-')}`;
      return { hostname: host, ip_address: f.ip_address, fqdn: `${host}.openstacklocal.` };
    });

  /** Binding fields as Neutron shows them: bound (vif_type ovs, the recorded details) once a host is set. */
  function withBinding(p: Port): Port {
    const host = p['binding:host_id'] || '';
    const bound = fixture('neutron', 'port-create-bound').port;
    return {
      ...p,
      'binding:host_id': host,
      'binding:vif_type': host ? bound['binding:vif_type'] : 'unbound',
      'binding:vif_details': host ? bound['binding:vif_details'] : {},
    };
  }

  const handler = (r: StubRequest): StubReply => {
    if (r.headers['x-auth-token'] !== state.token) return { status: 401, body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } } };
    if (r.method === 'GET' && r.path === '/v2.0/networks') return { status: 200, body: { networks: state.networks.filter((n) => matches(n, r.query)) } };
    if (r.method === 'GET' && r.path === '/v2.0/subnets') return { status: 200, body: { subnets: state.subnets.filter((s) => matches(s, r.query)) } };
    if (r.method === 'GET' && r.path === '/v2.0/ports') return { status: 200, body: { ports: [...state.ports.values()].filter((p) => matches(p, r.query)) } };
    if (r.method === 'POST' && r.path === '/v2.0/ports') {
      const req = (r.body as { port?: Record<string, any> } | undefined)?.port;
      if (!req?.['network_id']) return badRequest("Failed to parse request. Required attribute 'network_id' not specified");
      const net = state.networks.find((n) => n.id === req['network_id']);
      if (!net) return notFound('Network', req['network_id']);
      const mac = newMac();
      const ips = fixedIps(net.id, mac, req['fixed_ips']);
      if (!Array.isArray(ips)) return ips;
      const bound = Boolean(req['binding:host_id']);
      const base = fixture('neutron', bound ? 'port-create-bound' : 'port-create-unbound').port;
      const tenant = req['tenant_id'] ?? req['project_id'] ?? base.tenant_id;
      const port = withBinding({
        ...base,
        id: randomUUID(),
        name: req['name'] ?? '',
        network_id: net.id,
        mac_address: mac,
        fixed_ips: ips,
        dns_assignment: dns(ips),
        device_id: req['device_id'] ?? '',
        device_owner: req['device_owner'] ?? '',
        'binding:host_id': req['binding:host_id'] ?? '',
        'binding:profile': req['binding:profile'] ?? {},
        security_groups: req['security_groups'] ?? base.security_groups,
        tenant_id: tenant,
        project_id: tenant,
        revision_number: 1,
      });
      state.ports.set(port.id, port);
      return { status: 201, body: { port } };
    }
    const m = /^\/v2\.0\/ports\/([^/]+)$/.exec(r.path);
    if (m && r.method === 'GET') {
      const p = state.ports.get(m[1]!);
      return p ? { status: 200, body: { port: p } } : notFound('Port', m[1]!);
    }
    if (m && r.method === 'PUT') {
      const p = state.ports.get(m[1]!);
      if (!p) return notFound('Port', m[1]!);
      const upd = { ...((r.body as { port?: Record<string, any> } | undefined)?.port ?? {}) };
      for (const k of ['id', 'network_id', 'mac_address', 'tenant_id', 'project_id']) {
        if (k in upd && upd[k] !== p[k]) return badRequest(`Cannot update read-only attribute ${k}`);
      }
      if ('fixed_ips' in upd) return badRequest('this stub does not change fixed_ips');
      if (upd['binding:host_id'] === null) upd['binding:host_id'] = '';
      const next = withBinding({ ...p, ...upd, revision_number: (p.revision_number as number) + 1 });
      state.ports.set(next.id, next);
      return { status: 200, body: { port: next } };
    }
    if (m && r.method === 'DELETE') {
      if (!state.ports.delete(m[1]!)) return notFound('Port', m[1]!);
      state.deleted.push(m[1]!);
      return { status: 204 };
    }
    return { status: 404, body: { NeutronError: { type: 'HTTPNotFound', message: `The resource could not be found: ${r.method} ${r.path}`, detail: '' } } };
  };
  return { state, handler };
}

export async function startNeutronStub(o: { token: string }): Promise<NeutronStub> {
  const api = neutronApi(o);
  const stub = await startHttpStub(api.handler);
  return {
    stub,
    endpoint: stub.url,
    state: api.state,
    createRequests: () => stub.requests.filter((r) => r.method === 'POST' && r.path === '/v2.0/ports').map((r) => (r.body as { port: Record<string, any> }).port),
    close: () => stub.close(),
  };
}
