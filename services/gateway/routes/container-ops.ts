/**
 * The container calls that need the container's host (zun-api.md a.1):
 * logs, execute, execute_resize, attach, resize, top, stats, get_archive,
 * put_archive, commit (to an image on the container's host: there is no
 * Glance here), plus rebuild and resize_container, which go through the
 * command path like the other actions.
 *
 * Order, as in Zun's controllers: query schema, lookup (uuid or name, scoped
 * by project), policy, the state check (asked of the machine's ACTION_STATES
 * through kit.requireState), then the host actor by NATS request-reply with
 * a timeout. A host that does not answer is a 409 naming the host
 * (HostUnavailable); nothing here hangs.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ContainerState } from '../../../domain/container.js';
import { decideContainer } from '../../../domain/container-decider.js';
import { ApiNotSupportedInVersion, Conflict, InvalidStateException, InvalidValue, SchemaValidationError, ValidationError, ZunError, fromRejection } from '../errors.js';
import { hostError, type HostRpcClient } from '../host-rpc.js';
import { atLeast, formatVersion } from '../microversion.js';
import { enforce } from '../policy.js';
import { validateUpdate } from '../validate.js';
import {
  BOOL_STRINGS,
  Schemas,
  identOf,
  queryOf,
  requireState,
  sendJsonString,
  sendNull,
  strictBool,
  validateParams,
  type RouteKit,
} from './kit.js';
import { attachUrl, execProxyUrl, type StreamTokens } from './streams.js';
import { REPOSITORY_RE, TAG_RE } from '../../../domain/images.js';
import { uuidV5 } from '../../resources/ids.js';

export class NoInteractiveFlag extends ZunError {
  constructor() {
    super(400, 'no-interactive-flag', "Container doesn't support to be attached, please check the interactive set properly");
    this.name = 'NoInteractiveFlag';
  }
}

export interface ContainerOpsOptions {
  readonly kit: RouteKit;
  readonly rpc: HostRpcClient;
  readonly tokens: StreamTokens;
}

/** The base64 archives of 1.25+ travel in one NATS message: refuse what cannot fit. */
const MAX_ARCHIVE_BASE64 = Math.ceil((640 * 1024 * 4) / 3) + 4;

