/**
 * The exec and attach consoles: Zun's websocket proxy, served by the gateway.
 *
 *   ws://<gateway>/v1/containers/<uuid>/exec-ws?token=..&uuid=..&exec_id=..
 *   ws://<gateway>/v1/containers/<uuid>/attach-ws?token=..&uuid=..
 *
 * `execute?run=false` and `attach` hand these URLs out. The token is an HMAC
 * (gateway secret) over the container, the exec id (or "attach") and an
 * expiry: any gateway with the same secret accepts it, nothing is stored.
 *
 * On a valid upgrade the container is looked up in the log (it must still
 * be Running on a host); the gateway subscribes to the session's `.out`
 * subject, asks the host actor to `stream_open` (rpc-extras.ts), and then
 * bridges: WebSocket messages -> `.in`, `.out` -> binary WebSocket messages.
 * Either side's end closes the other (`Zun-Stream: eof`); the gateway pings
 * the host every STREAM_PING_MS so a host notices a gateway that died.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { headers as natsHeaders, type Subscription } from '@nats-io/transport-node';
import { loadContainer } from '../../platform/commands.js';
import type { Logger } from '../../platform/log.js';
import { STREAM_CONTROL_HEADER, STREAM_PING_MS, StreamControl, streamSubjects } from '../../host-actor/rpc-extras.js';
import { ACTION_STATES } from '../../../state-machines/container.js';
import type { HostRpcClient } from '../host-rpc.js';
import { CloseCode, acceptWebSocket, refuseUpgrade, type WebSocket } from '../websocket.js';

/** Subprotocols the zunclient offers (`binary`, `base64`); binary frames are what we send. */
const PROTOCOLS = ['binary'];
const TOKEN_TTL_MS = 10 * 60_000;

export interface StreamTokens {
  /** `<expiry ms>.<hex hmac>` for (uuid, target) where target is an exec id or "attach". */
  sign(uuid: string, target: string): string;
  verify(token: string, uuid: string, target: string): boolean;
}

export function createStreamTokens(o: { secret?: string; now: () => Date; ttlMs?: number }): StreamTokens {
  const secret = o.secret && o.secret.length > 0 ? Buffer.from(o.secret) : randomBytes(32);
  const ttl = o.ttlMs ?? TOKEN_TTL_MS;
  const mac = (uuid: string, target: string, exp: number) => createHmac('sha256', secret).update(`${uuid}\n${target}\n${exp}`).digest('hex');
  return {
    sign(uuid, target) {
      const exp = o.now().getTime() + ttl;
      return `${exp}.${mac(uuid, target, exp)}`;
    },
    verify(token, uuid, target) {
      const m = /^(\d{1,16})\.([0-9a-f]{64})$/.exec(token);
      if (!m) return false;
      const exp = Number(m[1]);
      if (exp < o.now().getTime()) return false;
      const want = Buffer.from(mac(uuid, target, exp), 'hex');
      const got = Buffer.from(m[2]!, 'hex');
      return want.length === got.length && timingSafeEqual(want, got);
    },
  };
}

/** ws:// or wss:// for an http(s) base URL. */
export const wsBase = (baseUrl: string) => baseUrl.replace(/^http/, 'ws');

export function execProxyUrl(baseUrl: string, tokens: StreamTokens, uuid: string, execId: string): string {
  return `${wsBase(baseUrl)}/v1/containers/${uuid}/exec-ws?token=${tokens.sign(uuid, execId)}&uuid=${uuid}&exec_id=${execId}`;
}

export function attachUrl(baseUrl: string, tokens: StreamTokens, uuid: string): string {
  return `${wsBase(baseUrl)}/v1/containers/${uuid}/attach-ws?token=${tokens.sign(uuid, 'attach')}&uuid=${uuid}`;
}

const PATH = /^(?:\/v1)?\/containers\/([0-9a-fA-F-]{36})\/(exec|attach)-ws\/?$/;

export interface StreamRoutesOptions {
  readonly rpc: HostRpcClient;
  readonly tokens: StreamTokens;
  readonly store: Parameters<typeof loadContainer>[0];
  readonly newId: () => string;
  readonly log: Logger;
}

/**
 * Registers the upgrade handler on the app's HTTP server. Not a fastify
 * route: upgrades never reach the router. Closed with the app.
 */
