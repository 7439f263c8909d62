/**
 * Request-reply on `zun.host.<token(hostname)>.rpc`: what the gateway cannot
 * answer from the read model because only the host has it (logs, top, stats,
 * exec). Requests are JSON `{ op, uuid, ... }`; replies are
 * `{ ok: true, result }` or `{ ok: false, error: { code, message } }` with a
 * stable code the gateway maps to Zun's HTTP errors.
 *
 * Only containers with this host's labels are answered for. No state is
 * changed and nothing is appended to the log: these are reads (and exec,
 * which Zun does not record either).
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { encodeToken } from '../../events/index.js';
import type { Logger } from '../platform/log.js';
import { RuntimeError, RuntimeErrorCode, containerName, type ContainerRuntime, type RawStats } from './docker.js';
import { handleExtraRpc, isExtraOp, type RpcExtras } from './rpc-extras.js';

export const hostRpcSubject = (hostname: string) => `zun.host.${encodeToken(hostname)}.rpc`;

export type HostRpcRequest =
  | {
      readonly op: 'logs';
      readonly uuid: string;
      readonly stdout?: boolean;
      readonly stderr?: boolean;
      readonly timestamps?: boolean;
      /** Lines from the end: a number or 'all'. */
      readonly tail?: number | string;
      /** Epoch seconds, or Zun's `YYYY-MM-DD HH:MM:SS,fff` (UTC). */
      readonly since?: number | string | null;
    }
  | { readonly op: 'top'; readonly uuid: string; readonly psArgs?: string | null }
  | { readonly op: 'stats'; readonly uuid: string; /** The container's Zun name, shown as CONTAINER. */ readonly name?: string }
  | {
      readonly op: 'exec';
      readonly uuid: string;
      /** A string is split like a shell would (Zun: shlex). */
      readonly command: string | readonly string[];
      readonly run?: boolean;
      readonly interactive?: boolean;
    };

export const HostRpcErrorCode = {
  badRequest: 'BAD_REQUEST',
  notFound: 'CONTAINER_NOT_FOUND',
  conflict: 'CONFLICT',
  execTimeout: 'EXEC_TIMEOUT',
  docker: 'DOCKER_ERROR',
  unavailable: 'DOCKER_UNAVAILABLE',
} as const;
export type HostRpcErrorCode = (typeof HostRpcErrorCode)[keyof typeof HostRpcErrorCode];

export type HostRpcReply<T = unknown> =
  | { readonly ok: true; readonly result: T }
  | { readonly ok: false; readonly error: { readonly code: HostRpcErrorCode; readonly message: string } };

/** Zun's stats view (zun/container/docker/driver.py `stats`). */
export interface ZunStats {
  readonly CONTAINER: string;
  readonly 'CPU %': number;
  readonly 'MEM USAGE(MiB)': number;
  readonly 'MEM LIMIT(MiB)': number;
  readonly 'MEM %': number;
  readonly 'BLOCK I/O(B)': string;
  readonly 'NET I/O(B)': string;
}

export interface ExecReply {
  readonly output: string | null;
  readonly exit_code: number | null;
  readonly exec_id: string;
}

/** Docker's execute timeout in Zun (`[docker] execute_timeout`). */
export const EXEC_TIMEOUT_MS = 5_000;

/** Computed as Zun computes it: cumulative CPU over system CPU, memory net of inactive file cache. */
export function zunStats(name: string, raw: RawStats): ZunStats {
  const cpuUsage = raw.cpu_stats?.cpu_usage?.total_usage ?? 0;
  const systemUsage = raw.cpu_stats?.system_cpu_usage ?? 0;
  const stats = raw.memory_stats?.stats ?? {};
  const cache = stats['total_inactive_file'] ?? stats['inactive_file'] ?? 0;
  const memUsage = ((raw.memory_stats?.usage ?? 0) - cache) / 1024 / 1024;
  const memLimit = (raw.memory_stats?.limit ?? 0) / 1024 / 1024;
  let read = 0;
  let write = 0;
  for (const item of raw.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (item.op.toLowerCase() === 'read') read += item.value;
    if (item.op.toLowerCase() === 'write') write += item.value;
  }
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(raw.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  return {
    CONTAINER: name,
    'CPU %': systemUsage > 0 ? (cpuUsage / systemUsage) * 100 : 0,
    'MEM USAGE(MiB)': memUsage,
    'MEM LIMIT(MiB)': memLimit,
    'MEM %': memLimit > 0 ? (memUsage / memLimit) * 100 : 0,
    'BLOCK I/O(B)': `${read}/${write}`,
    'NET I/O(B)': `${rx}/${tx}`,
  };
}

class BadRequest extends Error {}

/** POSIX-shell-like word splitting (Python's shlex.split): quotes and backslashes. */
export function shlexSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1]!)) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new BadRequest('No closing quotation');
  if (inWord) out.push(cur);
  return out;
}

