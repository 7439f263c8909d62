/**
 * The in-memory twin of the ContainerRuntime port, for unit and property
 * tests. It keeps Docker's semantics where the host actor depends on them:
 * name uniqueness (409, adopted when ours), images must be present, start
 * and stop are idempotent (Docker's 304), pause/unpause/kill in the wrong
 * state are conflicts (409), remove is forced, events are emitted for every
 * change. Drift (what an operator does behind the actor's back) and failures
 * are injected through `drift` and `failNext`.
 */
import type { DockerObservation, DockerState } from '../../domain/reconcile.js';
import {
  LABELS,
  RuntimeError,
  RuntimeErrorCode,
  containerName,
  isOurs,
  ownLabels,
  type ContainerRef,
  type CapsuleContainer,
  type ContainerRuntime,
  type CreateRequest,
  type MemberCreateRequest,
  type EventHandlers,
  type RuntimeContainer,
} from './docker.js';

export interface MemoryContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string;
  state: DockerState;
  exitCode: number;
  oomKilled: boolean;
  cpu: number;
  memoryMiB: number;
  created: number;
  logs: string;
  /** What the create request asked for, for assertions. */
  binds?: readonly string[];
  networkMode?: string;
  ipcMode?: string;
}

type Op = 'createMember' | 'create' | 'start' | 'stop' | 'pause' | 'unpause' | 'kill' | 'restart' | 'remove' | 'update' | 'commit' | 'pull' | 'find' | 'list';

