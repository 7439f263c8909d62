/**
 * The host actor's request-reply ops beyond logs/top/stats/exec (rpc.ts):
 * archives, interactive exec and attach streams, tty resizes, and the host's
 * local images. Served on the same subject, `zun.host.<token(host)>.rpc`;
 * rpc.ts hands every op named in EXTRA_OPS to `handleExtraRpc`.
 *
 * Protocol (JSON requests, replies `{ok: true, result}` | `{ok: false, error: {code, message}}`):
 *   get_archive  {uuid, path}                      -> {data: <base64 tar>, stat}
 *   put_archive  {uuid, path, data: <base64 tar>}  -> null
 *   exec_create  {uuid, command, interactive}      -> {exec_id}   (not started)
 *   exec_resize  {uuid, execId, h, w}              -> null
 *   resize       {uuid, h, w}                      -> null        (the container's tty)
 *   stream_open  {uuid, session, execId?}          -> {tty}       (see "streams")
 *   images       {}                                -> LocalImage[]
 *   image_pull   {image, policy}                   -> {image: LocalImage, pulled}
 *   image_remove {image}                           -> null
 *
 * Streams (interactive exec and attach): the gateway subscribes to
 * `zun.host.<token(host)>.exec.<token(session)>.out` first, then asks
 * `stream_open`. The host starts the exec (or attaches to the container),
 * publishes everything the process writes to `.out` (raw bytes, in order: one
 * publisher on one connection), and writes everything that arrives on `.in`
 * to the process's stdin. Control messages carry the header `Zun-Stream`:
 * `eof` (either side: the stream is over), `ping` (the gateway is still
 * there). A session with no message on `.in` for STREAM_IDLE_MS is closed,
 * so a gateway that dies does not leave streams open forever; the process
 * itself keeps running, as with `docker exec` after a client goes away.
 *
 * Only containers with this host's labels are answered for, and an exec id
 * must belong to the container named in the request. Nothing is appended to
 * the event log: Zun does not record these either.
 */
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { encodeToken, type ImagePullPolicy } from '../../events/index.js';
import { committedAs } from '../../domain/images.js';
import type { Logger } from '../platform/log.js';
import { RuntimeError, RuntimeErrorCode, dockerClient, toRuntimeError, type ContainerRuntime } from './docker.js';
import { shlexSplit } from './rpc.js';

export const EXTRA_OPS = [
  'get_archive',
  'put_archive',
  'exec_create',
  'exec_resize',
  'resize',
  'stream_open',
  'images',
  'image_pull',
  'image_remove',
] as const;
export type ExtraOp = (typeof EXTRA_OPS)[number];

export type ExtraRpcRequest =
  | { readonly op: 'get_archive'; readonly uuid: string; readonly path: string }
  | { readonly op: 'put_archive'; readonly uuid: string; readonly path: string; readonly data: string }
  | { readonly op: 'exec_create'; readonly uuid: string; readonly command: string | readonly string[]; readonly interactive?: boolean }
  | { readonly op: 'exec_resize'; readonly uuid: string; readonly execId: string; readonly h?: number | null; readonly w?: number | null }
  | { readonly op: 'resize'; readonly uuid: string; readonly h?: number | null; readonly w?: number | null }
  | { readonly op: 'stream_open'; readonly uuid: string; readonly session: string; readonly execId?: string | null }
  | { readonly op: 'images' }
  | { readonly op: 'image_pull'; readonly image: string; readonly policy?: ImagePullPolicy }
  | { readonly op: 'image_remove'; readonly image: string };

export const isExtraOp = (req: unknown): req is ExtraRpcRequest =>
  typeof req === 'object' && req !== null && (EXTRA_OPS as readonly unknown[]).includes((req as { op?: unknown }).op);