/** `since` as epoch seconds: a number, a numeric string, or `YYYY-MM-DD HH:MM:SS[,fff]` in UTC. */
export function parseSince(v: number | string | null | undefined): number | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return v;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:,(\d{1,6}))?$/.exec(v.trim());
  if (!m) throw new BadRequest(`Invalid value for since: ${v}`);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7] ? Number(`0.${m[7]}`) * 1000 : 0);
  return ms / 1000;
}

function parseTail(v: number | string | undefined): number | 'all' {
  if (v === undefined || v === 'all' || v === '') return 'all';
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new BadRequest(`Invalid value for tail: ${v}`);
  return n;
}

function fail(code: HostRpcErrorCode, message: string): HostRpcReply<never> {
  return { ok: false, error: { code, message } };
}

export interface RpcDeps {
  readonly hostname: string;
  readonly runtime: ContainerRuntime;
  /** Archives, streams, resizes and images (rpc-extras.ts); absent: those ops are refused. */
  readonly extras?: RpcExtras;
}

/** Answers one request. Never throws: every failure is a coded reply. */
export async function handleRpc(req: HostRpcRequest, deps: RpcDeps): Promise<HostRpcReply> {
  const extra: unknown = req;
  if (isExtraOp(extra)) {
    return deps.extras
      ? (handleExtraRpc(extra, { ...deps, extras: deps.extras }) as Promise<HostRpcReply>)
      : fail(HostRpcErrorCode.badRequest, `op ${extra.op} is not served on this host`);
  }
  try {
    if (!req || typeof req !== 'object' || typeof req.uuid !== 'string' || !req.uuid) throw new BadRequest('uuid is required');
    const found = await deps.runtime.find(deps.hostname, req.uuid);
    if (!found) return fail(HostRpcErrorCode.notFound, `Container ${req.uuid} could not be found.`);
    const ref = { host: deps.hostname, uuid: req.uuid, dockerId: found.dockerId };
    switch (req.op) {
      case 'logs': {
        const result = await deps.runtime.logs(ref, {
          stdout: req.stdout ?? true,
          stderr: req.stderr ?? true,
          timestamps: req.timestamps ?? false,
          tail: parseTail(req.tail),
          since: parseSince(req.since),
        });
        return { ok: true, result };
      }
      case 'top':
        return { ok: true, result: await deps.runtime.top(ref, req.psArgs ?? null) };
      case 'stats':
        return { ok: true, result: zunStats(req.name ?? containerName(req.uuid), await deps.runtime.stats(ref)) };
      case 'exec': {
        const cmd = typeof req.command === 'string' ? shlexSplit(req.command) : [...(req.command ?? [])];
        if (cmd.length === 0) throw new BadRequest('command is required');
        const interactive = req.interactive ?? false;
        const r = await deps.runtime.exec(ref, { cmd, tty: interactive, run: req.run ?? true, timeoutMs: EXEC_TIMEOUT_MS });
        const result: ExecReply = { output: r.output, exit_code: r.exitCode, exec_id: r.execId };
        return { ok: true, result };
      }
      default:
        throw new BadRequest(`unknown op ${(req as { op?: unknown }).op as string}`);
    }
  } catch (err) {
    if (err instanceof BadRequest) return fail(HostRpcErrorCode.badRequest, err.message);
    if (err instanceof RuntimeError) {
      switch (err.code) {
        case RuntimeErrorCode.notFound:
        case RuntimeErrorCode.notOurs:
          return fail(HostRpcErrorCode.notFound, `Container ${req.uuid} could not be found.`);
        case RuntimeErrorCode.conflict:
          return fail(HostRpcErrorCode.conflict, err.message);
        case RuntimeErrorCode.execTimeout:
          return fail(HostRpcErrorCode.execTimeout, err.message);
        case RuntimeErrorCode.unavailable:
          return fail(HostRpcErrorCode.unavailable, err.message);
        default:
          return fail(HostRpcErrorCode.docker, err.message);
      }
    }
    return fail(HostRpcErrorCode.docker, (err as Error)?.message ?? String(err));
  }
}

export interface HostRpc {
  stop(): Promise<void>;
}

/** Serves the host's RPC subject until stopped; requests are handled concurrently. */
export function createHostRpc(o: RpcDeps & { nc: NatsConnection; log: Logger }): HostRpc {
  const log = o.log.child({ component: 'rpc' });
  const subject = hostRpcSubject(o.hostname);
  const sub: Subscription = o.nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) {
        log.warn({ err: err.message }, 'rpc subscription error');
        return;
      }
      void (async () => {
        let req: HostRpcRequest;
        try {
          req = msg.json<HostRpcRequest>();
        } catch {
          msg.respond(JSON.stringify(fail(HostRpcErrorCode.badRequest, 'request is not JSON')));
          return;
        }
        const t0 = performance.now();
        const reply = await handleRpc(req, o);
        log.debug({ op: req.op, uuid: req.uuid, ok: reply.ok, ms: Math.round(performance.now() - t0) }, 'rpc');
        if (msg.reply) msg.respond(JSON.stringify(reply));
      })();
    },
  });
  log.info({ subject }, 'rpc listening');
  return {
    async stop() {
      sub.unsubscribe();
      await o.extras?.close();
    },
  };
}
