/**
 * zunctl, the operators' CLI: commands over the event log, the read models,
 * Docker and the audit record. `runCli(argv, io)` returns the exit code:
 * 0 success, 1 failure (including "verification found problems" and "diff
 * found differences"), 2 usage error. Results go to stdout (`--json`: one
 * JSON document), progress and diagnostics to stderr.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { ALL_EVENTS_SUBJECT, MalformedEventError, STREAM_NAME, decodeEvent, type RecordedEvent } from '../../events/index.js';
import type { HostRecord } from '../../domain/host.js';
import { LABELS } from '../host-actor/docker.js';
import { auditedEvent, canonicalJson, type AuditEntry, type AuditHead } from '../audit/chain.js';
import { auditFilePath, createAuditReader, readLines, verifyFile, type AuditQuery } from '../audit/reader.js';
import { readBatches } from '../platform/jetstream-eventstore.js';
import {
  CommandError,
  UsageError,
  flag,
  int,
  noPositionals,
  onePositional,
  parse,
  str,
  time,
  type Parsed,
} from './args.js';
import { loadConfig, type ZunctlConfig } from './config.js';
import { diffCluster } from './diff.js';
import { exportEvents, importEvents, parseExportDetailed } from './eventlog.js';
import { table, truncate } from './format.js';
import { chooseMode, createProgress, type ProgressMode } from './progress.js';
import { replayAggregate, summarizeHistory } from './replay.js';
import {
  connect,
  foldStream,
  listManagedContainers,
  listRegisteredHosts,
  loadAnyAggregate,
  readReadModels,
  streamLastSeq,
} from './sources.js';
import { clusterView } from './state.js';

export interface CliIO {
  readonly stdout: Writable;
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  /** Epoch ms (for relative times like -15m). */
  readonly now: () => number;
  /** Resolves when the user interrupts (SIGINT): ends `audit tail --follow`. */
  readonly interrupted?: Promise<void>;
}

export const USAGE = `usage: zunctl <command> [options]

  events <id> [--kind container|capsule|placement] [--wide]
      the raw events of one container or capsule, in stream order
  replay <id> [--to-seq N | --at TIME] [--verify]
      the state after each event; --verify runs each through the machine and flags illegal transitions
  replay --all [--verify] [--to-seq N | --at TIME]
      folds (and verifies) the whole log: counts, violations, throughput
  state [--at TIME | --to-seq N] [--host H] [--include-deleted]
      the cluster as the log says it was: containers and capsules per host, the ledger's claims
  diff [--host H] [--no-docker] [--no-read-models] [--docker-socket PATH]
      read models and Docker against the fold of the log, per host (exit 1 when they differ)
  export [--out FILE] [--filter SUBJECT] [--from-seq N]
      the log as JSON Lines (one recorded envelope per line, with seq)
  import <FILE|-> [--force]
      republishes an export into the stream, in order, event id as msgID (refuses a non-empty stream without --force)
  audit tail [-n N] [--follow]
  audit query [--project P] [--user U] [--id ID] [--type T] [--since TIME] [--until TIME] [--limit N] [--marker N]
  audit verify [--expect-head HASH --expect-seq N] [--against-stream]
  audit head

common options:
  --json             one JSON document on stdout
  --progress         a progress bar on stderr even when it is not a terminal
  -q, --quiet        no progress output
  --nats URL         NATS server (default: $NATS_URL or nats://127.0.0.1:4222)
  --etcd URLS        etcd endpoints for the host registry (default: $ETCD_ENDPOINTS; optional)
  --audit-dir DIR    the audit record (default: $AUDIT_DIR or $STATE_DIR/audit)
TIME is ISO-8601, epoch ms, or relative to now with '=': --at=-15m, --since=-2h (units ms, s, m, h, d).
exit codes: 0 ok, 1 failure or problems found, 2 usage error.
`;

