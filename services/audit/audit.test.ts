import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/index.js';
import {
  BreakKind,
  EMPTY_HEAD,
  GENESIS_HASH,
  canonicalJson,
  entryLine,
  hashOf,
  nextEntry,
  parseEntry,
  sha256Hex,
  verifyText,
  type AuditEntry,
} from './chain.js';
import { openAuditLog } from './audit-log.js';
import { createAuditReader, verifyFile } from './reader.js';
import { AuditLogCorruptError, AuditLogLockedError } from './errors.js';
import { AUDIT_FILE_NAME } from './paths.js';

const T0 = Date.UTC(2026, 0, 1);

function ev(seq: number, over: Partial<RecordedEvent> = {}): RecordedEvent {
  return {
    id: `e-${seq}`,
    type: 'ContainerStartRequested',
    schemaVersion: 1,
    aggregateKind: 'container',
    aggregateId: `c-${seq % 3}`,
    projectId: seq % 2 ? 'p-odd' : 'p-even',
    userId: `u-${seq % 4}`,
    requestId: `req-${seq}`,
    correlationId: `req-${seq}`,
    causationId: null,
    occurredAt: new Date(T0 + seq * 1000).toISOString(),
    data: {},
    seq,
    ...over,
  } as RecordedEvent;
}

/** A well-formed record of n entries, as text. */
function chainText(n: number): string {
  let head = EMPTY_HEAD;
  let out = '';
  for (let i = 1; i <= n; i++) {
    const e = nextEntry(head, ev(i * 2), new Date(T0 + i).toISOString());
    out += entryLine(e);
    head = { auditSeq: e.auditSeq, streamSeq: e.streamSeq, hash: e.hash };
  }
  return out;
}

const lines = (t: string) => t.split('\n').filter((l) => l !== '');
const unlines = (ls: string[]) => ls.map((l) => l + '\n').join('');

describe('canonical JSON', () => {
  it('sorts keys at every depth, drops undefined, and is whitespace-free', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 'é' }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[1,{"y":"é","z":1}]},"b":1}');
    expect(canonicalJson([undefined, 1.5, -0, 1e21])).toBe('[null,1.5,0,1e+21]');
    expect(() => canonicalJson({ x: NaN })).toThrow(TypeError);
  });

  it('is independent of key insertion order', () => {
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
});

