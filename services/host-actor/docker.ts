/**
 * The container runtime port of the host actor, and its Docker implementation
 * (dockerode). The in-memory twin is in memory-runtime.ts.
 *
 * Ownership is by labels, never by name: every container this service makes
 * carries `zun.managed=true`, `zun.host=<host>`, `zun.container.uuid=<uuid>`
 * (and `zun.capsule.uuid` for a capsule's containers). Lookups filter on the
 * host's labels, and every mutating call checks the labels of its target
 * first, so a host actor never touches a container that is not its own, even
 * when several actors share one dockerd. A container's labels cannot change
 * after its create and Docker never reuses an id, so an id once seen with
 * our labels (by an inspect, or made by our create) stays ours: the check is
 * remembered per id and mutating calls on it skip the inspect.
 *
 * Docker container names are Zun's `zun-<uuid>`: uuids are unique, so the
 * name is a second guard against a duplicate create (a 409 on the name with
 * our labels means it exists: adopt it).
 *
 * Resource limits: memory is `Memory` (+ `MemorySwap` = 2 x, Docker's own
 * default, set explicitly so `docker update` can change both); CPU is
 * `NanoCpus` (a hard quota of cpu x 1e9), not Zun's `CpuShares` (a relative
 * weight that limits nothing on an idle host): placement claims whole CPUs,
 * so the limit should hold. Docker restart policies and AutoRemove are NOT
 * passed to Docker: both are carried out by the reconcile loop from the event
 * log, so Docker never restarts or removes a container behind the log's back.
 */
import http from 'node:http';
import { inspect } from 'node:util';
import Docker from 'dockerode';
import type { ContainerSpec } from '../../events/index.js';
import type { DockerObservation, DockerState, LabelledContainer } from '../../domain/reconcile.js';
import type { CapsuleDockerObservation } from '../../domain/capsule-reconcile.js';
import { COMMIT_LABELS } from '../../domain/images.js';
import type { CreateEndpoint } from './network/types.js';
import { createKeyedLock } from '../platform/keyed-lock.js';

export const LABELS = {
  managed: 'zun.managed',
  host: 'zun.host',
  container: 'zun.container.uuid',
  capsule: 'zun.capsule.uuid',
  generation: 'zun.rebuild.generation',
  /** Capsule containers: `sandbox`, `init` or `container`. */
  capsuleRole: 'zun.capsule.role',
  /** Capsule members: the member's name in the capsule spec. */
  capsuleMember: 'zun.capsule.member',
} as const;

export const containerName = (uuid: string) => `zun-${uuid}`;

export const RuntimeErrorCode = {
  /** The container (or exec) does not exist (any more). */
  notFound: 'NOT_FOUND',
  /** Docker refused in the container's current state (already paused, not running, ...). */
  conflict: 'CONFLICT',
  imageNotFound: 'IMAGE_NOT_FOUND',
  /** Pulls are switched off here (there is no registry). */
  pullDisabled: 'PULL_DISABLED',
  /** The target does not carry this host's labels: refused before touching it. */
  notOurs: 'NOT_OURS',
  /** Docker answered with an error. */
  docker: 'DOCKER_ERROR',
  /** Docker could not be reached; retry later. */
  unavailable: 'DOCKER_UNAVAILABLE',
  execTimeout: 'EXEC_TIMEOUT',
} as const;
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    readonly statusCode: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

/** A container of this host, as listed. */
export interface RuntimeContainer extends LabelledContainer {
  readonly name: string;
  readonly state: DockerState;
  readonly capsuleUuid: string | null;
}

/** Identifies a container the caller believes to be its own. */
export interface ContainerRef {
  readonly host: string;
  readonly uuid: string;
  readonly dockerId: string;
}

export interface CreateRequest {
  readonly host: string;
  readonly uuid: string;
  readonly capsuleUuid?: string | null;
  readonly spec: ContainerSpec;
  readonly image: string;
  readonly generation: number;
  /** `<host path>:<container path>` bind mounts (volumes mounted on the host, injected files). */
  readonly binds?: readonly string[];
  /** The first network, from the network driver; absent: Docker's default bridge. */
  readonly endpoint?: CreateEndpoint | null;
}

