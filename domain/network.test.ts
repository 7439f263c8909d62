import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IpamEvent } from '../events/network.js';
import {
  DEFAULT_ADDRESS_POOL_V6,
  bigIntToIpv6,
  ipv6InCidr,
  ipv6ToBigInt,
  sameIpv6,
  subnet6At,
  decideAllocate,
  decideNetwork,
  decideRelease,
  evolveIpam,
  evolveNetwork,
  initialIpamState,
  initialNetworkState,
  ipInCidr,
  networkRefOf,
  parseCidr,
  poolSize,
  subnetAt,
  type IpamState,
  type NetworkCommand,
  type NetworkState,
} from './network.js';

describe('subnets of the pool', () => {
  it('cuts the pool into /24s with the first host address as gateway', () => {
    expect(subnetAt('10.200.0.0/16', 0)).toEqual({ cidr: '10.200.0.0/24', gateway: '10.200.0.1' });
    expect(subnetAt('10.200.0.0/16', 255)).toEqual({ cidr: '10.200.255.0/24', gateway: '10.200.255.1' });
    expect(poolSize('10.200.0.0/16')).toBe(256);
    expect(poolSize('192.168.4.0/24')).toBe(1);
    expect(() => poolSize('10.0.0.0/25')).toThrow(RangeError);
    expect(parseCidr('10.200.7.9/16')).toEqual({ base: parseCidr('10.200.0.0/16')!.base, prefix: 16 });
  });

  it('knows usable host addresses of a subnet', () => {
    expect(ipInCidr('10.200.3.10', '10.200.3.0/24')).toBe(true);
    expect(ipInCidr('10.200.3.0', '10.200.3.0/24')).toBe(false);
    expect(ipInCidr('10.200.3.255', '10.200.3.0/24')).toBe(false);
    expect(ipInCidr('10.200.4.10', '10.200.3.0/24')).toBe(false);
    expect(ipInCidr('nonsense', '10.200.3.0/24')).toBe(false);
  });
});