describe('the hash chain', () => {
  it('hash = sha256(prevHash + canonical JSON of the entry without hash); the first links to genesis', () => {
    const e = nextEntry(EMPTY_HEAD, ev(7), '2026-01-01T00:00:00.000Z');
    const { hash, ...body } = e;
    expect(e.prevHash).toBe(GENESIS_HASH);
    expect(hash).toBe(sha256Hex(GENESIS_HASH + canonicalJson(body)));
    expect(e).toMatchObject({ auditSeq: 1, streamSeq: 7, event: { type: 'ContainerStartRequested', projectId: 'p-odd', data: {} } });
    expect(e.event).not.toHaveProperty('seq');
  });

  it('an untouched record verifies and reports its head', () => {
    const text = chainText(20);
    const r = verifyText(text);
    const last = parseEntry(lines(text).at(-1)!);
    expect(r).toMatchObject({ ok: true, entries: 20, firstBreak: null, tornTail: false });
    expect(r.head).toEqual({ auditSeq: 20, streamSeq: 40, hash: last.hash });
    expect(verifyText('')).toMatchObject({ ok: true, entries: 0, head: EMPTY_HEAD });
  });

  it('detects an edited field, naming the line', () => {
    const ls = lines(chainText(10));
    const e = JSON.parse(ls[4]!) as AuditEntry;
    ls[4] = JSON.stringify({ ...e, event: { ...e.event!, userId: 'mallory' } });
    const r = verifyText(unlines(ls));
    expect(r.ok).toBe(false);
    expect(r.firstBreak).toMatchObject({ kind: BreakKind.edited, line: 5, expectedAuditSeq: 5 });
    expect(r.firstBreak!.message).toMatch(/line 5: entry auditSeq 5 .* edited/);
    expect(r.entries).toBe(4);
  });

  it('detects an edit even when the editor recomputes that entry\'s own hash', () => {
    const ls = lines(chainText(10));
    const e = JSON.parse(ls[4]!) as AuditEntry;
    const { hash: _h, ...body } = { ...e, event: { ...e.event!, data: { forged: true } } };
    ls[4] = canonicalJson({ ...body, hash: hashOf(body) });
    const r = verifyText(unlines(ls));
    expect(r.firstBreak).toMatchObject({ kind: BreakKind.relinked, line: 6 });
    expect(r.firstBreak!.message).toMatch(/does not link to the entry before it/);
  });

  it('detects a deleted line in the middle', () => {
    const ls = lines(chainText(10));
    ls.splice(6, 1);
    const r = verifyText(unlines(ls));
    expect(r.firstBreak).toMatchObject({ kind: BreakKind.missing, line: 7 });
    expect(r.firstBreak!.message).toBe('line 7: expected auditSeq 7, found 8: entry 7 is missing here (deleted, or moved further down)');
    const more = lines(chainText(10));
    more.splice(2, 3);
    expect(verifyText(unlines(more)).firstBreak!.message).toMatch(/entries 3..5 are missing here/);
  });

  it('detects two swapped lines', () => {
    const ls = lines(chainText(10));
    [ls[3], ls[4]] = [ls[4]!, ls[3]!];
    const r = verifyText(unlines(ls));
    expect(r.firstBreak).toMatchObject({ kind: BreakKind.missing, line: 4 });
    const first = lines(chainText(10));
    [first[0], first[9]] = [first[9]!, first[0]!];
    expect(verifyText(unlines(first)).firstBreak).toMatchObject({ line: 1 });
    const dup = lines(chainText(10));
    dup.splice(5, 0, dup[3]!);
    expect(verifyText(unlines(dup)).firstBreak).toMatchObject({ kind: BreakKind.reordered, line: 6 });
  });

  it('detects a renumbered deletion (auditSeqs rewritten to close the gap)', () => {
    const ls = lines(chainText(10)).map((l) => JSON.parse(l) as AuditEntry);
    ls.splice(3, 1);
    const renumbered = ls.map((e, i) => canonicalJson({ ...e, auditSeq: i + 1 }));
    const r = verifyText(unlines(renumbered));
    expect(r.firstBreak).toMatchObject({ kind: BreakKind.edited, line: 4 });
  });

  it('detects garbage lines and reports a torn tail as a warning, not a break', () => {
    const ls = lines(chainText(5));
    ls[2] = '{"auditSeq":3,';
    expect(verifyText(unlines(ls)).firstBreak).toMatchObject({ kind: BreakKind.unparseable, line: 3 });
    const torn = chainText(5) + '{"auditSeq":6,"str';
    expect(verifyText(torn)).toMatchObject({ ok: true, entries: 5, tornTail: true });
  });

  it('a cut tail or a whole rewrite passes on its own but not against an anchored head', () => {
    const text = chainText(10);
    const anchor = verifyText(text).head;
    const cut = unlines(lines(text).slice(0, 7));
    expect(verifyText(cut).ok).toBe(true); // the stated limit
    const r = verifyText(cut, { expectedHead: anchor });
    expect(r.firstBreak).toMatchObject({ kind: BreakKind.headMismatch });
    expect(r.firstBreak!.message).toMatch(/ends at auditSeq 7 .* anchored head is auditSeq 10: its last 3 entries were cut/);

    // A forger rebuilds the whole chain from genesis with one event changed.
    let head = EMPTY_HEAD;
    let forged = '';
    for (const l of lines(text)) {
      const e = JSON.parse(l) as AuditEntry;
      const event = e.auditSeq === 2 ? { ...e.event!, userId: 'mallory' } : e.event!;
      const body = { auditSeq: e.auditSeq, streamSeq: e.streamSeq, recordedAt: e.recordedAt, event, prevHash: head.hash };
      const ne = { ...body, hash: hashOf(body) };
      forged += entryLine(ne);
      head = { auditSeq: ne.auditSeq, streamSeq: ne.streamSeq, hash: ne.hash };
    }
    expect(verifyText(forged).ok).toBe(true); // the stated limit
    expect(verifyText(forged, { expectedHead: anchor }).firstBreak!.message).toMatch(/the chain was rewritten/);
    // A longer record whose entry at the anchor matches is fine.
    expect(verifyText(text, { expectedHead: { ...anchor } }).ok).toBe(true);
    const longer = verifyText(chainText(12), { expectedHead: verifyText(chainText(10)).head });
    expect(longer.ok).toBe(true);
  });
});

