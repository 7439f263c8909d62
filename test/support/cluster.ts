/**
 * The whole system as child processes, for end-to-end tests and benchmarks:
 * its own nats-server and etcd on free ports, then the services from their
 * real main.ts entry points (run with tsx), each killable with SIGKILL and
 * restartable with the same environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startEtcd, startNats, startServers, type EtcdServer, type NatsServer } from './servers.js';
import { cleanupHosts } from './host-cleanup.js';

const REPO = join(import.meta.dirname, '..', '..');

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number | undefined;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill9(): Promise<void>;
  /** Start again with the same environment. */
  restart(): Promise<void>;
  exited(): boolean;
}

export function spawnService(
  name: string,
  entry: string,
  env: Record<string, string>,
  opts: {
    quiet?: boolean;
    /** Write stdout and stderr to this file (appending) instead of piping them here; `output()` reads it back. */
    logFile?: string;
  } = {},
): ServiceProcess {
  let child: ChildProcess;
  let out = '';
  let exited = false;
  const start = () => {
    exited = false;
    // One process per service (node with tsx's loader, not the tsx CLI, which
    // forks a child): SIGKILL must hit the service itself.
    // E2E_NODE_ARGS: extra node flags for every service (e.g. --cpu-prof, which NODE_OPTIONS refuses).
    const extra = (process.env['E2E_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const fd = opts.logFile ? openSync(opts.logFile, 'a') : null;
    child = spawn(process.execPath, [...extra, '--import', 'tsx', join(REPO, entry)], {
      cwd: REPO,
      env: { ...process.env, LOG_LEVEL: process.env['E2E_LOG_LEVEL'] ?? 'info', ...env },
      stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
    });
    child.on('exit', () => {
      exited = true;
    });
    if (fd !== null) {
      closeSync(fd); // the child has its own copy
      return;
    }
    const keep = (b: Buffer) => {
      out += b.toString();
      if (out.length > 400_000) out = out.slice(-200_000);
      if (process.env['E2E_VERBOSE'] && !opts.quiet) process.stderr.write(`[${name}] ${b.toString()}`);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  };
  const waitExit = () =>
    new Promise<void>((resolve) => {
      if (exited || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
    });
  start();
  const handle: ServiceProcess = {
    name,
    get pid() {
      return child.pid;
    },
    output: () => (opts.logFile ? readLog(opts.logFile) : out),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await waitExit();
      clearTimeout(t);
    },
    async kill9() {
      if (exited) return;
      child.kill('SIGKILL');
      await waitExit();
    },
    async restart() {
      if (!exited) await handle.stop();
      start();
    },
    exited: () => exited,
  };
  return handle;
}

export interface Cluster {
  readonly natsUrl: string;
  readonly etcdEndpoint: string;
  readonly gatewayUrl: string;
  readonly nats: Awaited<ReturnType<typeof startNats>>;
  readonly etcd: Awaited<ReturnType<typeof startEtcd>>;
  readonly services: Map<string, ServiceProcess>;
  addHostActor(hostname: string, env?: Record<string, string>): ServiceProcess;
  addPlacement(instance: string, env?: Record<string, string>): ServiceProcess;
  /**
   * Resolves once the gateway answers and each of `hosts` is registered
   * (`GET /v1/hosts`, which needs the default noauth gateway).
   */
  ready(hosts?: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(opts: {
  hosts?: readonly string[];
  placements?: number;
  env?: Record<string, string>;
  /** Extra environment for the gateway only (e.g. AUTH_MODE=local with an AUTH_FILE). */
  gatewayEnv?: Record<string, string>;
  hostEnv?: Record<string, string>;
  /**
   * Each service's stdout and stderr go to `<logDir>/<name>.log` instead of
   * through this process (benchmarks: the client should not pay for reading
   * the servers' logs).
   */
  logDir?: string;
  /** 'separate' (default): gateway, projector and placement each in its own process; 'combined': one control-plane process. */
  layout?: 'separate' | 'combined';
} = {}): Promise<Cluster> {
  const [nats, etcd] = await startServers<[NatsServer, EtcdServer]>(startNats(), startEtcd());
  const gatewayPort = await freePort();
  const base = { NATS_URL: nats.url, ETCD_ENDPOINTS: etcd.endpoint, ...(opts.env ?? {}) };
  const services = new Map<string, ServiceProcess>();
  /** Host actors started, and the STATE_DIR each defaulted to (removed on stop; given ones are left). */
  const hosts = new Map<string, string | null>();
  const add = (name: string, entry: string, env: Record<string, string> = {}) => {
    const p = spawnService(name, entry, { ...base, ...env }, opts.logDir ? { logFile: join(opts.logDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`) } : {});
    services.set(name, p);
    return p;
  };
  // noauth, explicitly: these tests drive the API without tokens (identity has its own tests).
  const gatewayEnv = { GATEWAY_PORT: String(gatewayPort), GATEWAY_HOST: '127.0.0.1', AUTH_MODE: 'noauth', ...(opts.gatewayEnv ?? {}) };
  if (opts.layout === 'combined') {
    add('control-plane', 'services/control-plane/main.ts', { ...gatewayEnv, PLACEMENT_INSTANCE: 'p1' });
  } else {
    add('gateway', 'services/gateway/main.ts', gatewayEnv);
    add('projector', 'services/projector/main.ts');
  }
  const cluster: Cluster = {
    natsUrl: nats.url,
    etcdEndpoint: etcd.endpoint,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    nats,
    etcd,
    services,
    addHostActor: (hostname, env = {}) => {
      const given = env['STATE_DIR'] ?? opts.hostEnv?.['STATE_DIR'] ?? opts.env?.['STATE_DIR'];
      if (!hosts.has(hostname)) hosts.set(hostname, given ? null : join(REPO, '.data', 'host-actor', hostname));
      return add(`host-actor:${hostname}`, 'services/host-actor/main.ts', { HOST_NAME: hostname, ...(opts.hostEnv ?? {}), ...env });
    },
    addPlacement: (instance, env = {}) => add(`placement:${instance}`, 'services/placement/main.ts', { PLACEMENT_INSTANCE: instance, ...env }),
    async ready(hostnames = []) {
      const url = `http://127.0.0.1:${gatewayPort}`;
      await waitFor('gateway', async () => (await fetch(`${url}/`).catch(() => null))?.ok, 60_000);
      if (hostnames.length === 0) return;
      await waitFor(`hosts ${hostnames.join(', ')} registered`, async () => {
        const r = await fetch(`${url}/v1/hosts`, { headers: { 'OpenStack-API-Version': 'container 1.40' } }).catch(() => null);
        if (!r?.ok) return false;
        const listed = new Set(((await r.json()) as { hosts: { hostname: string }[] }).hosts.map((h) => h.hostname));
        return hostnames.every((h) => listed.has(h));
      }, 60_000, 250);
    },
    async stop() {
      await Promise.all([...services.values()].map((s) => s.stop()));
      await nats.stop();
      await etcd.stop();
      // What the host actors made on this machine: containers, networks, mounts, loop devices, state dirs.
      await cleanupHosts([...hosts.keys()], [...hosts.values()].filter((d): d is string => d !== null));
    },
  };
  for (let i = opts.layout === 'combined' ? 1 : 0; i < (opts.placements ?? 1); i++) cluster.addPlacement(`p${i + 1}`);
  for (const h of opts.hosts ?? ['host-1']) cluster.addHostActor(h);
  return cluster;
}

/** Polls `fn` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
