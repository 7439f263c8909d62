/**
 * The audit record through the gateway: the gateway's own authentication
 * decides whose entries a caller reads (services/audit/routes.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/index.js';
import { openAuditLog } from '../audit/audit-log.js';
import { createAuditReader } from '../audit/reader.js';
import { harness, type Harness } from './test-harness.js';

const T0 = Date.UTC(2026, 0, 1);
const ev = (seq: number, projectId: string) =>
  ({
    id: `e-${seq}`, type: 'ContainerStartRequested', schemaVersion: 1, aggregateKind: 'container', aggregateId: `c-${seq}`,
    projectId, userId: `${projectId}-user`, requestId: `req-${seq}`, correlationId: `req-${seq}`, causationId: null,
    occurredAt: new Date(T0 + seq * 1000).toISOString(), data: {}, seq,
  }) as RecordedEvent;

describe('GET /v1/audit through the gateway', () => {
  let dir: string;
  let h: Harness;
  const as = (project: string, roles: string) => ({ 'x-project-id': project, 'x-user-id': `${project}-user`, 'x-roles': roles });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zun-gw-audit-'));
    const w = await openAuditLog({ dir, clock: () => new Date(T0), fsync: 'never' });
    for (let s = 1; s <= 6; s++) await w.append(ev(s, s % 2 ? 'pa' : 'pb'));
    await w.close();
    h = harness({ audit: createAuditReader(dir) });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a member reads only their own project's entries", async () => {
    const r = await h.req('GET', '/v1/audit', { headers: as('pa', 'member') });
    expect(r.statusCode).toBe(200);
    const entries = r.json().audit as { streamSeq: number; event: { projectId: string } }[];
    expect(entries.map((e) => e.streamSeq)).toEqual([1, 3, 5]);
    expect(new Set(entries.map((e) => e.event.projectId))).toEqual(new Set(['pa']));
  });

  it("naming another project is refused, and the chain head is the admins'", async () => {
    expect((await h.req('GET', '/v1/audit?project_id=pb', { headers: as('pa', 'member') })).statusCode).toBe(403);
    expect((await h.req('GET', '/v1/audit/head', { headers: as('pa', 'member') })).statusCode).toBe(403);
  });

  it('an admin reads every entry and the head', async () => {
    const all = await h.req('GET', '/v1/audit', { headers: as('admin', 'admin') });
    expect((all.json().audit as unknown[]).length).toBe(6);
    const head = await h.req('GET', '/v1/audit/head', { headers: as('admin', 'admin') });
    expect(head.statusCode).toBe(200);
    expect(head.json().head.streamSeq).toBe(6);
  });
});

describe('GET /v1/audit before the audit service has written anything', () => {
  it('answers an empty page, not an error', async () => {
    const h = harness({ audit: createAuditReader(join(tmpdir(), 'zun-audit-never-written')) });
    const r = await h.req('GET', '/v1/audit', { headers: { 'x-project-id': 'pa', 'x-roles': 'member' } });
    expect([r.statusCode, r.json().audit]).toEqual([200, []]);
  });
});
