import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/index.js';
import { openAuditLog } from './audit-log.js';
import type { AuditEntry } from './chain.js';
import { createAuditReader } from './reader.js';
import { auditRoutes, type AuditScope } from './routes.js';

const T0 = Date.UTC(2026, 0, 1);
const ev = (seq: number, projectId: string, aggregateId: string, type = 'ContainerStartRequested') =>
  ({
    id: `e-${seq}`, type, schemaVersion: 1, aggregateKind: 'container', aggregateId, projectId, userId: `${projectId}-user`,
    requestId: `req-${seq}`, correlationId: `req-${seq}`, causationId: null, occurredAt: new Date(T0 + seq * 1000).toISOString(),
    data: {}, seq,
  }) as RecordedEvent;

describe('GET /v1/audit', () => {
  let dir: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zun-audit-api-'));
    const w = await openAuditLog({ dir, clock: () => new Date(T0), fsync: 'never' });
    for (let s = 1; s <= 12; s++) await w.append(ev(s, s <= 8 ? 'pa' : 'pb', `c-${s % 2}`, s === 5 ? 'ContainerDeleted' : undefined));
    await w.close();
    app = Fastify();
    // Stands in for the gateway's auth: the header says who asks.
    const authorize = (req: { headers: Record<string, unknown> }): AuditScope => {
      const who = req.headers['x-test-auth'];
      if (who === 'admin') return { all: true };
      if (typeof who === 'string') return { projectId: who };
      throw Object.assign(new Error('unauthenticated'), { statusCode: 401 });
    };
    await app.register(auditRoutes, { reader: createAuditReader(dir), authorize });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (url: string, who?: string) => app.inject({ method: 'GET', url, headers: who ? { 'x-test-auth': who } : {} });
  const seqs = (body: { audit: AuditEntry[] }) => body.audit.map((e) => e.streamSeq);

  it('an admin sees every project and can filter', async () => {
    const all = await get('/v1/audit', 'admin');
    expect(all.statusCode).toBe(200);
    expect(seqs(all.json())).toHaveLength(12);
    expect(all.json().integrity).toMatchObject({ ok: true, entries: 12 });
    expect(seqs((await get('/v1/audit?project_id=pb', 'admin')).json())).toEqual([9, 10, 11, 12]);
    expect(seqs((await get('/v1/audit?aggregate_id=c-1&project_id=pa', 'admin')).json())).toEqual([1, 3, 5, 7]);
    expect(seqs((await get('/v1/audit?type=ContainerDeleted', 'admin')).json())).toEqual([5]);
    expect(seqs((await get('/v1/audit?user_id=pb-user', 'admin')).json())).toEqual([9, 10, 11, 12]);
    const since = new Date(T0 + 3000).toISOString();
    const until = new Date(T0 + 4000).toISOString();
    expect(seqs((await get(`/v1/audit?since=${since}&until=${until}`, 'admin')).json())).toEqual([3, 4]);
  });

  it('a project member sees only their project, even unfiltered; naming another project is 403', async () => {
    const mine = await get('/v1/audit', 'pb');
    expect(seqs(mine.json())).toEqual([9, 10, 11, 12]);
    expect(mine.json().audit.every((e: AuditEntry) => e.event!.projectId === 'pb')).toBe(true);
    expect(mine.json().integrity).toEqual({ ok: true, firstBreak: null });
    expect(seqs((await get('/v1/audit?aggregate_id=c-1', 'pb')).json())).toEqual([9, 11]);
    const other = await get('/v1/audit?project_id=pa', 'pb');
    expect(other.statusCode).toBe(403);
    expect(other.json().errors[0]).toMatchObject({ status: 403, code: 'audit.policy-not-authorized' });
    expect((await get('/v1/audit/head', 'pb')).statusCode).toBe(403);
  });

  it('pages with limit and marker; the next link carries the filters', async () => {
    const p1 = await get('/v1/audit?project_id=pa&limit=5', 'admin');
    expect(seqs(p1.json())).toEqual([1, 2, 3, 4, 5]);
    const next = new URL(p1.json().next);
    expect(next.pathname).toBe('/v1/audit');
    expect(Object.fromEntries(next.searchParams)).toEqual({ project_id: 'pa', limit: '5', marker: '5' });
    const p2 = await get(`${next.pathname}${next.search}`, 'admin');
    expect(seqs(p2.json())).toEqual([6, 7, 8]);
    expect(p2.json().next).toBeNull();
  });

  it('bad input is a 400 in Zun\'s error body; no identity is the app\'s 401', async () => {
    for (const q of ['limit=0', 'limit=x', 'since=notatime', 'type=a.b']) {
      const r = await get(`/v1/audit?${q}`, 'admin');
      expect(r.statusCode, q).toBe(400);
      expect(r.json().errors[0], q).toMatchObject({ status: 400, code: 'audit.invalid' });
    }
    expect((await get('/v1/audit')).statusCode).toBe(401);
  });

  it('exposes the head hash to admins', async () => {
    const r = await get('/v1/audit/head', 'admin');
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ ok: true, entries: 12, head: { auditSeq: 12, streamSeq: 12 } });
    expect(body.head.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