/** A capsule's sandbox or member container. */
export interface MemberCreateRequest {
  readonly host: string;
  readonly capsuleUuid: string;
  /** The container's uuid (the capsule's own uuid for the sandbox); its name is zun-<uuid>. */
  readonly uuid: string;
  readonly role: 'sandbox' | 'init' | 'container';
  /** Member name in the capsule spec ('' for the sandbox). */
  readonly member: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly workdir: string | null;
  readonly hostname: string | null;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly exposedPorts: readonly string[];
  /** vCPUs; null: unlimited. */
  readonly cpu: number | null;
  /** MiB; null: unlimited. */
  readonly memory: number | null;
  readonly binds: readonly string[];
  /** Sandbox: its network. Members: null (they join the sandbox's namespaces). */
  readonly endpoint: CreateEndpoint | null;
  /** Members: the sandbox's Docker id. */
  readonly sandboxId: string | null;
}

/** A container of a capsule as found on this host. */
export interface CapsuleContainer extends CapsuleDockerObservation {
  readonly uuid: string;
  readonly role: 'sandbox' | 'init' | 'container';
  readonly member: string;
}

export interface LogsOptions {
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly timestamps: boolean;
  /** Number of lines from the end, or 'all'. */
  readonly tail: number | 'all';
  /** Epoch seconds; null for everything. */
  readonly since: number | null;
}

export interface ExecOptions {
  readonly cmd: readonly string[];
  readonly tty: boolean;
  readonly run: boolean;
  readonly timeoutMs: number;
}

export interface ExecResult {
  readonly execId: string;
  readonly output: string | null;
  readonly exitCode: number | null;
}

export interface TopResult {
  readonly Titles: string[];
  readonly Processes: string[][];
}

/** The parts of Docker's stats (stream=false) that Zun's stats view uses. */
export interface RawStats {
  readonly cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  readonly memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  readonly blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  readonly networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

export interface RuntimeInfo {
  readonly runtimes: string[];
  readonly os: string;
  readonly osType: string;
  readonly architecture: string;
  readonly kernelVersion: string;
  readonly cpus: number;
  readonly memTotalBytes: number;
  readonly serverVersion: string;
  readonly rootDir: string | null;
}

export interface EventSubscription {
  close(): void;
}

export interface EventHandlers {
  /** A Docker event for the container labelled with `uuid` (and `capsuleUuid` for a capsule's containers). */
  onEvent(uuid: string, action: string, capsuleUuid?: string | null): void;
  /** The stream ended or failed; the caller resubscribes. */
  onClose(err: unknown): void;
}

/**
 * What the host actor needs from a container runtime. Every call is scoped to
 * one host's labels; ids passed back in come from `list` or `find`.
 */
export interface ContainerRuntime {
  /** Containers with this host's labels, in any state. */
  list(host: string): Promise<RuntimeContainer[]>;
  /**
   * The container labelled with `uuid` on this host, inspected; null when
   * there is none.
   */
  find(host: string, uuid: string): Promise<DockerObservation | null>;
  imagePresent(image: string): Promise<boolean>;
  pull(image: string): Promise<void>;
  /** Creates `zun-<uuid>` with our labels; adopts an existing one of ours (name conflict). Returns its id. */
  create(req: CreateRequest): Promise<string>;
  /** Creates a capsule's sandbox or member `zun-<uuid>`, like `create`. Returns its id. */
  createMember(req: MemberCreateRequest): Promise<string>;
  /** The containers labelled with the capsule's uuid on this host, inspected. */
  listCapsule(host: string, capsuleUuid: string): Promise<CapsuleContainer[]>;
  start(ref: ContainerRef): Promise<void>;
  stop(ref: ContainerRef, timeoutSeconds: number): Promise<void>;
  pause(ref: ContainerRef): Promise<void>;
  unpause(ref: ContainerRef): Promise<void>;
  kill(ref: ContainerRef, signal: string): Promise<void>;
  restart(ref: ContainerRef, timeoutSeconds: number): Promise<void>;
  /**
   * `docker commit` to repository:tag (a running container is paused
   * meanwhile, as Zun does), labelled as committed with `imageUuid`
   * (domain/images.ts). Returns the image id. An image already labelled with
   * `imageUuid` and tagged repository:tag is that commit, made before a
   * crash: it is returned, not made again.
   */
  commit(ref: ContainerRef, image: { readonly repository: string; readonly tag: string; readonly imageUuid: string }): Promise<string>;
  /** Force-removes; a container that is already gone is not an error. */
  remove(ref: ContainerRef): Promise<void>;
  update(ref: ContainerRef, limits: { cpu: number; memoryMiB: number }): Promise<void>;
  logs(ref: ContainerRef, opts: LogsOptions): Promise<string>;
  top(ref: ContainerRef, psArgs: string | null): Promise<TopResult>;
  stats(ref: ContainerRef): Promise<RawStats>;
  exec(ref: ContainerRef, opts: ExecOptions): Promise<ExecResult>;
  info(): Promise<RuntimeInfo>;
  /** Docker's event stream for this host's containers. */
  events(host: string, handlers: EventHandlers): EventSubscription;
}

const MiB = 1024 * 1024;

/** Labels a container of ours carries: the user's, then ours (ours win). */
export function ownLabels(req: Pick<CreateRequest, 'host' | 'uuid' | 'capsuleUuid' | 'generation'>, user: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    ...user,
    [LABELS.managed]: 'true',
    [LABELS.host]: req.host,
    [LABELS.container]: req.uuid,
    ...(req.capsuleUuid ? { [LABELS.capsule]: req.capsuleUuid } : {}),
    [LABELS.generation]: String(req.generation),
  };
}

