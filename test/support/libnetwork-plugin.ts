/**
 * A minimal Docker libnetwork REMOTE network driver and IPAM driver, for
 * tests: the protocol kuryr-libnetwork speaks to dockerd (moby/libnetwork
 * docs/remote.md and docs/ipam.md), served over HTTP on a unix socket at
 * /run/docker/plugins/<name>.sock, where dockerd 20.10 discovers a plugin
 * by name (`docker network create -d <name> --ipam-driver <name>`).
 *
 * It does what kuryr-libnetwork does on the host, minus Neutron: IPAM hands
 * out exactly the addresses it is asked for (Zun pins the Neutron port's
 * IPs in the endpoint config), or the first free one; every network gets a
 * Linux bridge of its own with no address on the host; Join makes a veth
 * pair, puts the host end on the bridge and gives the other end to dockerd
 * to move into the container (renamed eth<N>), with the subnet's gateway
 * (so libnetwork does not add docker_gwbridge). Leave, DeleteEndpoint and
 * DeleteNetwork remove the veth and the bridge again.
 *
 * Every call is recorded (`calls`) with its request and reply. All links it
 * makes start with `linkPrefix` (<= 15 chars in all); close() removes any
 * left, and the socket. Needs root (ip link, /run/docker/plugins).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PLUGIN_DIR = '/run/docker/plugins';
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
const GATEWAY_REQUEST = 'com.docker.network.gateway';

export interface PluginCall {
  /** e.g. `NetworkDriver.Join`, `IpamDriver.RequestAddress`. */
  readonly method: string;
  readonly body: any;
  readonly status: number;
  readonly reply: any;
}

export interface LibnetworkPlugin {
  readonly name: string;
  readonly socketPath: string;
  readonly linkPrefix: string;
  readonly calls: PluginCall[];
  /** Calls of one method, e.g. `NetworkDriver.CreateNetwork`. */
  callsOf(method: string): PluginCall[];
  /** Links on the host whose name starts with linkPrefix (veths, bridges). */
  links(): Promise<string[]>;
  /** Stops serving, removes the socket and every link it made. */
  close(): Promise<void>;
}

class PluginError extends Error {}

// --- addresses ---------------------------------------------------------------

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}
const intToV4 = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

function v6ToBig(ip: string): bigint {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, null];
  const h = head ? head.split(':') : [];
  const t = tail === null ? [] : tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

interface Cidr {
  readonly v6: boolean;
  readonly base: bigint;
  readonly bits: number;
}

function parseCidr(s: string): Cidr {
  const [ip, len] = s.split('/');
  if (!ip || len === undefined) throw new PluginError(`not a CIDR: ${s}`);
  const v6 = isIPv6(ip);
  if (!v6 && !isIPv4(ip)) throw new PluginError(`not a CIDR: ${s}`);
  const width = v6 ? 128 : 32;
  const bits = Number(len);
  const n = v6 ? v6ToBig(ip) : BigInt(v4ToInt(ip));
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
  return { v6, base: n & mask, bits };
}

function inCidr(ip: string, c: Cidr): boolean {
  if (c.v6 !== isIPv6(ip)) return false;
  const width = c.v6 ? 128 : 32;
  const n = c.v6 ? v6ToBig(ip) : BigInt(v4ToInt(ip));
  return n >> BigInt(width - c.bits) === c.base >> BigInt(width - c.bits);
}

const bare = (addr: string) => addr.split('/')[0]!;
const canon = (ip: string) => (isIPv6(ip) ? v6ToBig(ip).toString(16) : ip);

// --- the plugin --------------------------------------------------------------

interface Pool {
  readonly id: string;
  readonly cidr: string;
  readonly parsed: Cidr;
  readonly options: Record<string, string>;
  refs: number;
  /** canonical address -> the address as handed out */
  readonly allocated: Map<string, string>;
}

interface Net {
  readonly id: string;
  readonly bridge: string;
  readonly gateway: string | null;
  readonly gatewayV6: string | null;
}

interface Endpoint {
  readonly networkId: string;
  readonly mac: string;
  readonly hostVeth: string;
  readonly ctrVeth: string;
}