export const ExtraRpcErrorCode = {
  badRequest: 'BAD_REQUEST',
  notFound: 'CONTAINER_NOT_FOUND',
  /** The path in the container, or the exec, does not exist. */
  resourceNotFound: 'NOT_FOUND',
  conflict: 'CONFLICT',
  imageNotFound: 'IMAGE_NOT_FOUND',
  tooLarge: 'TOO_LARGE',
  docker: 'DOCKER_ERROR',
  unavailable: 'DOCKER_UNAVAILABLE',
} as const;
export type ExtraRpcErrorCode = (typeof ExtraRpcErrorCode)[keyof typeof ExtraRpcErrorCode];

export type ExtraRpcReply<T = unknown> =
  | { readonly ok: true; readonly result: T }
  | { readonly ok: false; readonly error: { readonly code: ExtraRpcErrorCode; readonly message: string } };

/** Docker's X-Docker-Container-Path-Stat, which Zun returns as `stat`. */
export interface ArchiveStat {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: string;
  readonly linkTarget: string;
}

export interface LocalImage {
  /** `sha256:...` */
  readonly id: string;
  /** `repo:tag` names; empty for a dangling image. */
  readonly repoTags: readonly string[];
  readonly size: number;
  /** Epoch seconds. */
  readonly created: number;
  /** A committed image: the uuid the commit answered with and the reference it was made as (domain/images.ts). */
  readonly committed?: { readonly uuid: string; readonly ref: string };
}

/**
 * Archives travel inside one NATS message (1 MiB by default) as base64:
 * 640 KiB of tar is about 854 KiB of base64, leaving room for the envelope.
 */
export const MAX_ARCHIVE_BYTES = 640 * 1024;
/** A stream with no message from the gateway for this long is closed. */
export const STREAM_IDLE_MS = 60_000;
/** The gateway pings a stream this often. */
export const STREAM_PING_MS = 15_000;
export const STREAM_CONTROL_HEADER = 'Zun-Stream';
export const StreamControl = { eof: 'eof', ping: 'ping' } as const;

/** `zun.host.<token(host)>.exec.<token(session)>.in|out` */
export function streamSubjects(hostname: string, session: string): { readonly in: string; readonly out: string } {
  const base = `zun.host.${encodeToken(hostname)}.exec.${encodeToken(session)}`;
  return { in: `${base}.in`, out: `${base}.out` };
}

/** Zun's parse_image_name for the docker driver: `repo[:tag]`, tag `latest` when absent. */
export function splitImage(image: string): { repo: string; tag: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { repo: image.slice(0, at), tag: image.slice(at + 1) };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { repo: image.slice(0, colon), tag: image.slice(colon + 1) || 'latest' };
  return { repo: image, tag: 'latest' };
}

// ---- the Docker side ------------------------------------------------------------------------

/** What these ops need from Docker beyond the ContainerRuntime port. Ids come from `runtime.find`. */
export interface RuntimeExtras {
  getArchive(dockerId: string, path: string): Promise<{ tar: Buffer; stat: ArchiveStat }>;
  putArchive(dockerId: string, path: string, tar: Buffer): Promise<void>;
  execCreate(dockerId: string, cmd: readonly string[], interactive: boolean): Promise<string>;
  /** The exec's container and tty setting; null when the exec does not exist. */
  execInfo(execId: string): Promise<{ containerId: string; tty: boolean; stdin: boolean } | null>;
  execResize(execId: string, h: number, w: number): Promise<void>;
  resize(dockerId: string, h: number, w: number): Promise<void>;
  /** Starts the exec attached, or attaches to the container; the duplex carries its stdin and output. */
  openExec(execId: string, o: { tty: boolean; stdin: boolean }): Promise<Duplex>;
  openAttach(dockerId: string): Promise<{ stream: Duplex; tty: boolean }>;
  listImages(): Promise<LocalImage[]>;
  inspectImage(image: string): Promise<LocalImage | null>;
  removeImage(image: string): Promise<void>;
}

/** An archive larger than MAX_ARCHIVE_BYTES: it cannot travel in one message. */
export class ArchiveTooLarge extends Error {
  readonly code = 'ARCHIVE_TOO_LARGE';
  constructor(limit: number) {
    super(`the archive is larger than ${limit} bytes, the most one host RPC message carries`);
    this.name = 'ArchiveTooLarge';
  }
}