describe('the audit log on disk', () => {
  let dir: string;
  let now = T0;
  const clock = () => new Date((now += 1000));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zun-audit-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends once per stream sequence, resumes from its last entry, and verifies', async () => {
    const a = await openAuditLog({ dir, clock });
    expect(a.head).toEqual(EMPTY_HEAD);
    for (const s of [1, 2, 3]) expect(await a.append(ev(s))).not.toBeNull();
    expect(await a.append(ev(2))).toBeNull(); // redelivery
    expect(await a.append(ev(3))).toBeNull();
    await a.close();

    const b = await openAuditLog({ dir, clock });
    expect(b.head).toMatchObject({ auditSeq: 3, streamSeq: 3 });
    expect(await b.append(ev(1))).toBeNull();
    await Promise.all([b.append(ev(4)), b.append(ev(5)), b.append(ev(6))]); // concurrent: one group commit
    await b.close();
    const r = await verifyFile(join(dir, AUDIT_FILE_NAME));
    expect(r).toMatchObject({ ok: true, entries: 6, head: { auditSeq: 6, streamSeq: 6 } });
    const seqs = lines(readFileSync(join(dir, AUDIT_FILE_NAME), 'utf8')).map((l) => (JSON.parse(l) as AuditEntry).streamSeq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('appendMany writes a batch once, skipping what is recorded, and chains with single appends', async () => {
    const a = await openAuditLog({ dir, clock });
    await a.append(ev(1));
    expect(await a.appendMany([ev(1), ev(2), ev(3), ev(5)])).toBe(3);
    expect(await a.appendMany([ev(2), ev(5)])).toBe(0);
    await a.append(ev(6));
    expect(a.head).toMatchObject({ auditSeq: 5, streamSeq: 6 });
    await a.close();
    const r = await verifyFile(join(dir, AUDIT_FILE_NAME));
    expect(r).toMatchObject({ ok: true, entries: 5 });
    expect(lines(readFileSync(join(dir, AUDIT_FILE_NAME), 'utf8')).map((l) => (JSON.parse(l) as AuditEntry).streamSeq)).toEqual([1, 2, 3, 5, 6]);
  });

  it('one writer at a time; a dead writer\'s lock is taken over', async () => {
    const a = await openAuditLog({ dir, clock, fsync: 'never' });
    await expect(openAuditLog({ dir, clock })).rejects.toBeInstanceOf(AuditLogLockedError);
    await a.close();
    expect(existsSync(join(dir, 'audit.lock'))).toBe(false);
    writeFileSync(join(dir, 'audit.lock'), '999999999'); // no such pid
    const b = await openAuditLog({ dir, clock, fsync: 'never' });
    await b.close();
  });

  it('truncates a torn last line on open; refuses to extend a tampered last entry', async () => {
    const a = await openAuditLog({ dir, clock, fsync: 'interval', fsyncIntervalMs: 10 });
    for (const s of [1, 2, 3]) await a.append(ev(s));
    await a.close();
    const path = join(dir, AUDIT_FILE_NAME);
    appendFileSync(path, '{"auditSeq":4,"streamSeq":4,"rec');
    const b = await openAuditLog({ dir, clock });
    expect(b.head).toMatchObject({ auditSeq: 3 });
    await b.append(ev(4));
    await b.close();
    expect((await verifyFile(path)).ok).toBe(true);

    const ls = lines(readFileSync(path, 'utf8'));
    ls[3] = ls[3]!.replace('"p-even"', '"p-odd"');
    writeFileSync(path, unlines(ls));
    await expect(openAuditLog({ dir, clock })).rejects.toBeInstanceOf(AuditLogCorruptError);
    ls[3] = 'garbage';
    writeFileSync(path, unlines(ls));
    await expect(openAuditLog({ dir, clock })).rejects.toThrow(/not an audit entry/);
  });

  it('verifyOnOpen refuses a record broken anywhere', async () => {
    const a = await openAuditLog({ dir, clock, fsync: 'never' });
    for (const s of [1, 2, 3, 4]) await a.append(ev(s));
    await a.close();
    const path = join(dir, AUDIT_FILE_NAME);
    const ls = lines(readFileSync(path, 'utf8'));
    ls.splice(1, 1);
    writeFileSync(path, unlines(ls));
    const b = await openAuditLog({ dir, clock, fsync: 'never' }); // last entry is fine
    await b.close();
    await expect(openAuditLog({ dir, clock, verifyOnOpen: true })).rejects.toThrow(/entry 2 is missing/);
  });
});

describe('the audit reader', () => {
  let dir: string;
  let now = T0;
  const clock = () => new Date((now += 1000));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zun-audit-r-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('queries by project, user, aggregate, type and time range, pages, and sees new entries', async () => {
    const w = await openAuditLog({ dir, clock, fsync: 'never' });
    for (let s = 1; s <= 30; s++) {
      await w.append(ev(s, s === 10 ? { type: 'ContainerDeleted' } : {}));
    }
    const r = createAuditReader(dir);
    const all = await r.query({ limit: 1000 });
    expect(all.entries.map((e) => e.streamSeq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(all.next).toBeNull();
    expect(all.integrity).toMatchObject({ ok: true, entries: 30, head: w.head });

    const odd = await r.query({ projectId: 'p-odd', limit: 1000 });
    expect(odd.entries.every((e) => e.event!.projectId === 'p-odd')).toBe(true);
    expect(odd.entries).toHaveLength(15);
    const both = await r.query({ projectId: 'p-odd', userId: 'u-1', aggregateId: 'c-1' });
    expect(both.entries.map((e) => e.streamSeq)).toEqual([1, 13, 25]);
    expect((await r.query({ type: 'ContainerDeleted' })).entries.map((e) => e.streamSeq)).toEqual([10]);
    const range = await r.query({ since: new Date(T0 + 5000).toISOString(), until: new Date(T0 + 8000) });
    expect(range.entries.map((e) => e.streamSeq)).toEqual([5, 6, 7, 8]);
    expect((await r.query({ projectId: 'nobody' })).entries).toEqual([]);

    const p1 = await r.query({ limit: 12, projectId: 'p-even' });
    expect(p1.entries).toHaveLength(12);
    expect(p1.next).toBe(24);
    const p2 = await r.query({ limit: 12, projectId: 'p-even', afterAuditSeq: p1.next! });
    expect(p2.entries.map((e) => e.streamSeq)).toEqual([26, 28, 30]);
    expect(p2.next).toBeNull();

    await w.append(ev(31));
    expect((await r.tail(2)).map((e) => e.streamSeq)).toEqual([30, 31]);
    await w.close();
    await expect(r.query({ since: 'yesterday' })).rejects.toThrow(/not a timestamp/);
    await expect(r.query({ limit: 0 })).rejects.toThrow(/limit/);
  });

  it('reports a broken chain and still serves what it read; starts over when the file is replaced', async () => {
    const w = await openAuditLog({ dir, clock, fsync: 'never' });
    for (let s = 1; s <= 6; s++) await w.append(ev(s));
    await w.close();
    const path = join(dir, AUDIT_FILE_NAME);
    const ls = lines(readFileSync(path, 'utf8'));
    [ls[1], ls[2]] = [ls[2]!, ls[1]!];
    writeFileSync(path + '.new', unlines(ls));
    const { renameSync } = await import('node:fs');
    renameSync(path + '.new', path);
    const r = createAuditReader(dir);
    const res = await r.query({});
    expect(res.entries).toHaveLength(6);
    expect(res.integrity.ok).toBe(false);
    expect(res.integrity.firstBreak).toMatchObject({ line: 2 });
    expect(res.integrity.head.auditSeq).toBe(1);
  });

  it('an absent record is empty', async () => {
    const r = createAuditReader(join(dir, 'none'));
    expect((await r.query({})).entries).toEqual([]);
    expect((await r.integrity()).head).toEqual(EMPTY_HEAD);
  });
});