export async function startLibnetworkPlugin(opts: { name: string; linkPrefix: string }): Promise<LibnetworkPlugin> {
  const { name, linkPrefix } = opts;
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(name)) throw new Error(`plugin name ${name}: lowercase letters, digits, _ . - only`);
  // Link names: prefix + one letter + 7 hex digits, at most 15 characters (IFNAMSIZ - 1).
  if (linkPrefix.length > 7) throw new Error(`linkPrefix ${linkPrefix} is longer than 7 characters`);
  const socketPath = join(PLUGIN_DIR, `${name}.sock`);
  const calls: PluginCall[] = [];
  const pools = new Map<string, Pool>();
  const nets = new Map<string, Net>();
  const endpoints = new Map<string, Endpoint>();
  let serial = 0;
  const linkName = (kind: 'b' | 'h' | 'c', n: number) => `${linkPrefix}${kind}${n.toString(16).padStart(7, '0')}`.slice(0, 15);

  const ip = (...args: string[]) => run('ip', args);
  async function linkExists(link: string): Promise<boolean> {
    return ip('link', 'show', 'dev', link).then(
      () => true,
      () => false,
    );
  }
  async function deleteLink(link: string): Promise<void> {
    if (await linkExists(link)) await ip('link', 'del', 'dev', link);
  }
  /** No IPv6 on the host side of our links: nothing but the containers talks on the bridge. */
  function noIpv6(link: string): void {
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1');
    } catch {
      // no IPv6 on this host
    }
  }

  function poolOf(id: string): Pool {
    const p = pools.get(id);
    if (!p) throw new PluginError(`no pool ${id}`);
    return p;
  }

  function allocate(p: Pool, wanted: string): string {
    const suffix = `/${p.parsed.bits}`;
    if (wanted) {
      if (!inCidr(wanted, p.parsed)) throw new PluginError(`${wanted} is not in ${p.cidr}`);
      if (p.allocated.has(canon(wanted))) throw new PluginError(`${wanted} is already allocated in ${p.cidr}`);
      p.allocated.set(canon(wanted), wanted);
      return `${wanted}${suffix}`;
    }
    if (p.parsed.v6) throw new PluginError('this test plugin hands out IPv6 addresses only on request');
    const size = 2 ** (32 - p.parsed.bits);
    for (let i = 1; i < size - 1; i++) {
      const a = intToV4(Number(p.parsed.base) + i);
      if (!p.allocated.has(a)) {
        p.allocated.set(a, a);
        return `${a}${suffix}`;
      }
    }
    throw new PluginError(`${p.cidr} is full`);
  }

  const handlers: Record<string, (b: any) => Promise<unknown> | unknown> = {
    'Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),

    'IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    'IpamDriver.GetDefaultAddressSpaces': () => ({ LocalDefaultAddressSpace: `${name}_local`, GlobalDefaultAddressSpace: `${name}_global` }),
    'IpamDriver.RequestPool': (b: { AddressSpace: string; Pool: string; SubPool: string; Options: Record<string, string> | null; V6: boolean }) => {
      if (!b.Pool) throw new PluginError('this test plugin has no default pools: give a subnet');
      if (b.SubPool) throw new PluginError('sub-pools are not supported');
      const parsed = parseCidr(b.Pool);
      const id = `${b.AddressSpace}/${b.Pool}`;
      const p = pools.get(id) ?? { id, cidr: b.Pool, parsed, options: { ...(b.Options ?? {}) }, refs: 0, allocated: new Map() };
      p.refs++;
      pools.set(id, p);
      return { PoolID: id, Pool: b.Pool, Data: {} };
    },
    'IpamDriver.ReleasePool': (b: { PoolID: string }) => {
      const p = poolOf(b.PoolID);
      if (--p.refs <= 0) pools.delete(p.id);
      return {};
    },
    'IpamDriver.RequestAddress': (b: { PoolID: string; Address: string; Options: Record<string, string> | null }) => {
      const p = poolOf(b.PoolID);
      const isGateway = b.Options?.['RequestAddressType'] === GATEWAY_REQUEST;
      // Docker asks for the gateway again when it restores a network; it is the pool's, not an endpoint's.
      if (isGateway && b.Address && p.allocated.has(canon(b.Address))) return { Address: `${b.Address}/${p.parsed.bits}`, Data: {} };
      return { Address: allocate(p, b.Address), Data: {} };
    },
    'IpamDriver.ReleaseAddress': (b: { PoolID: string; Address: string }) => {
      poolOf(b.PoolID).allocated.delete(canon(b.Address));
      return {};
    },

    'NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'local' }),
    'NetworkDriver.CreateNetwork': async (b: { NetworkID: string; IPv4Data: { Gateway?: string }[] | null; IPv6Data: { Gateway?: string }[] | null }) => {
      if (nets.has(b.NetworkID)) throw new PluginError(`network ${b.NetworkID} exists`);
      const bridge = linkName('b', ++serial);
      await ip('link', 'add', 'name', bridge, 'type', 'bridge');
      noIpv6(bridge);
      await ip('link', 'set', 'dev', bridge, 'up');
      const gw4 = b.IPv4Data?.find((d) => d.Gateway)?.Gateway;
      const gw6 = b.IPv6Data?.find((d) => d.Gateway)?.Gateway;
      nets.set(b.NetworkID, { id: b.NetworkID, bridge, gateway: gw4 ? bare(gw4) : null, gatewayV6: gw6 ? bare(gw6) : null });
      return {};
    },
    'NetworkDriver.DeleteNetwork': async (b: { NetworkID: string }) => {
      const n = nets.get(b.NetworkID);
      if (n) await deleteLink(n.bridge);
      nets.delete(b.NetworkID);
      return {};
    },
    'NetworkDriver.CreateEndpoint': (b: { NetworkID: string; EndpointID: string; Interface: { Address?: string; AddressIPv6?: string; MacAddress?: string } | null }) => {
      if (!nets.has(b.NetworkID)) throw new PluginError(`no network ${b.NetworkID}`);
      const n = ++serial;
      const given = b.Interface?.MacAddress;
      // A locally administered unicast MAC when dockerd gives none (it gives the container's MacAddress if set).
      const mac = given || ['02', ...[...randomBytes(5)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
      endpoints.set(b.EndpointID, { networkId: b.NetworkID, mac, hostVeth: linkName('h', n), ctrVeth: linkName('c', n) });
      // remote.md: what dockerd supplied must not be answered; only what it left empty.
      return given ? {} : { Interface: { MacAddress: mac } };
    },
    'NetworkDriver.DeleteEndpoint': async (b: { NetworkID: string; EndpointID: string }) => {
      const ep = endpoints.get(b.EndpointID);
      if (ep) await deleteLink(ep.hostVeth);
      endpoints.delete(b.EndpointID);
      return {};
    },
    'NetworkDriver.EndpointOperInfo': (b: { EndpointID: string }) => {
      const ep = endpoints.get(b.EndpointID);
      return { Value: ep ? { hostVeth: ep.hostVeth, mac: ep.mac } : {} };
    },
    'NetworkDriver.Join': async (b: { NetworkID: string; EndpointID: string; SandboxKey: string }) => {
      const n = nets.get(b.NetworkID);
      const ep = endpoints.get(b.EndpointID);
      if (!n || !ep) throw new PluginError(`no endpoint ${b.EndpointID} on network ${b.NetworkID}`);
      await deleteLink(ep.hostVeth);
      await ip('link', 'add', 'name', ep.hostVeth, 'type', 'veth', 'peer', 'name', ep.ctrVeth);
      try {
        noIpv6(ep.hostVeth);
        await ip('link', 'set', 'dev', ep.ctrVeth, 'address', ep.mac);
        await ip('link', 'set', 'dev', ep.hostVeth, 'master', n.bridge);
        await ip('link', 'set', 'dev', ep.hostVeth, 'up');
      } catch (e) {
        await deleteLink(ep.hostVeth).catch(() => {});
        throw e;
      }
      return {
        InterfaceName: { SrcName: ep.ctrVeth, DstPrefix: 'eth' },
        ...(n.gateway ? { Gateway: n.gateway } : {}),
        ...(n.gatewayV6 ? { GatewayIPv6: n.gatewayV6 } : {}),
        StaticRoutes: [],
        DisableGatewayService: false,
      };
    },
    'NetworkDriver.Leave': async (b: { EndpointID: string }) => {
      const ep = endpoints.get(b.EndpointID);
      if (ep) await deleteLink(ep.hostVeth);
      return {};
    },
    'NetworkDriver.DiscoverNew': () => ({}),
    'NetworkDriver.DiscoverDelete': () => ({}),
    'NetworkDriver.ProgramExternalConnectivity': () => ({}),
    'NetworkDriver.RevokeExternalConnectivity': () => ({}),
  };

  // One request at a time, in arrival order: the handlers change shared state and the host's links.
  let queue: Promise<unknown> = Promise.resolve();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = (req.url ?? '/').replace(/^\//, '').split('?')[0]!;
      const raw = Buffer.concat(chunks).toString('utf8');
      const answer = (status: number, reply: unknown, body: unknown) => {
        calls.push({ method, body, status, reply });
        res.writeHead(status, { 'Content-Type': CONTENT_TYPE });
        res.end(JSON.stringify(reply));
      };
      let body: unknown = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        return answer(400, { Err: 'request body is not JSON' }, raw);
      }
      const handler = req.method === 'POST' ? handlers[method] : undefined;
      // remote.md: an unknown method is a 404, so that dockerd can tell "not implemented" from a failure.
      if (!handler) return answer(404, { Err: `${method} is not implemented` }, body);
      queue = queue.then(async () => {
        try {
          answer(200, await handler(body ?? {}), body);
        } catch (e) {
          answer(500, { Err: e instanceof Error ? e.message : String(e) }, body);
        }
      });
    });
  });

  mkdirSync(PLUGIN_DIR, { recursive: true });
  if (existsSync(socketPath)) throw new Error(`${socketPath} exists: another plugin of that name is running`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });

  async function links(): Promise<string[]> {
    const { stdout } = await ip('-o', 'link', 'show');
    return stdout
      .split('\n')
      .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
      .filter((l) => l.startsWith(linkPrefix));
  }

  return {
    name,
    socketPath,
    linkPrefix,
    calls,
    callsOf: (m) => calls.filter((c) => c.method === m),
    links,
    async close() {
      await queue.catch(() => {});
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      rmSync(socketPath, { force: true });
      for (const l of await links()) await deleteLink(l).catch(() => {});
    },
  };
}
