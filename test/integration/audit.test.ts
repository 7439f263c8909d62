/**
 * The audit subscriber as a real process against a real nats-server:
 * SIGKILLed while events are being appended, it resumes with no gap and no
 * duplicate; a malformed message in the stream is recorded as such; a record
 * that lost its tail (as in an OS crash before fsync) is completed from the
 * stream. Then the record is tampered with and `zunctl audit verify` (the
 * real CLI, spawned) names the first broken entry.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { decodeEvent, envelope, type EventEnvelope } from '../../events/index.js';
import { connectNats, type NatsConnection } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { createAuditReader, verifyFile } from '../../services/audit/reader.js';
import { startAuditSubscriber } from '../../services/audit/subscriber.js';
import { createLogger } from '../../services/platform/log.js';
import { auditedEvent, type AuditEntry } from '../../services/audit/chain.js';
import { AUDIT_FILE_NAME } from '../../services/audit/paths.js';
import { spawnService, waitFor, type ServiceProcess } from '../support/cluster.js';
import { startNats, type NatsServer } from '../support/servers.js';

const REPO = join(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runZunctl(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'services/zunctl/main.ts'), ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('audit subscriber', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let audit: ServiceProcess | undefined;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectNats({ servers: nats.url, name: 'audit-test' });
    await ensureStream(await jetstreamManager(nc));
    dir = mkdtempSync(join(tmpdir(), 'zun-audit-it-'));
  });
  afterAll(async () => {
    await audit?.stop();
    await nc?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const path = () => join(dir, AUDIT_FILE_NAME);
  const recorded = () =>
    readFileSync(path(), 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('}'))
      .map((l) => JSON.parse(l) as AuditEntry);
  const streamLast = async () => (await (await jetstreamManager(nc)).streams.info('ZUN_EVENTS')).state.last_seq;
  const caughtUp = async () => {
    const last = await streamLast();
    await waitFor('the audit record to reach the end of the stream', async () => (await createAuditReader(dir).integrity()).head.streamSeq === last, 60_000, 100);
    return last;
  };

  it('killed with SIGKILL mid-stream, resumes with no gap and no duplicate', async () => {
    audit = spawnService('audit', 'services/audit/main.ts', { NATS_URL: nats.url, AUDIT_DIR: dir, LOG_LEVEL: 'info', AUDIT_FSYNC: 'always' });
    const store = createJetStreamEventStore({ nc });
    const js = jetstream(nc);
    const N = 3000;
    const AGGREGATES = 25;
    const last = new Map<string, number>();
    let written = 0;
    const started = performance.now();

    const progress = createAuditReader(dir);
    const writer = (async () => {
      for (let i = 0; i < N; i++) {
        const id = `c-${i % AGGREGATES}`;
        const e = envelope({ type: 'ContainerStartRequested', data: {} }, { id: `ev-${i}`, aggregateKind: 'container', aggregateId: id }, {
          projectId: `p-${i % 3}`, userId: 'u', requestId: `req-${i}`, correlationId: `req-${i}`, causationId: null,
          occurredAt: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
        }) as EventEnvelope;
        const res = await store.append('container', id, [e], last.get(id) ?? 0, `cmd-${i}`);
        last.set(id, res.seqs[0]!);
        written++;
        // Two malformed messages: consumeDurable terminates them; the audit must still record their sequences.
        if (i === 1000 || i === 2500) await js.publish('zun.evt.container.junk', new TextEncoder().encode(`not json ${i}`));
        // Stay at most 500 events ahead of the record, so every kill below lands while events arrive.
        if (i % 100 === 99) while (written - (await progress.integrity()).entries > 500) await sleep(50);
      }
    })();

    // Kill it three times, at different depths, while the writer runs.
    const kills: { at: number; entries: number }[] = [];
    for (const threshold of [200, 900, 1600]) {
      await waitFor(`the audit record to reach ${threshold}`, async () => (await createAuditReader(dir).integrity()).entries >= threshold, 60_000, 20);
      await audit.kill9();
      kills.push({ at: written, entries: (await createAuditReader(dir).integrity()).entries });
      await sleep(150);
      await audit.restart();
    }
    await writer;
    const lastSeq = await caughtUp();
    const elapsed = performance.now() - started;
    expect(lastSeq).toBe(N + 2);
    expect(kills.every((k) => k.at < N)).toBe(true); // every kill happened while appends were going on

    const entries = recorded();
    expect(entries.map((e) => e.streamSeq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect(entries.map((e) => e.auditSeq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    const report = await verifyFile(path());
    expect(report).toMatchObject({ ok: true, entries: lastSeq, tornTail: false });

    // Each entry is the stream's message at that sequence; the junk is recorded as malformed.
    const jsm = await jetstreamManager(nc);
    for (const e of entries) {
      const m = (await jsm.streams.getMessage('ZUN_EVENTS', { seq: e.streamSeq }))!;
      if (e.event === null) {
        expect(e.malformed!.subject).toBe('zun.evt.container.junk');
        expect(Buffer.from(e.malformed!.body, 'base64').toString()).toBe(m.string());
      } else {
        expect(e.event).toEqual(auditedEvent(decodeEvent(m.data, m.seq)));
      }
    }
    expect(entries.filter((e) => e.event === null).map((e) => e.streamSeq)).toEqual([1002, 2503]);
    console.log(`audit: ${N} events + 2 malformed, 3 SIGKILLs at ${kills.map((k) => `${k.entries} entries/${k.at} written`).join(', ')}; caught up in ${(elapsed / 1000).toFixed(1)} s`);
  });

  it('a record that lost its tail (an OS crash before fsync) is completed from the stream', async () => {
    await audit!.stop();
    const all = readFileSync(path(), 'utf8').split('\n').filter(Boolean);
    writeFileSync(path(), all.slice(0, all.length - 400).map((l) => l + '\n').join(''));
    expect((await createAuditReader(dir).integrity()).head.streamSeq).toBe(all.length - 400);
    await audit!.restart();
    const lastSeq = await caughtUp();
    expect(recorded().map((e) => e.streamSeq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect((await verifyFile(path())).ok).toBe(true);
    expect(audit!.output()).toMatch(/"events":400,.*"msg":"caught up from the stream"/);
    await audit!.stop();
  });

  it('zunctl audit verify names an edited field, a deleted line and swapped lines; the intact record passes', async () => {
    const env = { AUDIT_DIR: dir, NATS_URL: nats.url };
    const good = readFileSync(path(), 'utf8');
    const ok = await runZunctl(['audit', 'verify', '--json', '--against-stream'], env);
    expect(ok.stderr).not.toMatch(/error/);
    const okBody = JSON.parse(ok.stdout);
    expect(ok.code).toBe(0);
    expect(okBody).toMatchObject({ ok: true, entries: 3002, firstBreak: null, stream: { ok: true, lag: 0 } });
    // Including the two malformed messages, compared byte for byte.
    expect(okBody.stream.compared).toBe(3002);
    const head = okBody.head as { auditSeq: number; hash: string };

    const lines = good.split('\n').filter(Boolean);
    const tamper = async (edit: (ls: string[]) => string[]) => {
      writeFileSync(path(), edit([...lines]).map((l) => l + '\n').join(''));
      const r = await runZunctl(['audit', 'verify', '--json'], env);
      return { code: r.code, body: JSON.parse(r.stdout) as { ok: boolean; firstBreak: { kind: string; line: number; message: string } } };
    };

    const edited = await tamper((ls) => {
      ls[1499] = ls[1499]!.replace('"userId":"u"', '"userId":"mallory"');
      return ls;
    });
    expect(edited.code).toBe(1);
    expect(edited.body.firstBreak).toMatchObject({ kind: 'edited', line: 1500 });

    const deleted = await tamper((ls) => [...ls.slice(0, 700), ...ls.slice(701)]);
    expect(deleted.body.firstBreak).toMatchObject({ kind: 'missing', line: 701 });
    expect(deleted.body.firstBreak.message).toMatch(/expected auditSeq 701, found 702/);

    const swapped = await tamper((ls) => {
      [ls[41], ls[42]] = [ls[42]!, ls[41]!];
      return ls;
    });
    expect(swapped.code).toBe(1);
    expect(swapped.body.firstBreak).toMatchObject({ line: 42 });

    // A cut tail passes on its own, and fails against the anchored head.
    await tamper((ls) => ls.slice(0, 2900));
    const cut = await runZunctl(['audit', 'verify', '--json', '--expect-head', head.hash, '--expect-seq', String(head.auditSeq)], env);
    expect(cut.code).toBe(1);
    expect(JSON.parse(cut.stdout).firstBreak).toMatchObject({ kind: 'head-mismatch' });

    // A chain re-hashed from genesis with one event changed passes the chain check, not the stream check.
    const { canonicalJson, hashOf } = await import('../../services/audit/chain.js');
    let prev = '0'.repeat(64);
    const forged = lines.map((l) => {
      const e = JSON.parse(l) as AuditEntry;
      const event = e.auditSeq === 10 ? { ...e.event!, userId: 'mallory' } : e.event;
      const { hash: _h, ...body } = { ...e, event, prevHash: prev };
      const hash = hashOf(body);
      prev = hash;
      return canonicalJson({ ...body, hash });
    });
    writeFileSync(path(), forged.map((l) => l + '\n').join(''));
    const rewritten = await runZunctl(['audit', 'verify', '--json', '--against-stream'], env);
    expect(rewritten.code).toBe(1);
    const rb = JSON.parse(rewritten.stdout);
    expect(rb.firstBreak).toBeNull();
    expect(rb.stream.problems).toEqual([expect.stringMatching(/stream seq 10: the record's event differs from the stream's/)]);

    writeFileSync(path(), good);
    expect((await runZunctl(['audit', 'verify'], env)).code).toBe(0);
  });

  it('zunctl audit query filters and pages; audit tail --follow prints entries as they are recorded', async () => {
    const env = { AUDIT_DIR: dir, NATS_URL: nats.url };
    const q = await runZunctl(['audit', 'query', '--project', 'p-1', '--limit', '5', '--json'], env);
    expect(q.code).toBe(0);
    const body = JSON.parse(q.stdout) as { entries: AuditEntry[]; next: number; integrity: { ok: boolean } };
    expect(body.entries).toHaveLength(5);
    expect(body.entries.every((e) => e.event?.projectId === 'p-1')).toBe(true);
    expect(body.next).toBe(body.entries[4]!.auditSeq);
    expect(body.integrity.ok).toBe(true);
    const since = await runZunctl(['audit', 'query', '--id', 'c-3', '--since', new Date(Date.UTC(2026, 0, 1) + 2900).toISOString(), '--json'], env);
    expect((JSON.parse(since.stdout) as { entries: AuditEntry[] }).entries.map((e) => e.event!.id)).toEqual(['ev-2903', 'ev-2928', 'ev-2953', 'ev-2978']);

    await audit!.restart();
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'services/zunctl/main.ts'), 'audit', 'tail', '--follow', '-n', '2', '--json'], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await waitFor('the last two entries', async () => out.split('\n').filter(Boolean).length >= 2, 30_000, 50);
      const store = createJetStreamEventStore({ nc });
      const id = 'c-follow';
      let seq = 0;
      for (let i = 0; i < 3; i++) {
        const e = envelope({ type: 'ContainerStartRequested', data: {} }, { id: `follow-${i}`, aggregateKind: 'container', aggregateId: id }, {
          projectId: 'p-f', userId: 'u', requestId: `req-f${i}`, correlationId: `req-f${i}`, causationId: null, occurredAt: new Date().toISOString(),
        }) as EventEnvelope;
        seq = (await store.append('container', id, [e], seq, `follow-${i}`)).seqs[0]!;
      }
      await waitFor('the followed entries', async () => out.split('\n').filter(Boolean).length >= 5, 30_000, 50);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    const followed = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    expect(followed.map((e) => e.streamSeq)).toEqual([3001, 3002, 3003, 3004, 3005]);
    expect(followed.slice(2).map((e) => e.event!.id)).toEqual(['follow-0', 'follow-1', 'follow-2']);
    await audit!.stop();
  });

  it('refuses to extend the record over a replaced stream', async () => {
    const fresh = await startNats();
    const nc2 = await connectNats({ servers: fresh.url, name: 'audit-test-2' });
    try {
      await ensureStream(await jetstreamManager(nc2));
      const before = readFileSync(path(), 'utf8');
      await expect(
        startAuditSubscriber({ nc: nc2, dir, log: createLogger('audit-test', 'silent'), clock: () => new Date() }),
      ).rejects.toThrow(/has no message at sequence 3005, where the audit record .* recorded event follow-2: the stream was replaced/);
      expect(readFileSync(path(), 'utf8')).toBe(before);
      expect(existsSync(join(dir, 'audit.lock'))).toBe(false);
    } finally {
      await nc2.close();
      await fresh.stop();
    }
  });
});