interface Ctx {
  readonly io: CliIO;
  readonly p: Parsed;
  readonly cfg: ZunctlConfig;
  readonly json: boolean;
  readonly mode: ProgressMode;
  natsUrl(): string;
}

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const wantsJson = argv.includes('--json');
  try {
    const { cmd, rest } = splitCommand(argv);
    if (cmd === undefined && rest.some((a) => a === '--help' || a === '-h')) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (cmd === undefined) {
      io.stderr.write(USAGE);
      return 2;
    }
    if (cmd === 'help' || cmd === '--help' || cmd === '-h') {
      io.stdout.write(USAGE);
      return 0;
    }
    const spec = COMMANDS[cmd];
    if (!spec) throw new UsageError(`unknown command "${cmd}"`);
    const p = parse(rest, spec.options);
    if (flag(p, 'help')) {
      io.stdout.write(USAGE);
      return 0;
    }
    const cfg = loadConfig(io.env);
    const ctx: Ctx = {
      io,
      p,
      cfg,
      json: flag(p, 'json'),
      mode: chooseMode({ isTTY: !!io.stderr.isTTY, progress: flag(p, 'progress'), quiet: flag(p, 'quiet') }),
      natsUrl: () => str(p, 'nats') ?? cfg.natsUrl,
    };
    return await spec.run(ctx);
  } catch (e) {
    const usage = e instanceof UsageError;
    const code = usage ? 'USAGE' : e instanceof CommandError ? e.code : ((e as { code?: unknown }).code?.toString() ?? 'ERROR');
    const message = (e as Error).message ?? String(e);
    io.stderr.write(`zunctl: ${usage ? 'usage error' : 'error'}: ${message}\n`);
    if (usage) io.stderr.write(`run "zunctl help" for usage\n`);
    if (wantsJson) io.stdout.write(JSON.stringify({ error: { code, message } }) + '\n');
    return usage ? 2 : 1;
  }
}

/** Global options that take a value, so `zunctl --nats URL events x` finds `events`. */
const VALUED_GLOBALS = new Set(['--nats', '--etcd', '--audit-dir']);

/** The command is the first argument that is neither an option nor a global option's value. */
function splitCommand(argv: readonly string[]): { cmd: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (VALUED_GLOBALS.has(a)) i++;
      continue;
    }
    return { cmd: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { cmd: undefined, rest: [...argv] };
}

type Options = Parameters<typeof parse>[1];
const COMMANDS: Record<string, { options: Options; run: (ctx: Ctx) => Promise<number> }> = {
  events: { options: { kind: { type: 'string' }, wide: { type: 'boolean' } }, run: cmdEvents },
  replay: {
    options: { all: { type: 'boolean' }, verify: { type: 'boolean' }, 'to-seq': { type: 'string' }, at: { type: 'string' } },
    run: cmdReplay,
  },
  state: {
    options: { at: { type: 'string' }, 'to-seq': { type: 'string' }, host: { type: 'string' }, 'include-deleted': { type: 'boolean' } },
    run: cmdState,
  },
  diff: {
    options: { host: { type: 'string' }, 'no-docker': { type: 'boolean' }, 'no-read-models': { type: 'boolean' }, 'docker-socket': { type: 'string' } },
    run: cmdDiff,
  },
  export: { options: { out: { type: 'string', short: 'o' }, filter: { type: 'string' }, 'from-seq': { type: 'string' } }, run: cmdExport },
  import: { options: { force: { type: 'boolean' } }, run: cmdImport },
  audit: {
    options: {
      n: { type: 'string', short: 'n' },
      follow: { type: 'boolean', short: 'f' },
      project: { type: 'string' },
      user: { type: 'string' },
      id: { type: 'string' },
      type: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      marker: { type: 'string' },
      'expect-head': { type: 'string' },
      'expect-seq': { type: 'string' },
      'against-stream': { type: 'boolean' },
    },
    run: cmdAudit,
  },
};