export async function containerOpsRoutes(app: FastifyInstance, o: ContainerOpsOptions): Promise<void> {
  const { kit, rpc, tokens } = o;

  const hostOf = (s: ContainerState): string => {
    if (!s.host) throw new Conflict(`Container ${s.uuid} has not been placed on a host yet.`);
    return s.host;
  };

  /** One call to the container's host; its refusals become Zun's errors. */
  async function onHost<T>(s: ContainerState, request: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    try {
      return await rpc.call<T>(hostOf(s), { ...request, uuid: s.uuid }, timeoutMs === undefined ? {} : { timeoutMs });
    } catch (err) {
      throw hostError(err, s.uuid);
    }
  }

  /** Lookup, then policy on the container's project. */
  async function target(req: FastifyRequest, rule: string): Promise<ContainerState> {
    const s = await kit.resolve(req, identOf(req));
    enforce(kit.ctxOf(req), rule, { projectId: s.projectId });
    return s;
  }

  const required = (params: Record<string, unknown>, key: string): string => {
    const v = params[key];
    if (v === undefined || v === null) throw new SchemaValidationError(`'${key}' is a required property`);
    return String(v);
  };

  // ---- logs: a JSON string -----------------------------------------------------------------
  app.get('/v1/containers/:ident/logs', async (req, reply) => {
    const q = validateParams('query', queryOf(req), {
      stdout: Schemas.booleanExtended,
      stderr: Schemas.booleanExtended,
      timestamps: Schemas.booleanExtended,
      tail: Schemas.strAndInt,
      since: Schemas.logsSince,
    });
    const s = await target(req, 'container:logs');
    requireState(s, 'logs');
    const invalid = () => new InvalidValue(`Valid stdout, stderr and timestamps values are: ${BOOL_STRINGS}`);
    const stdout = strictBool(q['stdout'], true, invalid);
    const stderr = strictBool(q['stderr'], true, invalid);
    const timestamps = strictBool(q['timestamps'], false, invalid);
    // An Error container that never reached a host has no Docker container: no logs.
    if (!s.host) return sendJsonString(reply, '');
    const since = q['since'] === undefined || q['since'] === null || q['since'] === '' || q['since'] === 'None' ? null : q['since'];
    const tail = q['tail'] === undefined || q['tail'] === null || q['tail'] === 'None' ? 'all' : q['tail'];
    const text = await onHost<string>(s, { op: 'logs', stdout, stderr, timestamps, tail, since });
    return sendJsonString(reply, text);
  });

  // ---- execute ---------------------------------------------------------------------------------
  app.post('/v1/containers/:ident/execute', async (req) => {
    const p = validateParams('query', kit.merged(req), {
      run: Schemas.boolean,
      interactive: Schemas.boolean,
      command: Schemas.execCommand,
    });
    const command = required(p, 'command');
    const s = await target(req, 'container:execute');
    requireState(s, 'execute');
    const invalid = () => new InvalidValue(`Valid run or interactive values are: ${BOOL_STRINGS}`);
    const run = strictBool(p['run'], true, invalid);
    const interactive = strictBool(p['interactive'], false, invalid);
    if (run) {
      // The host's own exec timeout is 5 s (Zun's execute_timeout); leave room for it.
      const r = await onHost<{ output: string | null; exit_code: number | null; exec_id: string | null }>(s, {
        op: 'exec',
        command,
        run: true,
        interactive,
      });
      return { output: r.output, exit_code: r.exit_code, exec_id: r.exec_id ?? null, proxy_url: null };
    }
    const { exec_id } = await onHost<{ exec_id: string }>(s, { op: 'exec_create', command, interactive });
    return { output: null, exit_code: null, exec_id, proxy_url: execProxyUrl(kit.baseUrlOf(req), tokens, s.uuid, exec_id) };
  });

  app.post('/v1/containers/:ident/execute_resize', async (req, reply) => {
    const p = validateParams('query', kit.merged(req), { exec_id: Schemas.execId, h: Schemas.positiveInteger, w: Schemas.positiveInteger });
    const execId = required(p, 'exec_id');
    const s = await target(req, 'container:execute_resize');
    requireState(s, 'execute_resize');
    await onHost(s, { op: 'exec_resize', execId, h: p['h'] ?? null, w: p['w'] ?? null });
    return sendNull(reply, 200);
  });

  // ---- attach / resize ------------------------------------------------------------------------
  app.get('/v1/containers/:ident/attach', async (req, reply) => {
    const s = await target(req, 'container:attach');
    requireState(s, 'attach');
    if (!s.spec?.interactive) throw new NoInteractiveFlag();
    hostOf(s);
    return sendJsonString(reply, attachUrl(kit.baseUrlOf(req), tokens, s.uuid));
  });

  app.post('/v1/containers/:ident/resize', async (req, reply) => {
    const p = validateParams('query', kit.merged(req), { h: Schemas.positiveInteger, w: Schemas.positiveInteger });
    const s = await target(req, 'container:resize');
    requireState(s, 'resize');
    await onHost(s, { op: 'resize', h: p['h'] ?? null, w: p['w'] ?? null });
    return sendNull(reply, 200);
  });

  // ---- top / stats --------------------------------------------------------------------------
  app.get('/v1/containers/:ident/top', async (req) => {
    const q = validateParams('query', queryOf(req), { ps_args: Schemas.psArgs });
    const s = await target(req, 'container:top');
    requireState(s, 'top');
    const psArgs = q['ps_args'] === undefined || q['ps_args'] === 'None' || q['ps_args'] === '' ? null : String(q['ps_args']);
    return onHost(s, { op: 'top', psArgs });
  });

  app.get('/v1/containers/:ident/stats', async (req) => {
    const s = await target(req, 'container:stats');
    requireState(s, 'stats');
    return onHost(s, { op: 'stats', name: s.spec?.name ?? s.uuid });
  });

  // ---- archives: base64 from 1.25, the raw bytes (as latin-1 text) below ----------------------------
  app.get('/v1/containers/:ident/get_archive', async (req) => {
    const q = queryOf(req);
    const path = required(q, 'path');
    const s = await target(req, 'container:get_archive');
    requireState(s, 'get_archive');
    const r = await onHost<{ data: string; stat: Record<string, unknown> }>(s, { op: 'get_archive', path });
    const data = atLeast(kit.versionOf(req), 25) ? r.data : Buffer.from(r.data, 'base64').toString('latin1');
    return { data, stat: r.stat };
  });

  app.post('/v1/containers/:ident/put_archive', async (req, reply) => {
    const p = kit.merged(req);
    const path = required(p, 'path');
    const raw = required(p, 'data');
    const s = await target(req, 'container:put_archive');
    requireState(s, 'put_archive');
    let data: string;
    if (atLeast(kit.versionOf(req), 25)) {
      if (!/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(raw)) throw new InvalidValue('data must be base64 encoded');
      data = raw.replace(/\s+/g, '');
    } else {
      data = Buffer.from(raw, 'latin1').toString('base64');
    }
    if (data.length > MAX_ARCHIVE_BASE64) {
      throw new ZunError(413, 'request-entity-too-large', `The archive is too large: at most ${640} KiB of tar data can be sent to a host.`);
    }
    await onHost(s, { op: 'put_archive', path, data });
    return sendNull(reply, 200);
  });

  // ---- commit: an image on the container's host (no Glance here) ----------------------------------
  // Recorded in the log and carried out by the host actor, as Zun's compute
  // does it after answering: the 202 names the image's uuid before it exists
  // (Zun's Glance image), and the action list shows when it was made.
  app.post('/v1/containers/:ident/commit', async (req, reply) => {
    const p = kit.merged(req);
    const repository = required(p, 'repository');
    const tag = p['tag'] === undefined || p['tag'] === null || p['tag'] === '' ? 'latest' : String(p['tag']);
    if (!REPOSITORY_RE.test(repository)) throw new InvalidValue(`Invalid repository ${repository}: a Docker repository name (lowercase) is expected.`);
    if (!TAG_RE.test(tag)) throw new InvalidValue(`Invalid tag ${tag}: a Docker tag is expected.`);
    const s = await target(req, 'container:commit');
    // Derived from the request, so a retried request answers with the uuid it recorded.
    const imageUuid = uuidV5(`image:commit:${s.uuid}:${req.id}`);
    await kit.execute(req, s.uuid, { type: 'CommitContainer', repository, tag, imageUuid });
    return reply.code(202).send({ uuid: imageUuid });
  });

  // ---- rebuild and resize_container: the command path ---------------------------------------------
  app.post('/v1/containers/:ident/rebuild', async (req, reply) => {
    const p = kit.merged(req);
    const s = await target(req, 'container:rebuild');
    const image = typeof p['image'] === 'string' && p['image'] !== '' ? p['image'] : null;
    const driverRaw = p['image_driver'];
    let imageDriver: 'docker' | 'glance' | null = null;
    if (driverRaw !== undefined && driverRaw !== null && driverRaw !== '') {
      if (driverRaw !== 'docker' && driverRaw !== 'glance') {
        throw new ValidationError('Invalid input for image_driver, it should be within the image drivers list');
      }
      imageDriver = driverRaw;
    }
    await kit.execute(req, s.uuid, { type: 'RebuildContainer', image, imageDriver });
    return sendNull(reply, 202);
  });

  app.post('/v1/containers/:ident/resize_container', async (req, reply) => {
    const v = kit.versionOf(req);
    if (!atLeast(v, 19)) throw new ApiNotSupportedInVersion(formatVersion(v));
    const r = validateUpdate(kit.merged(req));
    if (!r.ok) throw r.error;
    const s = await target(req, 'container:resize_container');
    const patch = { ...(r.value.cpu !== undefined ? { cpu: r.value.cpu } : {}), ...(r.value.memory !== undefined ? { memory: r.value.memory } : {}) };
    // The machine's `update` states are Zun's resize_container states; the message names this call.
    const named = (err: unknown) =>
      err instanceof InvalidStateException ? new InvalidStateException(`Cannot resize_container container ${s.uuid} in ${s.status} state`) : err;
    if (Object.keys(patch).length === 0) {
      const d = decideContainer({ type: 'UpdateContainer', patch }, s);
      if ('rejected' in d) throw named(fromRejection(d.rejected, s.uuid));
      return reply.code(202).send(kit.view(req, s));
    }
    try {
      const state = await kit.execute(req, s.uuid, { type: 'UpdateContainer', patch });
      return reply.code(202).send(kit.view(req, state));
    } catch (err) {
      throw named(err);
    }
  });
}
