/**
 * The gateway's port to the host actors: NATS request-reply on
 * `zun.host.<token(host)>.rpc` (services/host-actor/rpc.ts and rpc-extras.ts),
 * and the raw connection for exec/attach streams.
 *
 * Contract: a call never hangs. It answers within `timeoutMs` (config
 * HOST_RPC_TIMEOUT_MS, default 10 s) or fails with HostUnavailable (409,
 * naming the host): no host actor subscribed (NATS "no responders", the host
 * is down), or none answered in time. A host's coded refusal becomes Zun's
 * error for it (hostError), mapped here once.
 */
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { hostRpcSubject } from '../host-actor/rpc.js';
import { Conflict, InvalidValue, ZunError } from './errors.js';

export const DEFAULT_HOST_RPC_TIMEOUT_MS = 10_000;

/** The host's actor is not answering: down, restarting, or its NATS link is gone. */
export class HostUnavailable extends ZunError {
  constructor(
    readonly host: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(409, 'host-not-available', `Host ${host} is not available: ${detail}`, options);
    this.name = 'HostUnavailable';
  }
}

/** A host answered with a coded refusal. */
export interface HostRpcFailure {
  readonly code: string;
  readonly message: string;
}

export class HostRpcError extends Error {
  constructor(
    readonly host: string,
    readonly failure: HostRpcFailure,
  ) {
    super(`${host}: ${failure.code}: ${failure.message}`);
    this.name = 'HostRpcError';
  }
}

export interface HostRpcClient {
  /** One request to the host's actor; resolves with `result`, rejects with HostUnavailable or HostRpcError. */
  call<T>(host: string, request: Readonly<Record<string, unknown>>, opts?: { timeoutMs?: number }): Promise<T>;
  /** The connection streams are bridged over (null in tests without NATS). */
  readonly nc: NatsConnection | null;
  readonly timeoutMs: number;
}

const decoder = new TextDecoder();

export function createNatsHostRpc(o: { nc: NatsConnection; timeoutMs?: number }): HostRpcClient {
  const timeoutMs = o.timeoutMs ?? DEFAULT_HOST_RPC_TIMEOUT_MS;
  return {
    nc: o.nc,
    timeoutMs,
    async call<T>(host: string, request: Readonly<Record<string, unknown>>, opts: { timeoutMs?: number } = {}): Promise<T> {
      const t = opts.timeoutMs ?? timeoutMs;
      let text: string;
      try {
        const msg = await o.nc.request(hostRpcSubject(host), JSON.stringify(request), { timeout: t });
        text = decoder.decode(msg.data);
      } catch (err) {
        throw unavailable(host, t, err);
      }
      let reply: { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
      try {
        reply = JSON.parse(text) as typeof reply;
      } catch (err) {
        throw new HostUnavailable(host, 'its answer is not JSON', { cause: err });
      }
      if (reply.ok === true) return reply.result as T;
      throw new HostRpcError(host, {
        code: typeof reply.error?.code === 'string' ? reply.error.code : 'UNKNOWN',
        message: typeof reply.error?.message === 'string' ? reply.error.message : 'the host refused the request',
      });
    },
  };
}

function unavailable(host: string, timeoutMs: number, err: unknown): HostUnavailable {
  const noResponders =
    err instanceof NoRespondersError ||
    (err instanceof RequestError && err.isNoResponders()) ||
    (err as { cause?: unknown })?.cause instanceof NoRespondersError;
  if (noResponders) return new HostUnavailable(host, 'no host actor is answering for it (the host is down).', { cause: err });
  const timedOut = err instanceof TimeoutError || (err as { cause?: unknown })?.cause instanceof TimeoutError;
  if (timedOut) return new HostUnavailable(host, `its host actor did not answer within ${timeoutMs / 1000} s.`, { cause: err });
  return new HostUnavailable(host, (err as Error)?.message ?? String(err), { cause: err });
}

/** A port for tests and for gateways without NATS: every call fails clearly. */
export function unavailableHostRpc(reason = 'the gateway has no connection to the host actors.'): HostRpcClient {
  return {
    nc: null,
    timeoutMs: 0,
    async call(host) {
      throw new HostUnavailable(host, reason);
    },
  };
}

/**
 * A host's coded refusal as Zun's error. `subject` names what was asked for
 * (a container uuid, an image) in not-found messages.
 */
export function hostError(err: unknown, subject: string): unknown {
  if (!(err instanceof HostRpcError)) return err;
  const { code, message } = err.failure;
  switch (code) {
    case 'BAD_REQUEST':
      return new InvalidValue(message);
    case 'CONTAINER_NOT_FOUND':
      // The log places it on this host but Docker there has no such container (yet, or any more).
      return new Conflict(`Container ${subject} does not exist in Docker on host ${err.host} (${message})`);
    case 'NOT_FOUND':
      return new ZunError(404, 'not-found', message);
    case 'CONFLICT':
    case 'EXEC_TIMEOUT':
      return new Conflict(message);
    case 'IMAGE_NOT_FOUND':
      return new ZunError(400, 'image-not-found', message);
    case 'TOO_LARGE':
      return new ZunError(413, 'request-entity-too-large', message);
    case 'DOCKER_UNAVAILABLE':
      return new HostUnavailable(err.host, `Docker there is not answering: ${message}`);
    default:
      // Zun's DockerError is a 500: the detail goes to the log, not to the caller.
      return new ZunError(500, 'docker-error', `Docker internal error: ${message}.`, { cause: err });
  }
}