export interface MemoryRuntime extends ContainerRuntime {
  /** Every container, ours or not. */
  containers(): MemoryContainer[];
  /** Adds a container as someone else would (any labels). */
  put(c: Partial<MemoryContainer> & { name: string }): MemoryContainer;
  readonly images: Set<string>;
  /** The next call of `op` fails with `err`. */
  failNext(op: Op, err: RuntimeError): void;
  /** Operations carried out, in order, for assertions. */
  readonly calls: { op: Op; id: string | null }[];
  readonly drift: {
    exit(id: string, exitCode?: number, oomKilled?: boolean): void;
    stop(id: string): void;
    pause(id: string): void;
    start(id: string): void;
    remove(id: string): void;
  };
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

export function createMemoryRuntime(opts: { images?: readonly string[] } = {}): MemoryRuntime {
  const byId = new Map<string, MemoryContainer>();
  const images = new Set(opts.images ?? ['zun-base:latest']);
  const failures = new Map<Op, RuntimeError[]>();
  const subscribers = new Set<{ host: string; h: EventHandlers }>();
  const calls: { op: Op; id: string | null }[] = [];
  let nextId = 1;
  let clock = 0;

  const fail = (op: Op, id: string | null) => {
    calls.push({ op, id });
    const queue = failures.get(op);
    const err = queue?.shift();
    if (err) throw err;
  };
  const emit = (c: MemoryContainer, action: string) => {
    for (const s of subscribers) {
      if (isOurs(c.labels, s.host) && c.labels[LABELS.container]) s.h.onEvent(c.labels[LABELS.container]!, action, c.labels[LABELS.capsule] || null);
    }
  };
  const notFound = (id: string) => new RuntimeError(RuntimeErrorCode.notFound, `No such container: ${id}`, 404);
  const conflict = (msg: string) => new RuntimeError(RuntimeErrorCode.conflict, msg, 409);
  const get = (id: string) => {
    const c = byId.get(id);
    if (!c) throw notFound(id);
    return c;
  };
  const owned = (ref: ContainerRef) => {
    const c = get(ref.dockerId);
    if (!isOurs(c.labels, ref.host, ref.uuid)) {
      throw new RuntimeError(RuntimeErrorCode.notOurs, `container ${ref.dockerId} does not carry the labels of ${ref.uuid} on ${ref.host}`);
    }
    return c;
  };
  const set = (c: MemoryContainer, state: DockerState, action: string, exitCode?: number) => {
    c.state = state;
    if (exitCode !== undefined) c.exitCode = exitCode;
    if (state === 'running') c.oomKilled = false;
    emit(c, action);
  };
  const observe = (c: MemoryContainer): DockerObservation => ({
    dockerId: c.id,
    state: c.state,
    exitCode: c.exitCode,
    oomKilled: c.oomKilled,
    image: c.image,
    cpu: c.cpu,
    memoryMiB: c.memoryMiB,
    generation: Number(c.labels[LABELS.generation] ?? 0) || 0,
  });
  const put = (p: Partial<MemoryContainer> & { name: string }): MemoryContainer => {
    const c: MemoryContainer = {
      id: p.id ?? `mem${String(nextId++).padStart(12, '0')}`,
      labels: {},
      image: 'zun-base:latest',
      state: 'created',
      exitCode: 0,
      oomKilled: false,
      cpu: 1,
      memoryMiB: 512,
      created: ++clock,
      logs: '',
      ...p,
    };
    byId.set(c.id, c);
    emit(c, 'create');
    return c;
  };

  const runtime: MemoryRuntime = {
    images,
    calls,
    containers: () => [...byId.values()],
    put,
    failNext(op, err) {
      failures.set(op, [...(failures.get(op) ?? []), err]);
    },
    drift: {
      exit: (id, exitCode = 1, oomKilled = false) => {
        const c = get(id);
        c.oomKilled = oomKilled;
        set(c, 'exited', 'die', exitCode);
      },
      stop: (id) => set(get(id), 'exited', 'die', 143),
      pause: (id) => set(get(id), 'paused', 'pause'),
      start: (id) => set(get(id), 'running', 'start', 0),
      remove: (id) => {
        const c = get(id);
        byId.delete(id);
        emit(c, 'destroy');
      },
    },

    async list(host) {
      fail('list', null);
      return [...byId.values()]
        .filter((c) => isOurs(c.labels, host) && c.labels[LABELS.container])
        .map((c): RuntimeContainer => ({
          dockerId: c.id,
          uuid: c.labels[LABELS.container]!,
          name: c.name,
          state: c.state,
          capsuleUuid: c.labels[LABELS.capsule] || null,
        }));
    },
    async find(host, uuid) {
      fail('find', null);
      const mine = [...byId.values()].filter((c) => isOurs(c.labels, host, uuid)).sort((a, b) => b.created - a.created);
      return mine[0] ? observe(mine[0]) : null;
    },
    async imagePresent(image) {
      return images.has(image);
    },
    async pull(image) {
      fail('pull', null);
      throw new RuntimeError(RuntimeErrorCode.pullDisabled, `image pulls are disabled on this host (no registry): ${image}`);
    },
    async create(req: CreateRequest) {
      fail('create', null);
      const name = containerName(req.uuid);
      const taken = [...byId.values()].find((c) => c.name === name);
      if (taken) {
        if (!isOurs(taken.labels, req.host, req.uuid)) {
          throw new RuntimeError(RuntimeErrorCode.notOurs, `the name ${name} is taken by a container not managed by ${req.host}`);
        }
        return taken.id;
      }
      if (!images.has(req.image)) throw new RuntimeError(RuntimeErrorCode.imageNotFound, `No such image: ${req.image}`, 404);
      return put({
        name,
        labels: ownLabels(req, req.spec.labels),
        image: req.image,
        cpu: req.spec.cpu,
        memoryMiB: req.spec.memory,
        binds: req.binds ?? [],
        networkMode: req.endpoint?.networkMode ?? 'bridge',
      }).id;
    },
    async createMember(req: MemberCreateRequest) {
      fail('createMember', null);
      const name = containerName(req.uuid);
      const taken = [...byId.values()].find((c) => c.name === name);
      if (taken) {
        if (!isOurs(taken.labels, req.host, req.uuid)) {
          throw new RuntimeError(RuntimeErrorCode.notOurs, `the name ${name} is taken by a container not managed by ${req.host}`);
        }
        return taken.id;
      }
      if (!images.has(req.image)) throw new RuntimeError(RuntimeErrorCode.imageNotFound, `No such image: ${req.image}`, 404);
      if (req.sandboxId && byId.get(req.sandboxId)?.state !== 'running') {
        throw conflict(`cannot join the network of a non running container: ${req.sandboxId}`);
      }
      const ns = req.sandboxId ? `container:${req.sandboxId}` : null;
      return put({
        name,
        labels: {
          ...ownLabels({ host: req.host, uuid: req.uuid, capsuleUuid: req.capsuleUuid, generation: 0 }),
          [LABELS.capsuleRole]: req.role,
          [LABELS.capsuleMember]: req.member,
        },
        image: req.image,
        cpu: req.cpu ?? 0,
        memoryMiB: req.memory ?? 0,
        binds: req.binds,
        networkMode: ns ?? req.endpoint?.networkMode ?? 'bridge',
        ipcMode: ns ?? 'shareable',
      }).id;
    },
    async listCapsule(host, capsuleUuid) {
      fail('list', null);
      return [...byId.values()]
        .filter((c) => isOurs(c.labels, host) && c.labels[LABELS.capsule] === capsuleUuid)
        .map((c): CapsuleContainer => {
          const role = c.labels[LABELS.capsuleRole];
          return {
            dockerId: c.id,
            uuid: c.labels[LABELS.container] ?? '',
            role: role === 'sandbox' || role === 'init' ? role : 'container',
            member: c.labels[LABELS.capsuleMember] ?? '',
            state: c.state,
            exitCode: c.exitCode,
          };
        });
    },
    async start(ref) {
      fail('start', ref.dockerId);
      const c = owned(ref);
      if (c.state === 'running') return;
      if (c.state === 'paused') throw conflict('cannot start a paused container, try unpause instead');
      set(c, 'running', 'start', 0);
    },
    async stop(ref) {
      fail('stop', ref.dockerId);
      const c = owned(ref);
      if (c.state === 'running' || c.state === 'paused') set(c, 'exited', 'die', 143);
    },
    async pause(ref) {
      fail('pause', ref.dockerId);
      const c = owned(ref);
      if (c.state === 'paused') throw conflict(`Container ${c.id} is already paused`);
      if (c.state !== 'running') throw conflict(`Container ${c.id} is not running`);
      set(c, 'paused', 'pause');
    },
    async unpause(ref) {
      fail('unpause', ref.dockerId);
      const c = owned(ref);
      if (c.state !== 'paused') throw conflict(`Container ${c.id} is not paused`);
      set(c, 'running', 'unpause');
    },
    async kill(ref, signal) {
      fail('kill', ref.dockerId);
      const c = owned(ref);
      if (c.state !== 'running' && c.state !== 'paused') throw conflict(`Cannot kill container: ${c.id}: Container ${c.id} is not running`);
      const n = /^\d+$/.test(signal) ? Number(signal) : (SIGNALS[signal] ?? 9);
      set(c, 'exited', 'die', 128 + n);
    },
    async commit(ref, image) {
      fail('commit', ref.dockerId);
      owned(ref);
      // One image per commit uuid, as Docker's labelled image is found again (docker.ts).
      images.add(`${image.repository}:${image.tag}`);
      return `sha256:${image.imageUuid.replace(/-/g, '')}`;
    },
    async restart(ref) {
      fail('restart', ref.dockerId);
      set(owned(ref), 'running', 'restart', 0);
    },
    async remove(ref) {
      fail('remove', ref.dockerId);
      const c = byId.get(ref.dockerId);
      if (!c) return;
      owned(ref);
      byId.delete(c.id);
      emit(c, 'destroy');
    },
    async update(ref, limits) {
      fail('update', ref.dockerId);
      const c = owned(ref);
      c.cpu = limits.cpu;
      c.memoryMiB = limits.memoryMiB;
      emit(c, 'update');
    },
    async logs(ref) {
      return owned(ref).logs;
    },
    async top(ref) {
      const c = owned(ref);
      if (c.state !== 'running') throw conflict(`Container ${c.id} is not running`);
      return { Titles: ['PID', 'CMD'], Processes: [['1', 'sleep 3600']] };
    },
    async stats(ref) {
      const c = owned(ref);
      return {
        cpu_stats: { cpu_usage: { total_usage: 1 }, system_cpu_usage: 100 },
        memory_stats: { usage: 2 * 1024 * 1024, limit: c.memoryMiB * 1024 * 1024 },
        blkio_stats: { io_service_bytes_recursive: [] },
        networks: {},
      };
    },
    async exec(ref, o) {
      const c = owned(ref);
      if (c.state !== 'running') throw conflict(`Container ${c.id} is not running`);
      return { execId: `exec-${nextId++}`, output: o.run ? `${o.cmd.join(' ')}\n` : null, exitCode: o.run ? 0 : null };
    },
    async info() {
      return {
        runtimes: ['runc'],
        os: 'memory',
        osType: 'linux',
        architecture: 'x86_64',
        kernelVersion: '0',
        cpus: 4,
        memTotalBytes: 8 * 1024 ** 3,
        serverVersion: 'memory',
        rootDir: null,
      };
    },
    events(host, h) {
      const sub = { host, h };
      subscribers.add(sub);
      return { close: () => void subscribers.delete(sub) };
    },
  };
  return runtime;
}
