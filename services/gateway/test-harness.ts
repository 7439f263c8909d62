/**
 * Test support for the gateway's unit tests (not used in production): a
 * gateway over the in-memory event store and the folding read model, plus
 * helpers to drive a container's status the way placement and a host actor
 * would, through executeContainerCommand.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import type { ContainerObservation, RecordedEvent } from '../../events/index.js';
import { executeContainerCommand, loadContainer } from '../platform/commands.js';
import type { EventStore } from '../platform/eventstore.js';
import { createMemoryEventStore, type MemoryEventStore } from '../platform/memory-eventstore.js';
import { buildApp, type BuildAppOptions } from './app.js';
import { headerAuth } from './auth.js';
import { createFoldingReadModel } from './readmodel.js';

export const BASE = 'http://zun.test:9517';
export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

export interface Harness {
  readonly app: FastifyInstance;
  readonly store: MemoryEventStore;
  /** Events in the whole stream. */
  count(): number;
  /** Every event of the stream, in order. */
  events(): Promise<RecordedEvent[]>;
  req(method: InjectOptions['method'], url: string, opts?: { version?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  /** POST /v1/containers with a JSON body; returns the uuid on 202. */
  create(body: Record<string, unknown>, opts?: { version?: string; run?: boolean; headers?: Record<string, string> }): Promise<string>;
  /** Placement's ContainerScheduled. */
  schedule(uuid: string, host?: string): Promise<void>;
  /** A host actor's observation. */
  observe(uuid: string, observation: ContainerObservation): Promise<void>;
  /** Create, schedule, and observe until the status is reached (Created, Running, Stopped, Paused). */
  containerIn(status: 'Created' | 'Running' | 'Stopped' | 'Paused', body?: Record<string, unknown>): Promise<string>;
  status(uuid: string): Promise<string | null>;
}

export function harness(overrides: Partial<BuildAppOptions> & { store?: EventStore } = {}): Harness {
  const store = createMemoryEventStore();
  let t = Date.parse('2024-05-18T21:02:12.304Z');
  const clock = () => new Date((t += 1000));
  const app = buildApp({
    store,
    readModel: createFoldingReadModel(store),
    log: pino({ level: 'silent' }),
    clock,
    newId: randomUUID,
    baseUrl: BASE,
    // The noauth mode, chosen explicitly: trusted headers, the admin of `default` otherwise.
    auth: headerAuth({ defaultProjectId: 'default', defaultUserId: 'admin', defaultRoles: ['admin'] }),
    ...overrides,
  });
  const system = { projectId: 'system', userId: 'system' };
  const deps = { store, newId: randomUUID, now: clock };

  const h: Harness = {
    app,
    store,
    count: () => store.lastStreamSeq,
    async events() {
      const out: RecordedEvent[] = [];
      for await (const e of store.readAll()) out.push(e);
      return out;
    },
    req(method, url, opts = {}) {
      const headers: Record<string, string> = { ...(opts.version ? { 'openstack-api-version': `container ${opts.version}` } : {}), ...opts.headers };
      if (opts.body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
      return app.inject({
        method,
        url,
        headers,
        ...(opts.body !== undefined ? { payload: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
      });
    },
    async create(body, opts = {}) {
      const r = await h.req('POST', `/v1/containers${opts.run ? '?run=true' : ''}`, {
        version: opts.version ?? '1.40',
        body,
        ...(opts.headers ? { headers: opts.headers } : {}),
      });
      if (r.statusCode !== 202) throw new Error(`create failed: ${r.statusCode} ${r.body}`);
      return (r.json() as { uuid: string }).uuid;
    },
    async schedule(uuid, host = 'host-1') {
      const res = await executeContainerCommand(deps, uuid, { type: 'ScheduleContainer', host, claim: { cpu: 1, memoryMiB: 512, diskGb: 0 } }, {
        ...system,
        requestId: `req-${randomUUID()}`,
      });
      if (!res.ok) throw new Error(`schedule rejected: ${res.rejection.message}`);
    },
    async observe(uuid, observation) {
      const res = await executeContainerCommand(deps, uuid, { type: 'RecordObservation', observation }, {
        ...system,
        requestId: `req-${randomUUID()}`,
      });
      if (!res.ok) throw new Error(`observation rejected: ${res.rejection.message}`);
    },
    async containerIn(status, body = { image: 'cirros' }) {
      const uuid = await h.create(body);
      await h.schedule(uuid);
      await h.observe(uuid, { type: 'ContainerCreated', data: { dockerId: `d-${uuid}` } });
      if (status === 'Created') return uuid;
      // The user starts it; the host observes the start.
      const start = await h.req('POST', `/v1/containers/${uuid}/start`);
      if (start.statusCode !== 202) throw new Error(`start failed: ${start.body}`);
      await h.observe(uuid, { type: 'ContainerStarted', data: { dockerId: `d-${uuid}` } });
      if (status === 'Running') return uuid;
      if (status === 'Paused') {
        const pause = await h.req('POST', `/v1/containers/${uuid}/pause`);
        if (pause.statusCode !== 202) throw new Error(`pause failed: ${pause.body}`);
        await h.observe(uuid, { type: 'ContainerPaused', data: {} });
        return uuid;
      }
      const stop = await h.req('POST', `/v1/containers/${uuid}/stop`);
      if (stop.statusCode !== 202) throw new Error(`stop failed: ${stop.body}`);
      await h.observe(uuid, { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } });
      return uuid;
    },
    async status(uuid) {
      return (await loadContainer(store, uuid)).status;
    },
  };
  return h;
}

/** The single error of a Zun error body, with its exact key set checked by the caller. */
export function zunError(r: LightMyRequestResponse): { request_id: string; code: string; status: number; title: string; detail: string; links: unknown[] } {
  const body = r.json() as { errors: { request_id: string; code: string; status: number; title: string; detail: string; links: unknown[] }[] };
  if (!Array.isArray(body.errors) || body.errors.length !== 1) throw new Error(`not a Zun error body: ${r.body}`);
  return body.errors[0]!;
}