describe('the IPAM ledger', () => {
  const POOL = '10.50.0.0/22'; // four /24s
  const apply = (s: IpamState, events: readonly IpamEvent[]) => events.reduce((x, e, i) => evolveIpam(x, { ...e, seq: x.seq + i + 1 }), s);

  it('allocates the lowest free subnet, is idempotent per network, and reuses released ones', () => {
    let s = initialIpamState();
    const a = decideAllocate(s, POOL, 'net-a');
    if ('rejected' in a) throw new Error('rejected');
    expect(a.allocation).toMatchObject({ index: 0, cidr: '10.50.0.0/24' });
    s = apply(s, a.events);
    const again = decideAllocate(s, POOL, 'net-a');
    expect(again).toEqual({ events: [], allocation: a.allocation });
    const b = decideAllocate(s, POOL, 'net-b');
    if ('rejected' in b) throw new Error('rejected');
    expect(b.allocation.cidr).toBe('10.50.1.0/24');
    s = apply(s, b.events);
    s = apply(s, decideRelease(s, 'net-a'));
    expect(decideRelease(s, 'net-a')).toEqual([]);
    const c = decideAllocate(s, POOL, 'net-c');
    if ('rejected' in c) throw new Error('rejected');
    expect(c.allocation.cidr).toBe('10.50.0.0/24');
  });

  it('says so when the pool is exhausted', () => {
    let s = initialIpamState();
    for (const n of ['a', 'b', 'c', 'd']) {
      const d = decideAllocate(s, POOL, n);
      if ('rejected' in d) throw new Error('rejected');
      s = apply(s, d.events);
    }
    expect(decideAllocate(s, POOL, 'e')).toMatchObject({ rejected: { code: 'exhausted' } });
  });

  it('never gives one subnet to two live networks, whatever the order of allocations and releases', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { maxLength: 60 }), (ops) => {
        let s = initialIpamState();
        for (const [alloc, n] of ops) {
          const id = `net-${n}`;
          if (alloc) {
            const d = decideAllocate(s, POOL, id);
            if (!('rejected' in d)) s = apply(s, d.events);
          } else {
            s = apply(s, decideRelease(s, id));
          }
          const cidrs = Object.values(s.byNetwork).map((x) => x.cidr);
          expect(new Set(cidrs).size).toBe(cidrs.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the network aggregate', () => {
  const create = { type: 'CreateNetwork', name: 'n1', neutronNetId: 'neutron-1', projectId: 'p1', cidr: '10.1.2.0/24', gateway: '10.1.2.1', isDefault: false } as const;

  it('creates once, deletes a live one, and may be created again after a delete', () => {
    let s = initialNetworkState('id-1');
    const d1 = decideNetwork(create, s);
    if ('rejected' in d1) throw new Error('rejected');
    s = d1.events.reduce((x, e) => evolveNetwork(x, { ...e, seq: 1, userId: 'u1', occurredAt: '2026-01-01T00:00:00.000Z' }), s);
    expect(networkRefOf(s)).toEqual({ id: 'id-1', neutronNetId: 'neutron-1', name: 'n1', projectId: 'p1', cidr: '10.1.2.0/24', gateway: '10.1.2.1' });
    expect(s.userId).toBe('u1');
    expect(decideNetwork(create, s)).toMatchObject({ rejected: { code: 'conflict' } });
    const d2 = decideNetwork({ type: 'DeleteNetwork' }, s);
    if ('rejected' in d2) throw new Error('rejected');
    s = evolveNetwork(s, { ...d2.events[0]!, seq: 2 });
    expect(s.status).toBe('Deleted');
    expect(decideNetwork({ type: 'DeleteNetwork' }, s)).toMatchObject({ rejected: { code: 'not-found' } });
    expect(() => networkRefOf(s)).toThrow(TypeError);
    expect('events' in decideNetwork(create, s)).toBe(true);
  });
});

describe('IPv6 arithmetic', () => {
  it('parses the RFC 4291 text forms and prints RFC 5952 canonical text', () => {
    const cases: [string, string][] = [
      ['fd7a:756e:0:3::1', 'fd7a:756e:0:3::1'],
      ['FD7A:756E:0000:0003:0000:0000:0000:00C8', 'fd7a:756e:0:3::c8'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ];
    for (const [text, canonical] of cases) expect(bigIntToIpv6(ipv6ToBigInt(text)!)).toBe(canonical);
  });

  it('rejects what is not an IPv6 address', () => {
    for (const bad of ['', ':', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '12345::', '1.2.3.4', 'fe80::1%eth0', '1:2:3:4:5:6:7::8:9']) {
      expect(ipv6ToBigInt(bad), bad).toBeNull();
    }
  });

  it('hands out the index-th /64 of the pool with gateway ::1', () => {
    expect(subnet6At(DEFAULT_ADDRESS_POOL_V6, 0)).toEqual({ cidr: 'fd7a:756e::/64', gateway: 'fd7a:756e::1' });
    expect(subnet6At(DEFAULT_ADDRESS_POOL_V6, 3)).toEqual({ cidr: 'fd7a:756e:0:3::/64', gateway: 'fd7a:756e:0:3::1' });
    expect(subnet6At(DEFAULT_ADDRESS_POOL_V6, 65535).cidr).toBe('fd7a:756e:0:ffff::/64');
    expect(() => subnet6At(DEFAULT_ADDRESS_POOL_V6, 65536)).toThrow(RangeError);
    expect(() => subnet6At('fd00::/80', 0)).toThrow(RangeError);
  });

  it('knows which addresses are hosts of a /64', () => {
    expect(ipv6InCidr('fd7a:756e:0:3::c8', 'fd7a:756e:0:3::/64')).toBe(true);
    expect(ipv6InCidr('fd7a:756e:0:3:ffff:ffff:ffff:ffff', 'fd7a:756e:0:3::/64')).toBe(true);
    expect(ipv6InCidr('fd7a:756e:0:3::', 'fd7a:756e:0:3::/64')).toBe(false);
    expect(ipv6InCidr('fd7a:756e:0:4::5', 'fd7a:756e:0:3::/64')).toBe(false);
    expect(ipv6InCidr('10.0.0.1', 'fd7a:756e:0:3::/64')).toBe(false);
    expect(sameIpv6('fd7a:756e:0:3::1', 'FD7A:756E:0:3:0:0:0:1')).toBe(true);
    expect(sameIpv6('fd7a:756e:0:3::1', 'fd7a:756e:0:3::2')).toBe(false);
  });

  it('round-trips any 128-bit value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (n) => ipv6ToBigInt(bigIntToIpv6(n)) === n),
    );
  });
});

describe('ports of a network', () => {
  const live = (): NetworkState => {
    const d = decideNetwork(
      { type: 'CreateNetwork', name: 'n', neutronNetId: 'nn', projectId: 'p', cidr: '10.200.7.0/24', gateway: '10.200.7.1', cidrV6: 'fd7a:756e:0:7::/64', gatewayV6: 'fd7a:756e:0:7::1', isDefault: false },
      initialNetworkState('net'),
    );
    if (!('events' in d)) throw new Error('create refused');
    return d.events.reduce((s, e) => evolveNetwork(s, { ...e, seq: s.seq + 1 }), initialNetworkState('net'));
  };
  const apply = (s: NetworkState, cmd: NetworkCommand): { s: NetworkState; rejected?: string } => {
    const d = decideNetwork(cmd, s);
    if ('rejected' in d) return { s, rejected: d.rejected.code };
    return { s: d.events.reduce((x, e) => evolveNetwork(x, { ...e, seq: x.seq + 1, occurredAt: '2026-11-25T00:00:00Z' }), s) };
  };

  it('binds one holder at a time; a stale holder can be replaced; a bound port cannot be deleted', () => {
    let { s } = apply(live(), { type: 'CreatePort', portId: 'p1', name: '', projectId: 'p' });
    expect(s.ports['p1']!.fixedIps).toEqual([{ ip: '10.200.7.254', version: 4 }, { ip: 'fd7a:756e:0:7:8000::fe', version: 6 }]);
    expect(s.ports['p1']!.macAddress).toBe('02:42:0a:c8:07:fe');
    ({ s } = apply(s, { type: 'BindPort', portId: 'p1', consumer: 'c1', stale: [] }));
    expect(apply(s, { type: 'BindPort', portId: 'p1', consumer: 'c2', stale: [] }).rejected).toBe('port-in-use');
    expect(decideNetwork({ type: 'BindPort', portId: 'p1', consumer: 'c1', stale: [] }, s)).toEqual({ events: [] });
    expect(apply(s, { type: 'DeletePort', portId: 'p1', stale: [] }).rejected).toBe('port-in-use');
    expect(apply(s, { type: 'DeleteNetwork' }).rejected).toBe('conflict');
    ({ s } = apply(s, { type: 'BindPort', portId: 'p1', consumer: 'c2', stale: ['c1'] }));
    expect(s.ports['p1']!.boundTo).toBe('c2');
    ({ s } = apply(s, { type: 'DeletePort', portId: 'p1', stale: ['c2'] }));
    expect(s.ports).toEqual({});
    expect(apply(s, { type: 'BindPort', portId: 'p1', consumer: 'c3', stale: [] }).rejected).toBe('port-not-found');
    expect(apply(s, { type: 'DeleteNetwork' }).rejected).toBeUndefined();
  });

  it('a Neutron port (kuryr) is bound fenced too: one holder at a time, a stale one replaced; it is not a port of the network\'s own', () => {
    const neutronPort = 'a2b4c6d8-0000-4000-8000-00000000abcd';
    let { s } = apply(live(), { type: 'BindPort', portId: neutronPort, consumer: 'c1', stale: [], neutron: true });
    expect(s.neutronPorts[neutronPort]).toEqual({ boundTo: 'c1', boundAt: '2026-11-25T00:00:00Z' });
    expect(s.ports).toEqual({});
    expect(apply(s, { type: 'BindPort', portId: neutronPort, consumer: 'c2', stale: [], neutron: true }).rejected).toBe('port-in-use');
    expect(decideNetwork({ type: 'BindPort', portId: neutronPort, consumer: 'c1', stale: [], neutron: true }, s)).toEqual({ events: [] });
    // Without `neutron` it is an unknown port of this network.
    expect(apply(s, { type: 'BindPort', portId: neutronPort, consumer: 'c2', stale: ['c1'] }).rejected).toBe('port-not-found');
    ({ s } = apply(s, { type: 'BindPort', portId: neutronPort, consumer: 'c2', stale: ['c1'], neutron: true }));
    expect(s.neutronPorts[neutronPort]!.boundTo).toBe('c2');
    // Nothing of it is the network's to delete, and a deleted network forgets it.
    expect(apply(s, { type: 'DeleteNetwork' }).rejected).toBeUndefined();
    ({ s } = apply(s, { type: 'DeleteNetwork' }));
    expect(s.neutronPorts).toEqual({});
    expect(apply(s, { type: 'BindPort', portId: neutronPort, consumer: 'c3', stale: [], neutron: true }).rejected).toBe('port-not-found');
  });

  it('refuses ports on a network without a subnet, and v6 where there is none', () => {
    const d = decideNetwork({ type: 'CreateNetwork', name: 'default', neutronNetId: 'd', projectId: 'p', cidr: null, gateway: null, isDefault: true }, initialNetworkState('d'));
    const s = ('events' in d ? d.events : []).reduce((x, e) => evolveNetwork(x, { ...e, seq: 1 }), initialNetworkState('d'));
    expect(apply(s, { type: 'CreatePort', portId: 'p', name: '', projectId: 'p' }).rejected).toBe('invalid');
  });

  it('never gives one address to two ports, whatever is asked, created and deleted', () => {
    const op = fc.oneof(
      fc.record({ type: fc.constant('CreatePort' as const), n: fc.integer({ min: 0, max: 40 }), ip: fc.option(fc.integer({ min: 0, max: 255 })), v6: fc.boolean() }),
      fc.record({ type: fc.constant('DeletePort' as const), n: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        let s = live();
        for (const o of ops) {
          const portId = `p${o.n}`;
          if (o.type === 'DeletePort') {
            s = apply(s, { type: 'DeletePort', portId, stale: [] }).s;
            continue;
          }
          const fixedIps = o.ip === null ? undefined : [o.v6 ? { ip: `fd7a:756e:0:7::${o.ip.toString(16)}` } : { ip: `10.200.7.${o.ip}` }];
          const r = apply(s, { type: 'CreatePort', portId, name: '', projectId: 'p', ...(fixedIps ? { fixedIps } : {}) });
          s = r.s;
          const all = Object.values(s.ports).flatMap((p) => p.fixedIps.map((f) => f.ip));
          if (new Set(all).size !== all.length) return false;
          for (const p of Object.values(s.ports)) {
            for (const f of p.fixedIps) {
              if (f.version === 4 && !(ipInCidr(f.ip, s.cidr!) && f.ip !== s.gateway)) return false;
              if (f.version === 6 && !(ipv6InCidr(f.ip, s.cidrV6!) && !sameIpv6(f.ip, s.gatewayV6!))) return false;
            }
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});