async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > limit) {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      throw new ArchiveTooLarge(limit);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function decodeStat(header: string | string[] | undefined): ArchiveStat {
  const raw = Array.isArray(header) ? header[0] : header;
  const fallback: ArchiveStat = { name: '', size: 0, mode: 0, mtime: '', linkTarget: '' };
  if (!raw) return fallback;
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Partial<ArchiveStat>;
    return { ...fallback, ...v };
  } catch {
    return fallback;
  }
}

const asImage = (i: { Id: string; RepoTags?: string[] | null; Size: number; Created: number | string; Labels?: Record<string, string> | null }): LocalImage => {
  const committed = committedAs(i.Labels);
  return {
    id: i.Id,
    repoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    size: i.Size,
    created: typeof i.Created === 'number' ? i.Created : Math.floor(Date.parse(i.Created) / 1000) || 0,
    ...(committed ? { committed } : {}),
  };
};

export function createDockerExtras(opts: { socketPath?: string } = {}): RuntimeExtras {
  const docker = dockerClient(opts.socketPath);
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toRuntimeError(err, what);
    }
  }
  /**
   * An archive call's 404 is Docker's "Could not find the file <path> in
   * container <id>"; dockerode reads no body for these streamed calls and
   * says "no such container" instead. The container was just found by its
   * labels, so it is the path that is missing.
   */
  const missingPath = (path: string) => (err: unknown): never => {
    if (err instanceof RuntimeError && err.code === RuntimeErrorCode.notFound) {
      throw new RuntimeError(RuntimeErrorCode.notFound, `Could not find the file ${path} in the container`, err.statusCode, { cause: err });
    }
    throw err;
  };
  const extras: RuntimeExtras = {
    async getArchive(dockerId, path) {
      const res = (await call(`get archive ${path}`, () => docker.getContainer(dockerId).getArchive({ path })).catch(missingPath(path))) as NodeJS.ReadableStream & {
        headers?: Record<string, string | string[] | undefined>;
      };
      const stat = decodeStat(res.headers?.['x-docker-container-path-stat']);
      const tar = await readAll(res, MAX_ARCHIVE_BYTES);
      return { tar, stat };
    },
    async putArchive(dockerId, path, tar) {
      const res = await call(`put archive ${path}`, () => docker.getContainer(dockerId).putArchive(tar, { path })).catch(missingPath(path));
      // dockerode resolves with the response stream; drain it so the socket is released.
      const s = res as unknown as NodeJS.ReadableStream | null;
      if (s && typeof (s as { resume?: unknown }).resume === 'function') s.resume();
    },
    async execCreate(dockerId, cmd, interactive) {
      const exec = await call(`exec create ${dockerId}`, () =>
        docker.getContainer(dockerId).exec({
          Cmd: [...cmd],
          AttachStdin: interactive,
          AttachStdout: true,
          AttachStderr: true,
          Tty: interactive,
        }),
      );
      return exec.id;
    },
    async execInfo(execId) {
      try {
        const i = await docker.getExec(execId).inspect();
        return { containerId: i.ContainerID, tty: i.ProcessConfig?.tty ?? false, stdin: i.OpenStdin ?? false };
      } catch (err) {
        const e = toRuntimeError(err, `exec inspect ${execId}`);
        if (e.code === RuntimeErrorCode.notFound) return null;
        throw e;
      }
    },
    async execResize(execId, h, w) {
      await call(`exec resize ${execId}`, () => docker.getExec(execId).resize({ h, w }));
    },
    async resize(dockerId, h, w) {
      await call(`resize ${dockerId}`, () => docker.getContainer(dockerId).resize({ h, w }));
    },
    async openExec(execId, o) {
      return call(`exec start ${execId}`, () => docker.getExec(execId).start({ hijack: true, stdin: o.stdin, Tty: o.tty }));
    },
    async openAttach(dockerId) {
      const c = docker.getContainer(dockerId);
      const info = await call(`inspect ${dockerId}`, () => c.inspect());
      const stream = await call(`attach ${dockerId}`, () =>
        c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
      );
      return { stream: stream as unknown as Duplex, tty: info.Config?.Tty ?? false };
    },
    async listImages() {
      const items = await call('list images', () => docker.listImages());
      return items.map(asImage);
    },
    async inspectImage(image) {
      try {
        const i = await docker.getImage(image).inspect();
        return asImage({ Id: i.Id, RepoTags: i.RepoTags, Size: i.Size, Created: i.Created, Labels: i.Config?.Labels ?? null });
      } catch (err) {
        const e = toRuntimeError(err, `inspect image ${image}`);
        if (e.code === RuntimeErrorCode.notFound || e.code === RuntimeErrorCode.imageNotFound) return null;
        throw e;
      }
    },
    async removeImage(image) {
      await call(`remove image ${image}`, () => docker.getImage(image).remove());
    },
  };
  return extras;
}