export function isOurs(labels: Readonly<Record<string, string>> | null | undefined, host: string, uuid?: string): boolean {
  if (!labels) return false;
  return labels[LABELS.managed] === 'true' && labels[LABELS.host] === host && (uuid === undefined || labels[LABELS.container] === uuid);
}

/** Docker's create body for a container spec. */
export function createOptions(req: CreateRequest): Docker.ContainerCreateOptions {
  const { spec } = req;
  const memory = Math.round(spec.memory * MiB);
  const exposed = Object.fromEntries(spec.exposedPorts.map((p) => [p.includes('/') ? p : `${p}/tcp`, {}]));
  return {
    name: containerName(req.uuid),
    Image: req.image,
    ...(spec.command.length > 0 ? { Cmd: [...spec.command] } : {}),
    ...(spec.entrypoint ? { Entrypoint: [...spec.entrypoint] } : {}),
    Env: Object.entries(spec.environment).map(([k, v]) => `${k}=${v}`),
    ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
    ...(spec.hostname ? { Hostname: spec.hostname } : {}),
    Labels: ownLabels(req, spec.labels),
    Tty: spec.tty,
    OpenStdin: spec.interactive,
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    ...(spec.healthcheck
      ? {
          Healthcheck: {
            Test: ['CMD-SHELL', spec.healthcheck.test],
            Interval: spec.healthcheck.interval * 1e9,
            Retries: spec.healthcheck.retries,
            Timeout: spec.healthcheck.timeout * 1e9,
          },
        }
      : {}),
    ...(req.endpoint?.macAddress ? { MacAddress: req.endpoint.macAddress } : {}),
    HostConfig: {
      Init: true,
      Memory: memory,
      MemorySwap: 2 * memory,
      NanoCpus: Math.round(spec.cpu * 1e9),
      NetworkMode: req.endpoint?.networkMode ?? 'bridge',
      Privileged: spec.privileged,
      ...(spec.runtime ? { Runtime: spec.runtime } : {}),
      ...(req.binds && req.binds.length > 0 ? { Binds: [...req.binds] } : {}),
    },
    ...(req.endpoint ? { NetworkingConfig: { EndpointsConfig: req.endpoint.endpointsConfig as Docker.EndpointsConfig } } : {}),
  };
}

/** The sandbox's command: the base image sleeping for ever, leaving at once on SIGTERM. */
export const SANDBOX_COMMAND = ['sh', '-c', "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"] as const;

/** Docker's create body for a capsule's sandbox or member. */
export function memberCreateOptions(req: MemberCreateRequest): Docker.ContainerCreateOptions {
  const memory = req.memory !== null ? Math.round(req.memory * MiB) : null;
  const exposed = Object.fromEntries(req.exposedPorts.map((p) => [p.includes('/') ? p : `${p}/tcp`, {}]));
  const ns = req.sandboxId ? `container:${req.sandboxId}` : null;
  return {
    name: containerName(req.uuid),
    Image: req.image,
    ...(req.command.length > 0 ? { Cmd: [...req.command] } : {}),
    Env: Object.entries(req.environment).map(([k, v]) => `${k}=${v}`),
    ...(req.workdir ? { WorkingDir: req.workdir } : {}),
    // Docker refuses a hostname (and exposed ports) for a container in another's network namespace.
    ...(req.hostname && !ns ? { Hostname: req.hostname } : {}),
    Labels: {
      ...ownLabels({ host: req.host, uuid: req.uuid, capsuleUuid: req.capsuleUuid, generation: 0 }),
      [LABELS.capsuleRole]: req.role,
      [LABELS.capsuleMember]: req.member,
    },
    Tty: req.tty,
    OpenStdin: req.interactive,
    ...(Object.keys(exposed).length > 0 && !ns ? { ExposedPorts: exposed } : {}),
    ...(req.endpoint?.macAddress ? { MacAddress: req.endpoint.macAddress } : {}),
    HostConfig: {
      Init: true,
      ...(memory !== null ? { Memory: memory, MemorySwap: 2 * memory } : {}),
      ...(req.cpu !== null ? { NanoCpus: Math.round(req.cpu * 1e9) } : {}),
      NetworkMode: ns ?? req.endpoint?.networkMode ?? 'bridge',
      ...(ns ? { IpcMode: ns } : { IpcMode: 'shareable' }),
      ...(req.binds.length > 0 ? { Binds: [...req.binds] } : {}),
    },
    ...(req.endpoint && !ns ? { NetworkingConfig: { EndpointsConfig: req.endpoint.endpointsConfig as Docker.EndpointsConfig } } : {}),
  };
}