// ---------------------------------------------------------------------------
// helpers

function print(ctx: Ctx, json: unknown, text: () => string): void {
  ctx.io.stdout.write(ctx.json ? JSON.stringify(json, null, 2) + '\n' : text());
}

function progress(ctx: Ctx, label: string, unit = 'events') {
  return createProgress({ label, unit, mode: ctx.mode, sink: ctx.io.stderr });
}

async function withNats<T>(ctx: Ctx, f: (nc: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const nc = await connect(ctx.natsUrl());
  try {
    return await f(nc);
  } finally {
    await nc.close().catch(() => {});
  }
}

function cutoff(ctx: Ctx): { toSeq?: number; atMs?: number } {
  const toSeq = int(ctx.p, 'to-seq', 1);
  const atMs = time(ctx.p, 'at', ctx.io.now);
  if (toSeq !== undefined && atMs !== undefined) throw new UsageError('give --to-seq or --at, not both');
  return { ...(toSeq !== undefined ? { toSeq } : {}), ...(atMs !== undefined ? { atMs } : {}) };
}

const KINDS = ['container', 'capsule', 'placement'] as const;

// ---------------------------------------------------------------------------
// events

async function cmdEvents(ctx: Ctx): Promise<number> {
  const id = onePositional(ctx.p, 'container or capsule id');
  const kind = str(ctx.p, 'kind');
  if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${KINDS.join(', ')}`);
  const found = await withNats(ctx, (nc) => loadAnyAggregate(nc, id, kind ? [kind as (typeof KINDS)[number]] : KINDS));
  if (!found) throw new CommandError('NOT_FOUND', `no events for ${id} (looked for ${kind ?? 'a container, a capsule and a placement domain'})`);
  const wide = flag(ctx.p, 'wide');
  print(ctx, { kind: found.kind, id, events: found.events }, () =>
    `${found.kind} ${id}: ${found.events.length} events\n` +
    table(
      ['SEQ', 'OCCURRED', 'TYPE', 'USER', 'REQUEST', 'DATA'],
      found.events.map((e) => {
        const data = JSON.stringify(e.data);
        return [e.seq, e.occurredAt, e.type, e.userId, e.requestId, wide ? data : truncate(data, 80)];
      }),
    ),
  );
  return 0;
}

// ---------------------------------------------------------------------------
// replay

async function cmdReplay(ctx: Ctx): Promise<number> {
  const verify = flag(ctx.p, 'verify');
  const cut = cutoff(ctx);
  if (flag(ctx.p, 'all')) {
    noPositionals(ctx.p);
    const bar = progress(ctx, verify ? 'verify' : 'replay');
    const { fold, elapsedMs } = await withNats(ctx, (nc) => foldStream(nc, { verify, ...cut, onProgress: (d, t) => bar.update(d, t) }));
    const summary = summarizeHistory(fold, { verified: verify, elapsedMs });
    bar.finish(verify ? `${summary.violations.length} violations` : undefined);
    print(ctx, summary, () => {
      let s = `log: ${summary.events} events up to seq ${summary.lastSeq}` + (summary.skipped ? ` (${summary.skipped} after the cut-off left out)` : '') + '\n';
      s += `  by kind: ${Object.entries(summary.eventsByKind).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}\n`;
      s += `  aggregates: ${summary.aggregates.containers} containers, ${summary.aggregates.capsules} capsules, ${summary.aggregates.ledgers} placement ledgers\n`;
      s += `  container statuses: ${fmtCounts(summary.containerStatuses)}\n`;
      if (summary.aggregates.capsules) s += `  capsule statuses: ${fmtCounts(summary.capsuleStatuses)}\n`;
      if (summary.unknownKind) s += `  ${summary.unknownKind} events of other aggregates (networks, volumes, quotas, ...) not folded: this fold covers containers, capsules and placement\n`;
      s += `  ${summary.elapsedMs} ms, ${summary.eventsPerSecond} events/s\n`;
      if (verify) {
        s += summary.violations.length === 0 ? 'verified: no illegal transitions\n' : `ILLEGAL TRANSITIONS: ${summary.violations.length}\n`;
        if (summary.violations.length) {
          s += table(['SEQ', 'KIND', 'ID', 'EVENT', 'FROM', 'OCCURRED'], summary.violations.slice(0, 100).map((v) => [v.seq, v.kind, v.id, v.type, v.from, v.occurredAt]));
          if (summary.violations.length > 100) s += `... and ${summary.violations.length - 100} more (use --json)\n`;
        }
      }
      return s;
    });
    return verify && summary.violations.length ? 1 : 0;
  }
  const id = onePositional(ctx.p, 'container or capsule id (or --all)');
  const found = await withNats(ctx, (nc) => loadAnyAggregate(nc, id, ['container', 'capsule']));
  if (!found) throw new CommandError('NOT_FOUND', `no events for container or capsule ${id}`);
  const r = replayAggregate(found.kind as 'container' | 'capsule', id, found.events, { verify, ...cut });
  print(ctx, r, () => {
    let s = `${r.kind} ${id}: ${r.steps.length} events replayed${r.skipped ? `, ${r.skipped} after the cut-off left out` : ''}${verify ? ', verified through the machine' : ''}\n`;
    s += table(
      ['SEQ', 'OCCURRED', 'EVENT', 'FROM', 'STATUS', 'TASK', 'HOST', ''],
      r.steps.map((st) => [st.seq, st.occurredAt, st.type, st.from, st.status, st.taskState, st.host, st.legal ? '' : `ILLEGAL in ${st.from}`]),
    );
    const f = r.final;
    s += `final: ${f.status ?? 'New'}${f.taskState ? ` (${f.taskState})` : ''}${f.statusReason ? ` reason "${f.statusReason}"` : ''}, host ${f.host ?? '-'}, seq ${f.seq}\n`;
    if (verify) s += r.violations.length ? `ILLEGAL TRANSITIONS: ${r.violations.length}\n` : 'verified: no illegal transitions\n';
    return s;
  });
  return verify && r.violations.length ? 1 : 0;
}

function fmtCounts(c: Readonly<Record<string, number>>): string {
  return Object.entries(c).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}

// ---------------------------------------------------------------------------
// state

async function cmdState(ctx: Ctx): Promise<number> {
  noPositionals(ctx.p);
  const cut = cutoff(ctx);
  const only = str(ctx.p, 'host');
  const etcd = str(ctx.p, 'etcd') ?? ctx.cfg.etcdEndpoints;
  let hosts: HostRecord[] | undefined;
  // The registry says what is live now: it means nothing for a past state.
  if (etcd && cut.atMs === undefined && cut.toSeq === undefined) {
    try {
      hosts = await listRegisteredHosts(etcd);
    } catch (e) {
      ctx.io.stderr.write(`zunctl: warning: ${(e as Error).message}; showing hosts from the log only\n`);
    }
  }
  const bar = progress(ctx, 'fold');
  const { fold } = await withNats(ctx, (nc) => foldStream(nc, { ...cut, onProgress: (d, t) => bar.update(d, t) }));
  bar.finish();
  const view = clusterView(fold, {
    ...(cut.atMs !== undefined ? { atMs: cut.atMs } : {}),
    includeDeleted: flag(ctx.p, 'include-deleted'),
    ...(hosts ? { hosts } : {}),
  });
  const shown = only ? { ...view, hosts: view.hosts.filter((h) => h.host === only) } : view;
  print(ctx, shown, () => {
    let s = `cluster ${view.at ? `at ${view.at}` : 'now'} (log up to seq ${view.seq})\n`;
    for (const h of shown.hosts) {
      const reg = h.registry === undefined ? '' : h.registry === null ? ' [not registered]' : ` [capacity ${h.registry.capacity.cpus} cpu, ${h.registry.capacity.memoryMiB} MiB, ${h.registry.capacity.diskGb} GB${h.registry.disabled ? ', disabled' : ''}]`;
      s += `\nhost ${h.host}${reg}\n  claims: ${h.claimed.count} (cpu ${h.claimed.cpu}, ${h.claimed.memoryMiB} MiB, ${h.claimed.diskGb} GB)\n`;
      const rows = [...h.containers, ...h.capsules].map((a) => {
        const claim = h.claims.find((c) => c.id === a.id);
        return [a.kind, a.id, a.name, a.status, a.taskState, claim ? `${claim.cpu}/${claim.memoryMiB}` : 'none', a.projectId];
      });
      const orphans = h.claims.filter((c) => !c.live).map((c) => [`claim`, c.id, null, 'not live', null, `${c.cpu}/${c.memoryMiB}`, null]);
      if (rows.length || orphans.length) s += table(['  KIND', 'ID', 'NAME', 'STATUS', 'TASK', 'CLAIM', 'PROJECT'], [...rows, ...orphans].map((r) => [`  ${r[0]}`, ...r.slice(1)]));
    }
    if (!only && view.unplaced.length) {
      s += `\nunplaced\n`;
      s += table(['  KIND', 'ID', 'NAME', 'STATUS', 'REASON'], view.unplaced.map((a) => [`  ${a.kind}`, a.id, a.name, a.status, a.statusReason]));
    }
    s += `\ntotals: containers ${fmtCounts(view.totals.containers)}; capsules ${fmtCounts(view.totals.capsules)}\n`;
    return s;
  });
  return 0;
}

// ---------------------------------------------------------------------------
// diff

async function cmdDiff(ctx: Ctx): Promise<number> {
  noPositionals(ctx.p);
  const socket = str(ctx.p, 'docker-socket') ?? ctx.cfg.dockerSocket;
  const only = str(ctx.p, 'host');
  const report = await withNats(ctx, async (nc) => {
    // Read the copies first and the log last, so the log is never older than them.
    const readModels = flag(ctx.p, 'no-read-models') ? undefined : await readReadModels(nc);
    if (readModels?.missingBuckets.length) {
      ctx.io.stderr.write(`zunctl: note: read-model buckets ${readModels.missingBuckets.join(', ')} do not exist (has the projector run?); they count as empty\n`);
    }
    const docker = flag(ctx.p, 'no-docker') ? undefined : await listManagedContainers(socket, LABELS.managed);
    const bar = progress(ctx, 'fold');
    const { fold } = await foldStream(nc, { onProgress: (d, t) => bar.update(d, t) });
    bar.finish();
    return diffCluster({
      containers: fold.containers,
      capsules: fold.capsules,
      containersDesired: fold.containersDesired,
      ...(readModels ? { readModels } : {}),
      ...(docker ? { docker } : {}),
      labels: LABELS,
      ...(only ? { host: only } : {}),
    });
  });
  print(ctx, report, () => {
    const checked = [report.checked.readModels && 'read models', report.checked.docker && 'Docker'].filter(Boolean).join(' and ') || 'nothing';
    if (report.inSync) return `in sync: the log, ${checked} agree\n`;
    let s = `${Object.values(report.counts).reduce((a, b) => a + b, 0)} differences between the log and ${checked}\n`;
    for (const [host, diffs] of Object.entries(report.hosts)) {
      s += `\nhost ${host}\n`;
      for (const d of diffs) s += `  ${d.kind}: ${d.message}\n`;
    }
    if (report.unplaced.length) {
      s += `\nno host\n`;
      for (const d of report.unplaced) s += `  ${d.kind}: ${d.message}\n`;
    }
    return s;
  });
  return report.inSync ? 0 : 1;
}

// ---------------------------------------------------------------------------
// export / import

async function cmdExport(ctx: Ctx): Promise<number> {
  noPositionals(ctx.p);
  const outPath = str(ctx.p, 'out');
  const filter = str(ctx.p, 'filter');
  const fromSeq = int(ctx.p, 'from-seq', 1);
  if (!outPath && ctx.json) throw new UsageError('--json needs --out FILE (the events themselves go to stdout otherwise)');
  const out: Writable = outPath ? createWriteStream(outPath) : ctx.io.stdout;
  const bar = progress(ctx, 'export');
  const r = await withNats(ctx, (nc) =>
    exportEvents({
      nc,
      out,
      ...(filter ? { filter } : {}),
      ...(fromSeq ? { fromSeq } : {}),
      onProgress: (p) => bar.update(p.seq, p.total),
    }),
  );
  if (outPath) {
    out.end();
    await finished(out);
  }
  bar.finish(undefined, r.events);
  const summary = { ...r, filter: filter ?? ALL_EVENTS_SUBJECT, out: outPath ?? '-' };
  if (outPath) print(ctx, summary, () => `exported ${r.events} events (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}) to ${outPath}\n`);
  else ctx.io.stderr.write(`exported ${r.events} events (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'})\n`);
  return 0;
}

async function readAllInput(path: string): Promise<string> {
  if (path !== '-') {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      throw new CommandError('NO_FILE', `cannot read ${path}: ${(e as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function cmdImport(ctx: Ctx): Promise<number> {
  const file = onePositional(ctx.p, 'export file (or - for stdin)');
  const lines = parseExportDetailed(await readAllInput(file));
  const bar = progress(ctx, 'import');
  const r = await withNats(ctx, (nc) => importEvents({ nc, lines, force: flag(ctx.p, 'force'), onProgress: (d, t) => bar.update(d, t) }));
  bar.finish();
  print(ctx, r, () => `imported ${r.events} events into ${r.stream} (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'})\n`);
  return 0;
}

// ---------------------------------------------------------------------------
// audit

async function cmdAudit(ctx: Ctx): Promise<number> {
  const [sub, ...more] = ctx.p.positionals;
  if (more.length) throw new UsageError(`unexpected argument: ${more[0]}`);
  const dir = str(ctx.p, 'audit-dir') ?? ctx.cfg.auditDir;
  const reader = createAuditReader(dir);
  switch (sub) {
    case 'tail':
      return auditTail(ctx, reader);
    case 'query':
      return auditQuery(ctx, reader);
    case 'verify':
      return auditVerify(ctx, dir);
    case 'head': {
      const i = await reader.integrity();
      print(ctx, { head: i.head, ok: i.ok, entries: i.entries, path: reader.path }, () => `${i.head.hash} auditSeq ${i.head.auditSeq} streamSeq ${i.head.streamSeq}${i.ok ? '' : ' (the chain is broken before the end: run zunctl audit verify)'}\n`);
      return i.ok ? 0 : 1;
    }
    case undefined:
      throw new UsageError('missing audit subcommand: tail, query, verify or head');
    default:
      throw new UsageError(`unknown audit subcommand "${sub}" (tail, query, verify, head)`);
  }
}

function entryRow(e: AuditEntry): (string | number | null)[] {
  const ev = e.event;
  return [e.auditSeq, e.streamSeq, ev?.occurredAt ?? null, ev?.type ?? 'Malformed', ev ? `${ev.aggregateKind}/${ev.aggregateId}` : e.malformed?.subject ?? null, ev?.projectId ?? null, ev?.userId ?? null, ev?.requestId ?? null];
}
const ENTRY_HEADERS = ['AUDIT', 'STREAM', 'OCCURRED', 'TYPE', 'AGGREGATE', 'PROJECT', 'USER', 'REQUEST'];

async function auditTail(ctx: Ctx, reader: ReturnType<typeof createAuditReader>): Promise<number> {
  const n = int(ctx.p, 'n', 1) ?? 20;
  const entries = await reader.tail(n);
  if (!flag(ctx.p, 'follow')) {
    print(ctx, entries, () => table(ENTRY_HEADERS, entries.map(entryRow)));
    return 0;
  }
  // Follow: one line per entry (JSON Lines with --json), until interrupted.
  const emit = (e: AuditEntry) => ctx.io.stdout.write(ctx.json ? JSON.stringify(e) + '\n' : entryRow(e).map((c) => c ?? '-').join('  ') + '\n');
  entries.forEach(emit);
  let last = entries.at(-1)?.auditSeq ?? 0;
  let stop = false;
  void ctx.io.interrupted?.then(() => (stop = true));
  while (!stop) {
    await new Promise((r) => setTimeout(r, 500));
    const r = await reader.query({ afterAuditSeq: last, limit: 1000 });
    r.entries.forEach(emit);
    last = r.entries.at(-1)?.auditSeq ?? last;
  }
  return 0;
}

async function auditQuery(ctx: Ctx, reader: ReturnType<typeof createAuditReader>): Promise<number> {
  const p = ctx.p;
  const since = time(p, 'since', ctx.io.now);
  const until = time(p, 'until', ctx.io.now);
  const q: AuditQuery = {
    ...(str(p, 'project') ? { projectId: str(p, 'project')! } : {}),
    ...(str(p, 'user') ? { userId: str(p, 'user')! } : {}),
    ...(str(p, 'id') ? { aggregateId: str(p, 'id')! } : {}),
    ...(str(p, 'type') ? { type: str(p, 'type')! } : {}),
    ...(since !== undefined ? { since: new Date(since) } : {}),
    ...(until !== undefined ? { until: new Date(until) } : {}),
    ...(int(p, 'marker', 0) !== undefined ? { afterAuditSeq: int(p, 'marker', 0)! } : {}),
    limit: Math.min(int(p, 'limit', 1) ?? 100, 1000),
  };
  const r = await reader.query(q);
  print(ctx, r, () => {
    let s = table(ENTRY_HEADERS, r.entries.map(entryRow));
    s += `${r.entries.length} entries${r.next !== null ? `; more after --marker ${r.next}` : ''}\n`;
    if (!r.integrity.ok) s += `WARNING: the audit chain is broken: ${r.integrity.firstBreak?.message}\n`;
    return s;
  });
  return 0;
}

async function auditVerify(ctx: Ctx, dir: string): Promise<number> {
  const hash = str(ctx.p, 'expect-head');
  const seq = int(ctx.p, 'expect-seq', 1);
  if ((hash === undefined) !== (seq === undefined)) throw new UsageError('--expect-head and --expect-seq go together (the anchored hash and its auditSeq)');
  if (hash !== undefined && !/^[0-9a-f]{64}$/.test(hash)) throw new UsageError('--expect-head must be a sha256 hex digest');
  const expectedHead: AuditHead | undefined = hash !== undefined ? { auditSeq: seq!, streamSeq: 0, hash } : undefined;
  const path = auditFilePath(dir);
  const bar = progress(ctx, 'verify', 'entries');
  const started = performance.now();
  const report = await verifyFile(path, { ...(expectedHead ? { expectedHead } : {}), onProgress: (p) => bar.update(p.entries) });
  bar.finish(undefined, report.entries);
  let stream: StreamCheck | undefined;
  if (flag(ctx.p, 'against-stream') && report.ok) {
    stream = await withNats(ctx, (nc) => checkAgainstStream(ctx, nc, path));
  }
  const ok = report.ok && (stream?.ok ?? true);
  const elapsedMs = Math.round(performance.now() - started);
  print(ctx, { ...report, ok, path, elapsedMs, ...(stream ? { stream } : {}) }, () => {
    let s = report.ok
      ? `ok: ${report.entries} entries verify (${path}, ${elapsedMs} ms)\nhead: ${report.head.hash} auditSeq ${report.head.auditSeq} streamSeq ${report.head.streamSeq}\n`
      : `BROKEN: ${report.firstBreak!.message}\n  ${report.entries} entries verify before it (${path})\n`;
    if (report.tornTail) s += 'note: the last line is a torn write (a crash mid-write); the subscriber truncates it on restart\n';
    if (stream) {
      s += stream.ok ? `matches the stream: ${stream.compared} events compared` : `DIFFERS FROM THE STREAM: ${stream.problems.length} problems\n${stream.problems.slice(0, 20).map((x) => `  ${x}`).join('\n')}`;
      s += `\n${stream.lag ? `the record is ${stream.lag} events behind the stream (last seq ${stream.streamLastSeq})\n` : ''}`;
    }
    if (!expectedHead && report.ok) s += 'anchor this head elsewhere; later, --expect-head/--expect-seq detect a cut tail or a rewritten chain\n';
    return s;
  });
  return ok ? 0 : 1;
}

interface StreamCheck {
  readonly ok: boolean;
  readonly compared: number;
  readonly problems: string[];
  readonly streamLastSeq: number;
  /** Stream events after the record's last entry (not yet recorded). */
  readonly lag: number;
}

/**
 * Compares every recorded event with the stream's event at the same
 * sequence, and finds stream sequences the record skipped. This catches a
 * record rewritten consistently from genesis, as long as the stream is intact.
 */
async function checkAgainstStream(ctx: Ctx, nc: Awaited<ReturnType<typeof connect>>, path: string): Promise<StreamCheck> {
  const recorded = new Map<number, AuditEntry>();
  let last = 0;
  for await (const l of readLines(path)) {
    if (!l.terminated) break;
    const e = JSON.parse(l.text) as AuditEntry;
    recorded.set(e.streamSeq, e);
    last = e.streamSeq;
  }
  const lastInStream = await streamLastSeq(nc);
  const problems: string[] = [];
  let compared = 0;
  const visit = (seq: number, ev: RecordedEvent | null, raw: Uint8Array | null) => {
    const r = recorded.get(seq);
    recorded.delete(seq);
    if (r === undefined) {
      problems.push(`stream seq ${seq}${ev ? ` (${ev.type} ${ev.aggregateId})` : ''} is not in the record`);
    } else if (ev && (r.event === null || canonicalJson(r.event) !== canonicalJson(auditedEvent(ev)))) {
      problems.push(`stream seq ${seq}: the record's event differs from the stream's (${ev.type} ${ev.aggregateId})`);
    } else if (!ev && (r.malformed?.body ?? '') !== Buffer.from(raw ?? []).toString('base64')) {
      problems.push(`stream seq ${seq}: the record's copy of this malformed message differs from the stream's`);
    } else {
      compared++;
    }
  };
  const bar = progress(ctx, 'compare');
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  let next = 1;
  while (next <= last) {
    try {
      for await (const batch of readBatches({ nc, fromSeq: next, onProgress: (p) => bar.update(p.seq, lastInStream) })) {
        for (const e of batch) {
          if (e.seq > last) break;
          visit(e.seq, e, null);
          next = e.seq + 1;
        }
        if (next > last) break;
      }
      break;
    } catch (err) {
      if (!(err instanceof MalformedEventError)) throw err;
      // A message that does not decode: step over the batch one message at a time.
      for (let found = false; !found && next <= last; next++) {
        const m = await jsm.streams.getMessage(STREAM_NAME, { seq: next });
        if (!m) continue;
        try {
          visit(m.seq, decodeEvent(m.data, m.seq), null);
        } catch {
          visit(m.seq, null, m.data);
          found = true;
        }
      }
    }
  }
  bar.finish(undefined, compared);
  for (const s of recorded.keys()) problems.push(`the record has streamSeq ${s}, which the stream does not have`);
  return { ok: problems.length === 0, compared, problems, streamLastSeq: lastInStream, lag: Math.max(0, lastInStream - last) };
}