// ---- stream sessions ---------------------------------------------------------------------------

/**
 * Docker's multiplexed stdout/stderr framing, decoded incrementally (a frame
 * may span chunks). Used for attach to a container without a tty.
 */
export function createDemuxer(onPayload: (b: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      if (payload.length) onPayload(Buffer.from(payload));
      pending = pending.subarray(8 + size);
    }
  };
}

export interface StreamSessions {
  /** Bridges `stream` to the session's subjects until either side ends. */
  bridge(session: string, stream: Duplex, o: { readonly tty: boolean; readonly uuid: string }): void;
  readonly size: number;
  closeAll(): void;
}

const OUT_CHUNK = 64 * 1024;

export function createStreamSessions(o: { nc: NatsConnection; hostname: string; log: Logger; idleMs?: number }): StreamSessions {
  const log = o.log.child({ component: 'rpc-streams' });
  const idleMs = o.idleMs ?? STREAM_IDLE_MS;
  const open = new Map<string, () => void>();

  function bridge(session: string, stream: Duplex, opts: { tty: boolean; uuid: string }): void {
    const subj = streamSubjects(o.hostname, session);
    let closed = false;
    let idle: NodeJS.Timeout | undefined;
    let sub: Subscription | null = null;
    const eofHeaders = () => {
      const h = natsHeaders();
      h.set(STREAM_CONTROL_HEADER, StreamControl.eof);
      return h;
    };
    const close = (why: string) => {
      if (closed) return;
      closed = true;
      clearTimeout(idle);
      open.delete(session);
      sub?.unsubscribe();
      try {
        o.nc.publish(subj.out, new Uint8Array(0), { headers: eofHeaders() });
      } catch {
        // the connection is closing: the gateway's own idle handling covers it
      }
      stream.destroy();
      log.info({ session, uuid: opts.uuid, why }, 'stream closed');
    };
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => close('idle'), idleMs);
      idle.unref?.();
    };
    const publishOut = (b: Buffer) => {
      for (let i = 0; i < b.length; i += OUT_CHUNK) o.nc.publish(subj.out, b.subarray(i, i + OUT_CHUNK));
    };
    const onData = opts.tty ? publishOut : createDemuxer(publishOut);
    stream.on('data', (b: Buffer | string) => {
      if (!closed) onData(typeof b === 'string' ? Buffer.from(b) : b);
    });
    stream.on('end', () => close('process output ended'));
    stream.on('close', () => close('stream closed'));
    stream.on('error', (err: Error) => close(`stream error: ${err.message}`));
    sub = o.nc.subscribe(subj.in, {
      callback: (err, msg) => {
        if (err || closed) return;
        touch();
        const ctl = msg.headers?.get(STREAM_CONTROL_HEADER);
        if (ctl === StreamControl.eof) return close('client closed');
        if (ctl === StreamControl.ping) return;
        if (msg.data.length) stream.write(Buffer.from(msg.data));
      },
    });
    open.set(session, () => close('host actor stopping'));
    touch();
    log.info({ session, uuid: opts.uuid, tty: opts.tty }, 'stream opened');
  }

  return {
    bridge,
    get size() {
      return open.size;
    },
    closeAll() {
      for (const c of [...open.values()]) c();
    },
  };
}