const DOCKER_STATES = new Set<string>(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);
const asDockerState = (s: string | undefined): DockerState => (DOCKER_STATES.has(s ?? '') ? (s as DockerState) : 'dead');

/** An inspected container as the diff sees it. */
export function observationOf(info: Docker.ContainerInspectInfo): DockerObservation {
  const hc = info.HostConfig ?? {};
  const labels = info.Config?.Labels ?? {};
  return {
    dockerId: info.Id,
    state: asDockerState(info.State?.Status),
    exitCode: info.State?.ExitCode ?? 0,
    oomKilled: info.State?.OOMKilled ?? false,
    image: info.Config?.Image ?? '',
    cpu: hc.NanoCpus ? hc.NanoCpus / 1e9 : null,
    memoryMiB: hc.Memory ? hc.Memory / MiB : null,
    generation: Number(labels[LABELS.generation] ?? 0) || 0,
  };
}

/**
 * Splits Docker's multiplexed stdout/stderr stream (8-byte frame headers:
 * stream type, 3 zero bytes, big-endian length) into its text, in order.
 * A container with a TTY sends raw bytes: pass `tty` and it is returned as is.
 */
export function demux(buf: Buffer, tty: boolean): { stdout: string; stderr: string; combined: string } {
  if (tty) {
    const text = buf.toString('utf8');
    return { stdout: text, stderr: '', combined: text };
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const all: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const kind = buf[i]!;
    const size = buf.readUInt32BE(i + 4);
    const chunk = buf.subarray(i + 8, i + 8 + size);
    if (kind === 2) err.push(chunk);
    else out.push(chunk);
    all.push(chunk);
    i += 8 + size;
  }
  return {
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    combined: Buffer.concat(all).toString('utf8'),
  };
}

interface DockerodeError {
  statusCode?: number;
  reason?: string;
  json?: { message?: string } | null;
  message?: string;
  code?: string;
}

function dockerMessage(e: DockerodeError): string {
  return e.json?.message?.trim() || e.reason || e.message || String(e);
}

/** Maps a dockerode failure to the runtime's error taxonomy. */
export function toRuntimeError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = (err ?? {}) as DockerodeError;
  const status = typeof e.statusCode === 'number' ? e.statusCode : null;
  if (status === null) return new RuntimeError(RuntimeErrorCode.unavailable, `${what}: ${e.message ?? String(err)}`, null, { cause: err });
  const msg = dockerMessage(e);
  if (status === 404) {
    // A start's "network <id> not found" is about the container's configuration, not a container that is gone.
    const code = /no such image/i.test(msg)
      ? RuntimeErrorCode.imageNotFound
      : /^network \S+ not found/i.test(msg)
        ? RuntimeErrorCode.docker
        : RuntimeErrorCode.notFound;
    return new RuntimeError(code, msg, status, { cause: err });
  }
  if (status === 409) return new RuntimeError(RuntimeErrorCode.conflict, msg, status, { cause: err });
  return new RuntimeError(RuntimeErrorCode.docker, msg, status, { cause: err });
}

export interface DockerRuntimeOptions {
  readonly socketPath?: string;
  /** The client to use (default: `dockerClient(socketPath)`); tests pass an instrumented one. */
  readonly docker?: Docker;
  /** There is no registry here: pulls are off unless asked for. */
  readonly allowPull?: boolean;
}

/**
 * A Docker client whose calls reuse keep-alive connections on the Unix
 * socket, instead of opening and closing one per call (docker-modem's
 * default): fewer syscalls here and less per-connection work in dockerd.
 * Streams (events, logs, attach, exec) hold a connection of their own while
 * they run; hijacked ones leave the pool.
 */
