/**
 * The gateway's lookup cache (services/gateway/lookup-cache.ts) against a
 * real nats-server: an entry is kept until an event of its aggregate is
 * appended, by this connection or another; a load that an event overtakes is
 * not kept; concurrent gets share a load; a server restart empties it; a
 * refused subscription turns it off. And
 * through the gateway: a quota or default network changed by another gateway
 * is seen by the next create.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, type AggregateKind, type EventEnvelope } from '../../events/index.js';
import { loadConfig } from '../../services/gateway/config.js';
import { createLookupCache, type LookupCache } from '../../services/gateway/lookup-cache.js';
import { startGateway, type Gateway } from '../../services/gateway/server.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import type { EventStore } from '../../services/platform/eventstore.js';
import { createLogger } from '../../services/platform/log.js';
import { connectNats } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createProjector } from '../../services/projector/projector.js';
import { startNats, type NatsServer } from '../support/servers.js';

let nats: NatsServer;
let nc: NatsConnection;
let other: NatsConnection;
let store: EventStore;
let otherStore: EventStore;
const log = createLogger('lookup-cache-it', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ servers: nats.url, name: 'lookup-cache-it', reconnectTimeWaitMs: 100 });
  other = await connectNats({ servers: nats.url, name: 'lookup-cache-it-other' });
  await ensureStream(await jetstreamManager(nc));
  store = createJetStreamEventStore({ nc });
  otherStore = createJetStreamEventStore({ nc: other });
});

afterAll(async () => {
  await nc?.close();
  await other?.close();
  await nats?.stop();
});

/** Appends one QuotaLimitsSet to the quota of `id`, after whatever is there. */
async function appendQuota(s: EventStore, id: string, containers: number): Promise<void> {
  const kind: AggregateKind = 'quota';
  const e = envelope({ type: 'QuotaLimitsSet', data: { limits: { containers } } }, { id: randomUUID(), aggregateKind: kind, aggregateId: id }, {
    projectId: id,
    userId: 'u',
    requestId: 'req',
    correlationId: 'req',
    causationId: null,
    occurredAt: new Date().toISOString(),
  }) as EventEnvelope;
  await s.append(kind, id, [e], await s.lastSeq(kind, id), randomUUID());
}

/** A loader that counts its calls and answers `value()` at the time it resolves. */
function counted<T>(value: () => T, delayMs = 0): { load: () => Promise<T>; calls: () => number } {
  let n = 0;
  return {
    load: async () => {
      n++;
      if (delayMs > 0) await sleep(delayMs);
      return value();
    },
    calls: () => n,
  };
}