// ---- the handler -------------------------------------------------------------------------------

export interface RpcExtras {
  readonly docker: RuntimeExtras;
  readonly sessions: StreamSessions;
  close(): Promise<void>;
}

export function createRpcExtras(o: { nc: NatsConnection; hostname: string; log: Logger; socketPath?: string; docker?: RuntimeExtras }): RpcExtras {
  const sessions = createStreamSessions({ nc: o.nc, hostname: o.hostname, log: o.log });
  return {
    docker: o.docker ?? createDockerExtras({ socketPath: o.socketPath }),
    sessions,
    async close() {
      sessions.closeAll();
    },
  };
}

class BadRequest extends Error {}
class Failure extends Error {
  constructor(
    readonly code: ExtraRpcErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function fail(code: ExtraRpcErrorCode, message: string): ExtraRpcReply<never> {
  return { ok: false, error: { code, message } };
}

const positiveInt = (v: unknown, name: string): number => {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new BadRequest(`${name} must be a positive integer`);
  return n;
};

/** Answers one extra op. Never throws: every failure is a coded reply. */
export async function handleExtraRpc(
  req: ExtraRpcRequest,
  deps: {
    readonly hostname: string;
    readonly runtime: ContainerRuntime;
    readonly extras: RpcExtras;
  },
): Promise<ExtraRpcReply> {
  const { hostname, runtime, extras } = deps;
  const x = extras.docker;
  const dockerIdOf = async (uuid: unknown): Promise<string> => {
    if (typeof uuid !== 'string' || !uuid) throw new BadRequest('uuid is required');
    const found = await runtime.find(hostname, uuid);
    if (!found) throw new Failure(ExtraRpcErrorCode.notFound, `Container ${uuid} could not be found.`);
    return found.dockerId;
  };
  /** The exec must exist and belong to the container. */
  const execOf = async (execId: unknown, dockerId: string) => {
    if (typeof execId !== 'string' || !/^[a-f0-9]{64}$/.test(execId)) throw new BadRequest('execId must be 64 hex digits');
    const info = await x.execInfo(execId);
    if (!info || info.containerId !== dockerId) throw new Failure(ExtraRpcErrorCode.resourceNotFound, `Exec ${execId} could not be found.`);
    return info;
  };
  try {
    switch (req.op) {
      case 'get_archive': {
        if (typeof req.path !== 'string' || !req.path) throw new BadRequest('path is required');
        const { tar, stat } = await x.getArchive(await dockerIdOf(req.uuid), req.path);
        return { ok: true, result: { data: tar.toString('base64'), stat } };
      }
      case 'put_archive': {
        if (typeof req.path !== 'string' || !req.path) throw new BadRequest('path is required');
        if (typeof req.data !== 'string') throw new BadRequest('data (base64) is required');
        const tar = Buffer.from(req.data, 'base64');
        await x.putArchive(await dockerIdOf(req.uuid), req.path, tar);
        return { ok: true, result: null };
      }
      case 'exec_create': {
        const cmd = typeof req.command === 'string' ? shlexSplit(req.command) : Array.isArray(req.command) ? [...req.command] : [];
        if (cmd.length === 0) throw new BadRequest('command is required');
        const id = await x.execCreate(await dockerIdOf(req.uuid), cmd, req.interactive === true);
        return { ok: true, result: { exec_id: id } };
      }
      case 'exec_resize': {
        const dockerId = await dockerIdOf(req.uuid);
        await execOf(req.execId, dockerId);
        await x.execResize(req.execId, positiveInt(req.h, 'h'), positiveInt(req.w, 'w'));
        return { ok: true, result: null };
      }
      case 'resize': {
        await x.resize(await dockerIdOf(req.uuid), positiveInt(req.h, 'h'), positiveInt(req.w, 'w'));
        return { ok: true, result: null };
      }
      case 'stream_open': {
        if (typeof req.session !== 'string' || !/^[A-Za-z0-9_-]{8,128}$/.test(req.session)) throw new BadRequest('session must be 8-128 token characters');
        const dockerId = await dockerIdOf(req.uuid);
        if (req.execId) {
          const info = await execOf(req.execId, dockerId);
          const stream = await x.openExec(req.execId, { tty: info.tty, stdin: info.stdin });
          extras.sessions.bridge(req.session, stream, { tty: info.tty, uuid: req.uuid });
          return { ok: true, result: { tty: info.tty } };
        }
        const { stream, tty } = await x.openAttach(dockerId);
        extras.sessions.bridge(req.session, stream, { tty, uuid: req.uuid });
        return { ok: true, result: { tty } };
      }
      case 'images':
        return { ok: true, result: await x.listImages() };
      case 'image_pull': {
        if (typeof req.image !== 'string' || !req.image) throw new BadRequest('image is required');
        const policy = req.policy ?? 'always';
        const { repo, tag } = splitImage(req.image);
        const ref = `${repo}:${tag}`;
        const present = await x.inspectImage(ref);
        if (policy === 'never' || (policy === 'ifnotpresent' && present)) {
          if (!present) throw new Failure(ExtraRpcErrorCode.imageNotFound, `Image ${ref} is not present on host ${hostname} and image_pull_policy is never.`);
          return { ok: true, result: { image: present, pulled: false } };
        }
        try {
          await runtime.pull(ref);
        } catch (err) {
          // No registry here: a present image is used as it is, as the host actor does on create.
          if (present) return { ok: true, result: { image: present, pulled: false } };
          const why = err instanceof RuntimeError && err.code === RuntimeErrorCode.pullDisabled ? 'there is no registry to pull it from' : (err as Error).message;
          throw new Failure(ExtraRpcErrorCode.imageNotFound, `Image ${ref} is not present on host ${hostname} and cannot be pulled: ${why}.`);
        }
        const after = await x.inspectImage(ref);
        if (!after) throw new Failure(ExtraRpcErrorCode.imageNotFound, `Image ${ref} is not present on host ${hostname} after the pull.`);
        return { ok: true, result: { image: after, pulled: true } };
      }
      case 'image_remove': {
        if (typeof req.image !== 'string' || !req.image) throw new BadRequest('image is required');
        await x.removeImage(req.image);
        return { ok: true, result: null };
      }
      default:
        throw new BadRequest(`unknown op ${(req as { op?: unknown }).op as string}`);
    }
  } catch (err) {
    if (err instanceof BadRequest) return fail(ExtraRpcErrorCode.badRequest, err.message);
    if (err instanceof Failure) return fail(err.code, err.message);
    if (err instanceof ArchiveTooLarge) return fail(ExtraRpcErrorCode.tooLarge, err.message);
    if (err instanceof RuntimeError) {
      switch (err.code) {
        case RuntimeErrorCode.notFound:
          return fail(ExtraRpcErrorCode.resourceNotFound, err.message);
        case RuntimeErrorCode.imageNotFound:
          return fail(ExtraRpcErrorCode.imageNotFound, err.message);
        case RuntimeErrorCode.notOurs:
          return fail(ExtraRpcErrorCode.notFound, err.message);
        case RuntimeErrorCode.conflict:
          return fail(ExtraRpcErrorCode.conflict, err.message);
        case RuntimeErrorCode.unavailable:
          return fail(ExtraRpcErrorCode.unavailable, err.message);
        default:
          // Docker's 400 on a bad path and the like are the caller's mistake.
          if (err.statusCode === 400) return fail(ExtraRpcErrorCode.badRequest, err.message);
          return fail(ExtraRpcErrorCode.docker, err.message);
      }
    }
    return fail(ExtraRpcErrorCode.docker, (err as Error)?.message ?? String(err));
  }
}
