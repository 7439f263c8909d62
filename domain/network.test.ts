import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IpamEvent } from '../events/network.js';
import {
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