async function eventually(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('lookup cache', () => {
  let cache: LookupCache;
  beforeAll(async () => {
    cache = await createLookupCache({ nc, kinds: ['quota'], log });
  });
  afterAll(async () => {
    await cache.close();
  });

  it('keeps a value until an event of its aggregate is appended, on this connection or another', async () => {
    const id = `p-${randomUUID()}`;
    let v = 1;
    const l = counted(() => v);
    expect(await cache.get('quota', id, l.load)).toBe(1);
    v = 2;
    expect(await cache.get('quota', id, l.load)).toBe(1);
    expect(l.calls()).toBe(1);

    // Our own connection: the event reaches the subscription before the append's ack.
    await appendQuota(store, id, 5);
    expect(await cache.get('quota', id, l.load)).toBe(2);
    expect(l.calls()).toBe(2);

    // Another connection (another gateway): dropped once the event arrives.
    v = 3;
    await appendQuota(otherStore, id, 6);
    await eventually(async () => (await cache.get('quota', id, l.load)) === 3);
    expect(l.calls()).toBe(3);

    // An event of another aggregate drops nothing.
    v = 4;
    await appendQuota(store, `p-${randomUUID()}`, 1);
    await sleep(50);
    expect(await cache.get('quota', id, l.load)).toBe(3);
    expect(l.calls()).toBe(3);
  });

  it('does not keep a load that an event overtook, and concurrent gets share one load', async () => {
    const id = `p-${randomUUID()}`;
    let v = 'old';
    const slow = counted(() => v, 200);
    const first = cache.get('quota', id, slow.load);
    const second = cache.get('quota', id, slow.load);
    await sleep(50);
    await appendQuota(store, id, 7); // lands while the load runs
    v = 'new';
    expect(await first).toBe('new'); // the load answered after the event...
    expect(await second).toBe('new');
    expect(slow.calls()).toBe(1); // ...once for both gets...
    const l = counted(() => 'fresh');
    expect(await cache.get('quota', id, l.load)).toBe('fresh'); // ...and was not kept
    expect(l.calls()).toBe(1);
  });

  it('is emptied when the connection to the server is lost', async () => {
    const id = `p-${randomUUID()}`;
    let v = 'before';
    const l = counted(() => v);
    expect(await cache.get('quota', id, l.load)).toBe('before');
    v = 'after';
    await nats.restart(); // events appended meanwhile could not reach the subscription
    await eventually(async () => !nc.isClosed() && (await nc.flush().then(() => true, () => false)));
    await eventually(async () => (await cache.get('quota', id, l.load)) === 'after');
    expect(l.calls()).toBe(2);
  });
});

describe('without permission to subscribe', () => {
  it('caches nothing when its subscription is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zun-lookup-perm-'));
    const conf = join(dir, 'nats.conf');
    writeFileSync(
      conf,
      'authorization { users = [ { user: gw, password: gw-pass, permissions: { publish: { allow: [">"] }, subscribe: { allow: ["_INBOX.>"] } } } ] }\n',
    );
    const locked = await startNats({ args: ['-c', conf] });
    const gw = await connect({ servers: locked.url, user: 'gw', pass: 'gw-pass' });
    const warnings: string[] = [];
    const captured = createLogger('lookup-cache-it', 'warn', { write: (line: string) => void warnings.push(line) });
    try {
      const c = await createLookupCache({ nc: gw, kinds: ['quota'], log: captured });
      await eventually(() => warnings.some((w) => w.includes('caching nothing')));
      const l = counted(() => 'x');
      await c.get('quota', 'p', l.load);
      await c.get('quota', 'p', l.load);
      expect(l.calls()).toBe(2);
      await c.close();
    } finally {
      await gw.close();
      await locked.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('through two gateways', () => {
  it('a quota set through one gateway holds at once for creates through the other, which had it cached', async () => {
    const config = {
      host: '127.0.0.1',
      port: 0,
      baseUrl: undefined,
      auth: loadConfig({ AUTH_MODE: 'noauth', GATEWAY_SECRET: 'lookup-cache-it-secret-of-at-least-32-bytes' }).auth,
      quotaDefaults: { containers: -1, memory: -1, disk: -1, cpu: -1 },
    };
    // Both connections are back from the restart above.
    await eventually(async () => (await Promise.all([nc.flush(), other.flush()]).then(() => true, () => false)));
    const projector = await createProjector({ nc, store, log });
    const a: Gateway = await startGateway({ nc, log, config, readModelTimings: { retryMs: 100, readyTimeoutMs: 3_000 } });
    const b: Gateway = await startGateway({ nc: other, log, config, readModelTimings: { retryMs: 100, readyTimeoutMs: 3_000 } });
    try {
      const project = `proj-${randomUUID()}`;
      const headers = {
        'Content-Type': 'application/json',
        'OpenStack-API-Version': 'container 1.40',
        'X-Project-Id': project,
        'X-User-Id': 'u',
        'X-Roles': 'admin',
      };
      const call = async (g: Gateway, method: string, path: string, body: unknown) => {
        const res = await fetch(`${g.url}${path}`, { method, headers, body: JSON.stringify(body) });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      // Unlimited: the first create through A reads (and caches) the project's quota and default network.
      const first = await call(a, 'POST', '/v1/containers', { name: 'one', image: 'cirros' });
      expect(first.status).toBe(202);
      await a.readModel.ready();
      await eventually(async () => (await a.readModel.listContainers({ projectId: project })).length === 1);
      // B limits the project to the one container it has.
      expect((await call(b, 'PUT', `/v1/quotas/${project}`, { containers: 1 })).status).toBe(200);
      // A's next create counts against the new limit, though A had "unlimited"
      // cached: B's event reaches A's subscription within a moment.
      await sleep(200);
      const second = await call(a, 'POST', '/v1/containers', { name: 'two', image: 'cirros' });
      expect(second.status).toBe(403);
      expect(JSON.stringify(second.body)).toMatch(/Quota exceeded/);
    } finally {
      await a.close();
      await b.close();
      await projector.stop();
    }
  });
});