export async function streamRoutes(app: FastifyInstance, o: StreamRoutesOptions): Promise<void> {
  const log = o.log.child({ component: 'streams' });
  const live = new Set<() => void>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const m = PATH.exec(url.pathname);
    if (!m) {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    void serve(req, socket, head, m[1]!.toLowerCase(), m[2] as 'exec' | 'attach', url.searchParams).catch((err: unknown) => {
      log.error({ err }, 'stream failed');
      if (!socket.destroyed) socket.destroy();
    });
  };

  async function serve(req: IncomingMessage, socket: Duplex, head: Buffer, uuid: string, kind: 'exec' | 'attach', q: URLSearchParams) {
    const token = q.get('token') ?? '';
    const execId = kind === 'exec' ? (q.get('exec_id') ?? '') : null;
    if (kind === 'exec' && !/^[a-f0-9]{64}$/.test(execId ?? '')) return refuseUpgrade(socket, 400, 'Bad Request', 'exec_id is required');
    if (!o.tokens.verify(token, uuid, execId ?? 'attach')) return refuseUpgrade(socket, 401, 'Unauthorized', 'invalid or expired token');
    const s = await loadContainer(o.store, uuid);
    const running: readonly string[] = ACTION_STATES.running;
    if (!s.host || s.status === null || !running.includes(s.status)) {
      return refuseUpgrade(socket, 409, 'Conflict', `Cannot ${kind === 'exec' ? 'execute' : 'attach'} container ${uuid} in ${s.status ?? 'New'} state`);
    }
    const nc = o.rpc.nc;
    if (!nc) return refuseUpgrade(socket, 503, 'Service Unavailable', 'no connection to the host actors');
    const host = s.host;
    const session = o.newId().replace(/-/g, '');
    const subj = streamSubjects(host, session);
    const slog = log.child({ uuid, host, session, kind });

    // Subscribe before the host starts writing: nothing it sends is lost.
    const queued: Uint8Array[] = [];
    let ws: WebSocket | null = null;
    let ended = false;
    let sub: Subscription | null = null;
    let pinger: NodeJS.Timeout | undefined;
    const control = (v: string) => {
      const h = natsHeaders();
      h.set(STREAM_CONTROL_HEADER, v);
      return h;
    };
    const end = (why: string, fromHost: boolean) => {
      if (ended) return;
      ended = true;
      clearInterval(pinger);
      live.delete(stop);
      sub?.unsubscribe();
      if (!fromHost) {
        try {
          nc.publish(subj.in, new Uint8Array(0), { headers: control(StreamControl.eof) });
        } catch {
          // closing: the host's idle timer ends the session
        }
      }
      if (ws?.isOpen) ws.close(CloseCode.normal, why.slice(0, 100));
      else if (!ws && !socket.destroyed) refuseUpgrade(socket, 409, 'Conflict', why);
      slog.info({ why }, 'console closed');
    };
    const stop = () => end('gateway stopping', false);
    live.add(stop);
    sub = nc.subscribe(subj.out, {
      callback: (err, msg) => {
        if (err) return end(`stream error: ${err.message}`, false);
        if (msg.headers?.get(STREAM_CONTROL_HEADER) === StreamControl.eof) return end('process ended', true);
        if (ws) ws.send(msg.data);
        else queued.push(msg.data);
      },
    });
    await nc.flush();
    try {
      await o.rpc.call(host, { op: 'stream_open', uuid, session, ...(execId ? { execId } : {}) });
    } catch (err) {
      const msg = (err as Error)?.message ?? String(err);
      slog.warn({ err: msg }, 'host refused the console');
      ended = true;
      clearInterval(pinger);
      live.delete(stop);
      sub.unsubscribe();
      return refuseUpgrade(socket, 409, 'Conflict', msg);
    }
    if (ended) return;
    ws = acceptWebSocket(req, socket, head, { protocols: PROTOCOLS });
    if (!ws) return end('handshake refused', false);
    for (const b of queued.splice(0)) ws.send(b);
    ws.on('message', (data) => {
      if (!ended) nc.publish(subj.in, data);
    });
    ws.on('close', () => end('client closed', false));
    pinger = setInterval(() => {
      try {
        nc.publish(subj.in, new Uint8Array(0), { headers: control(StreamControl.ping) });
      } catch {
        // reconnecting
      }
    }, STREAM_PING_MS);
    pinger.unref?.();
    slog.info({ protocol: ws.protocol }, 'console open');
  }

  app.server.on('upgrade', onUpgrade);
  app.addHook('onClose', async () => {
    app.server.off('upgrade', onUpgrade);
    for (const stop of [...live]) stop();
  });
}