export function dockerClient(socketPath = '/var/run/docker.sock'): Docker {
  const agent = new http.Agent({ keepAlive: true });
  // docker-modem formats every request's options with util.inspect (showHidden,
  // depth 4) for its debug log, enabled or not; walked in full, the agent and
  // its socket pools would cost more than the request itself.
  Object.defineProperty(agent, inspect.custom, { value: () => 'http.Agent { keepAlive: true }' });
  // docker-modem takes `agent`; @types/dockerode does not list it.
  const opts: Docker.DockerOptions & { agent: http.Agent } = { socketPath, agent };
  return new Docker(opts);
}

/**
 * The container events that can mean drift: a state change, a removal, a
 * rename or a limits update. A stop, kill or restart raises `die` (and a
 * restart `start`) besides its own event, so those are left out; so is
 * `create` (a labelled container made behind the actor's back is an orphan
 * for the resync to judge, and its own it knows), and so are attach, exec,
 * top, resize, health and copy events, which change nothing the diff looks
 * at and would each cost a pass.
 */
const DRIFT_EVENTS = ['start', 'die', 'oom', 'pause', 'unpause', 'destroy', 'rename', 'update'] as const;

export function createDockerRuntime(opts: DockerRuntimeOptions = {}): ContainerRuntime {
  const docker = opts.docker ?? dockerClient(opts.socketPath);
  /**
   * Forced removals go one at a time. dockerd 20.10.24 (Debian bookworm's)
   * can deadlock when containers on one user-defined network are torn down
   * at the same time: libnetwork's getSvcRecords takes the network's lock
   * and then the controller's, its processEndpointDelete the other way round
   * (moby/moby#46661; fixed by moby/moby#42545, not in 20.10.24). Every
   * later Docker call that touches networks (creates too) then hangs until
   * dockerd is restarted. It happened here twice, both times with removals
   * 8 at a time. Deletes are where the actor tears endpoints down in bulk,
   * so those queue; a stop's teardown can still meet a container's own exit,
   * rarely (README, "Not finished"; docker-watchdog.ts notices a hang).
   */
  const removals = createKeyedLock();
  const labelFilter = (host: string, uuid?: string) => ({
    label: [`${LABELS.managed}=true`, `${LABELS.host}=${host}`, ...(uuid ? [`${LABELS.container}=${uuid}`] : [])],
  });

  /**
   * Docker ids seen carrying the labels of `<host>\0<uuid>` (see the module
   * comment). Bounded: past the limit it starts over, which only costs
   * inspects.
   */
  const verified = new Map<string, string>();
  const VERIFIED_MAX = 10_000;
  const ownerKey = (host: string, uuid: string) => `${host}\0${uuid}`;
  function remember(dockerId: string, labels: Readonly<Record<string, string>> | null | undefined): void {
    const uuid = labels?.[LABELS.container];
    const host = labels?.[LABELS.host];
    if (!uuid || !host || !isOurs(labels, host, uuid)) return;
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.set(dockerId, ownerKey(host, uuid));
  }

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toRuntimeError(err, what);
    }
  }

  /** Creates; on a name conflict adopts the existing container if it is ours (a create whose record was lost), else refuses. */
  async function createOrAdopt(host: string, uuid: string, options: Docker.ContainerCreateOptions): Promise<string> {
    try {
      const c = await docker.createContainer(options);
      remember(c.id, options.Labels);
      return c.id;
    } catch (err) {
      const e = toRuntimeError(err, `create ${containerName(uuid)}`);
      if (e.code !== RuntimeErrorCode.conflict) throw e;
      const info = await call(`inspect ${containerName(uuid)}`, () => docker.getContainer(containerName(uuid)).inspect());
      if (!isOurs(info.Config?.Labels, host, uuid)) {
        throw new RuntimeError(RuntimeErrorCode.notOurs, `the name ${containerName(uuid)} is taken by a container not managed by ${host}`);
      }
      remember(info.Id, info.Config?.Labels);
      return info.Id;
    }
  }

  /** The container behind `ref`, inspected, after checking it is ours. */
  async function owned(ref: ContainerRef): Promise<{ c: Docker.Container; info: Docker.ContainerInspectInfo }> {
    const c = docker.getContainer(ref.dockerId);
    const info = await call(`inspect ${ref.dockerId}`, () => c.inspect());
    if (!isOurs(info.Config?.Labels, ref.host, ref.uuid)) {
      throw new RuntimeError(RuntimeErrorCode.notOurs, `container ${ref.dockerId} does not carry the labels of ${ref.uuid} on ${ref.host}`);
    }
    remember(info.Id, info.Config?.Labels);
    if (info.Id !== ref.dockerId) remember(ref.dockerId, info.Config?.Labels);
    return { c, info };
  }

  /** The container behind `ref` for a mutating call: checked to be ours, by an inspect unless already known. */
  async function ownedTarget(ref: ContainerRef): Promise<Docker.Container> {
    if (verified.get(ref.dockerId) === ownerKey(ref.host, ref.uuid)) return docker.getContainer(ref.dockerId);
    return (await owned(ref)).c;
  }

  /**
   * Entries of a stopped container's network configuration that make every
   * start fail, dropped so that the start can be tried again:
   * - a network connect that failed (dockerd 20.10 keeps it as an entry with
   *   no network id, where a running container cannot lose it: "Address
   *   already in use" at each later start);
   * - a network that no longer exists (removed behind the host actor's
   *   back): Docker looks the entry up by its network id, so even a network
   *   made again under the same name does not help ("network <id> not
   *   found").
   * The container then starts without them, and the host actor's network
   * diff connects it to its networks again (made again where they are
   * missing). Returns whether any entry was dropped.
   */
  async function dropBrokenNetworkEntries(c: Docker.Container): Promise<boolean> {
    let nets: Record<string, { NetworkID?: string }>;
    try {
      nets = ((await c.inspect()).NetworkSettings?.Networks ?? {}) as Record<string, { NetworkID?: string }>;
    } catch {
      return false;
    }
    const broken: string[] = [];
    for (const [name, n] of Object.entries(nets)) {
      if (!n.NetworkID) {
        broken.push(name);
        continue;
      }
      try {
        await docker.getNetwork(n.NetworkID).inspect();
      } catch (err) {
        if ((err as DockerodeError)?.statusCode === 404) broken.push(name);
      }
    }
    for (const name of broken) {
      await call(`drop the broken network entry ${name} of ${c.id}`, () => docker.getNetwork(name).disconnect({ Container: c.id, Force: true }));
    }
    return broken.length > 0;
  }

  /** start/stop answer 304 when there is nothing to do: that is success. */
  async function idempotent(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if ((err as DockerodeError)?.statusCode === 304) return;
      throw toRuntimeError(err, what);
    }
  }

  return {
    async list(host) {
      const items = await call('list containers', () => docker.listContainers({ all: true, filters: labelFilter(host) }));
      return items
        .filter((i) => isOurs(i.Labels, host) && i.Labels[LABELS.container])
        .map((i) => ({
          dockerId: i.Id,
          uuid: i.Labels[LABELS.container]!,
          name: (i.Names?.[0] ?? '').replace(/^\//, ''),
          state: asDockerState(i.State),
          capsuleUuid: i.Labels[LABELS.capsule] || null,
        }));
    },

    async find(host, uuid) {
      // Fast path: every container we make is named zun-<uuid>, and an inspect
      // by name is O(1) where a filtered list walks all of dockerd's
      // containers under its lock. The list stays the authority when the name
      // is not ours or not there (renamed behind our back, or absent).
      try {
        const info = await docker.getContainer(containerName(uuid)).inspect();
        if (isOurs(info.Config?.Labels, host, uuid)) {
          remember(info.Id, info.Config?.Labels);
          return observationOf(info);
        }
      } catch (err) {
        if ((err as DockerodeError)?.statusCode !== 404) throw toRuntimeError(err, `inspect ${containerName(uuid)}`);
      }
      const items = await call('list containers', () => docker.listContainers({ all: true, filters: labelFilter(host, uuid) }));
      const mine = items.filter((i) => isOurs(i.Labels, host, uuid)).sort((a, b) => b.Created - a.Created);
      for (const item of mine) {
        try {
          const info = await docker.getContainer(item.Id).inspect();
          remember(info.Id, info.Config?.Labels);
          return observationOf(info);
        } catch (err) {
          if ((err as DockerodeError)?.statusCode === 404) continue; // removed between list and inspect
          throw toRuntimeError(err, `inspect ${item.Id}`);
        }
      }
      return null;
    },

    async imagePresent(image) {
      try {
        await docker.getImage(image).inspect();
        return true;
      } catch (err) {
        if ((err as DockerodeError)?.statusCode === 404) return false;
        throw toRuntimeError(err, `inspect image ${image}`);
      }
    },

    async pull(image) {
      if (!opts.allowPull) throw new RuntimeError(RuntimeErrorCode.pullDisabled, `image pulls are disabled on this host (no registry): ${image}`);
      await call(`pull ${image}`, async () => {
        const stream = await docker.pull(image);
        await new Promise<void>((resolve, reject) =>
          docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
        );
      });
    },

    create(req) {
      return createOrAdopt(req.host, req.uuid, createOptions(req));
    },

    createMember(req) {
      return createOrAdopt(req.host, req.uuid, memberCreateOptions(req));
    },

    async listCapsule(host, capsuleUuid) {
      const items = await call('list containers', () =>
        docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.host}=${host}`, `${LABELS.capsule}=${capsuleUuid}`] } }),
      );
      const out: CapsuleContainer[] = [];
      for (const item of items.filter((i) => isOurs(i.Labels, host) && i.Labels[LABELS.capsule] === capsuleUuid)) {
        try {
          const info = await docker.getContainer(item.Id).inspect();
          const labels = info.Config?.Labels ?? {};
          remember(info.Id, labels);
          const role = labels[LABELS.capsuleRole];
          out.push({
            dockerId: info.Id,
            uuid: labels[LABELS.container] ?? '',
            role: role === 'sandbox' || role === 'init' ? role : 'container',
            member: labels[LABELS.capsuleMember] ?? '',
            state: asDockerState(info.State?.Status),
            exitCode: info.State?.ExitCode ?? 0,
          });
        } catch (err) {
          if ((err as DockerodeError)?.statusCode === 404) continue;
          throw toRuntimeError(err, `inspect ${item.Id}`);
        }
      }
      return out;
    },

    async start(ref) {
      const c = await ownedTarget(ref);
      try {
        await idempotent(`start ${ref.dockerId}`, () => c.start());
      } catch (err) {
        if (!(await dropBrokenNetworkEntries(c))) throw err;
        await idempotent(`start ${ref.dockerId}`, () => c.start());
      }
    },
    async stop(ref, t) {
      const c = await ownedTarget(ref);
      await idempotent(`stop ${ref.dockerId}`, () => c.stop({ t }));
    },
    async pause(ref) {
      const c = await ownedTarget(ref);
      await call(`pause ${ref.dockerId}`, () => c.pause());
    },
    async unpause(ref) {
      const c = await ownedTarget(ref);
      await call(`unpause ${ref.dockerId}`, () => c.unpause());
    },
    async kill(ref, signal) {
      const c = await ownedTarget(ref);
      await call(`kill ${ref.dockerId}`, () => c.kill({ signal }));
    },
    async commit(ref, { repository, tag, imageUuid }) {
      const c = await ownedTarget(ref);
      const made = await call(`list images labelled ${imageUuid}`, () => docker.listImages({ filters: { label: [`${COMMIT_LABELS.uuid}=${imageUuid}`] } }));
      const before = made.find((i) => (i.RepoTags ?? []).includes(`${repository}:${tag}`));
      if (before) return before.Id;
      // Docker copies the container's labels into the image: ours are blanked, so
      // that no container made from the image (here or by hand) passes for ours.
      const blank = Object.values(LABELS).map((k) => `${k}=""`);
      const mark = [`${COMMIT_LABELS.uuid}="${imageUuid}"`, `${COMMIT_LABELS.ref}="${repository}:${tag}"`];
      const image = (await call(`commit ${ref.dockerId} to ${repository}:${tag}`, () =>
        c.commit({ repo: repository, tag, pause: true, changes: `LABEL ${[...blank, ...mark].join(' ')}` }),
      )) as { Id?: string };
      if (!image?.Id) throw new RuntimeError(RuntimeErrorCode.docker, `commit of ${ref.dockerId} to ${repository}:${tag} returned no image id`);
      return image.Id;
    },
    async restart(ref, t) {
      const c = await ownedTarget(ref);
      try {
        await call(`restart ${ref.dockerId}`, () => c.restart({ t }));
      } catch (err) {
        // Stopped, then not started again (see dropBrokenNetworkEntries): the start alone once more.
        if (!(await dropBrokenNetworkEntries(c))) throw err;
        await idempotent(`start ${ref.dockerId}`, () => c.start());
      }
    },
    async remove(ref) {
      let target: Docker.Container;
      try {
        target = await ownedTarget(ref);
      } catch (err) {
        if (err instanceof RuntimeError && err.code === RuntimeErrorCode.notFound) return;
        throw err;
      }
      try {
        await removals('remove', () => target.remove({ force: true, v: true }));
        verified.delete(ref.dockerId);
      } catch (err) {
        const e = toRuntimeError(err, `remove ${ref.dockerId}`);
        if (e.code === RuntimeErrorCode.notFound) {
          verified.delete(ref.dockerId);
          return;
        }
        // "removal already in progress" is a 409: done soon, the next look confirms.
        if (e.code === RuntimeErrorCode.conflict && /already in progress/i.test(e.message)) return;
        throw e;
      }
    },
    async update(ref, limits) {
      const c = await ownedTarget(ref);
      const memory = Math.round(limits.memoryMiB * MiB);
      await call(`update ${ref.dockerId}`, () => c.update({ Memory: memory, MemorySwap: 2 * memory, NanoCpus: Math.round(limits.cpu * 1e9) }));
    },

    async logs(ref, o) {
      const { c, info } = await owned(ref);
      const buf = await call(`logs ${ref.dockerId}`, () =>
        c.logs({
          follow: false,
          stdout: o.stdout,
          stderr: o.stderr,
          timestamps: o.timestamps,
          ...(o.tail === 'all' ? {} : { tail: o.tail }),
          ...(o.since !== null ? { since: o.since } : {}),
        }),
      );
      return demux(Buffer.isBuffer(buf) ? buf : Buffer.from(buf as unknown as string), info.Config?.Tty ?? false).combined;
    },

    async top(ref, psArgs) {
      const { c } = await owned(ref);
      const res = (await call(`top ${ref.dockerId}`, () => c.top(psArgs ? { ps_args: psArgs } : {}))) as TopResult;
      return { Titles: res.Titles ?? [], Processes: res.Processes ?? [] };
    },

    async stats(ref) {
      const { c } = await owned(ref);
      return (await call(`stats ${ref.dockerId}`, () => c.stats({ stream: false }))) as RawStats;
    },

    async exec(ref, o) {
      const { c } = await owned(ref);
      const exec = await call(`exec ${ref.dockerId}`, () =>
        c.exec({ Cmd: [...o.cmd], AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: o.tty }),
      );
      if (!o.run) return { execId: exec.id, output: null, exitCode: null };
      const stream = await call(`exec start ${exec.id}`, () => exec.start({ hijack: true, stdin: false, Tty: o.tty }));
      const chunks: Buffer[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on('data', (b: Buffer) => chunks.push(b));
        stream.on('end', () => resolve());
        stream.on('close', () => resolve());
        stream.on('error', reject);
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutMs)));
      try {
        if ((await Promise.race([done, timedOut])) === 'timeout') {
          stream.destroy();
          throw new RuntimeError(RuntimeErrorCode.execTimeout, `Timeout on executing command: ${o.cmd.join(' ')}`);
        }
      } finally {
        clearTimeout(timer);
      }
      const inspected = await call(`exec inspect ${exec.id}`, () => exec.inspect());
      return { execId: exec.id, output: demux(Buffer.concat(chunks), o.tty).combined, exitCode: inspected.ExitCode ?? null };
    },

    async info() {
      const i = await call('docker info', () => docker.info());
      return {
        runtimes: Object.keys(i.Runtimes ?? { runc: {} }),
        os: i.OperatingSystem ?? '',
        osType: i.OSType ?? '',
        architecture: i.Architecture ?? '',
        kernelVersion: i.KernelVersion ?? '',
        cpus: i.NCPU ?? 0,
        memTotalBytes: i.MemTotal ?? 0,
        serverVersion: i.ServerVersion ?? '',
        rootDir: i.DockerRootDir ?? null,
      };
    },

    events(host, handlers) {
      let stream: NodeJS.ReadableStream | null = null;
      let closed = false;
      let finished = false;
      const finish = (err: unknown) => {
        if (finished) return;
        finished = true;
        if (!closed) handlers.onClose(err);
      };
      docker
        .getEvents({ filters: { type: ['container'], event: [...DRIFT_EVENTS], label: [`${LABELS.managed}=true`, `${LABELS.host}=${host}`] } })
        .then((s) => {
          stream = s;
          if (closed) {
            (s as unknown as { destroy?: () => void }).destroy?.();
            return;
          }
          let rest = '';
          s.on('data', (chunk: Buffer) => {
            rest += chunk.toString('utf8');
            let nl: number;
            while ((nl = rest.indexOf('\n')) >= 0) {
              const line = rest.slice(0, nl).trim();
              rest = rest.slice(nl + 1);
              if (!line) continue;
              try {
                const ev = JSON.parse(line) as { Action?: string; Actor?: { Attributes?: Record<string, string> } };
                const attrs = ev.Actor?.Attributes ?? {};
                if (isOurs(attrs, host) && attrs[LABELS.container]) handlers.onEvent(attrs[LABELS.container]!, ev.Action ?? '', attrs[LABELS.capsule] || null);
              } catch {
                // a malformed line: the periodic resync covers whatever it said
              }
            }
          });
          s.on('end', () => finish(new Error('docker event stream ended')));
          s.on('close', () => finish(new Error('docker event stream closed')));
          s.on('error', (err: unknown) => finish(err));
        })
        .catch((err: unknown) => finish(err));
      return {
        close() {
          closed = true;
          (stream as unknown as { destroy?: () => void } | null)?.destroy?.();
        },
      };
    },
  };
}
