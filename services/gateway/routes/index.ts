/**
 * The route plugins that reach the hosts (container operations and actions,
 * hosts, services, availability zones, images, and the exec/attach
 * consoles), registered by buildApp with one call. Each plugin gets the
 * RouteKit (buildApp's request helpers) and the ports it needs.
 *
 * Without `compute` (unit tests of the container API) the host ports answer
 * clearly instead: every host call is a 409 "Host ... is not available" and
 * there are no hosts.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../platform/log.js';
import { createMemoryHostDirectory, type HostDirectory } from '../host-directory.js';
import { unavailableHostRpc, type HostRpcClient } from '../host-rpc.js';
import { containerActionRoutes } from './container-actions.js';
import { containerOpsRoutes } from './container-ops.js';
import { hostRoutes } from './hosts.js';
import { imageRoutes } from './images.js';
import type { RouteKit } from './kit.js';
import { createStreamTokens, streamRoutes, type StreamTokens } from './streams.js';

export interface ComputeDeps {
  /** Request-reply to the host actors. */
  readonly rpc: HostRpcClient;
  /** The etcd host registry and operator settings. */
  readonly directory: HostDirectory;
  /** Console tokens; by default signed with `wsSecret`, or a random per-process secret. */
  readonly tokens?: StreamTokens;
  readonly wsSecret?: string;
}

export function mountComputeRoutes(app: FastifyInstance, kit: RouteKit, deps: ComputeDeps | undefined, log: Logger): void {
  const rpc = deps?.rpc ?? unavailableHostRpc();
  const directory = deps?.directory ?? createMemoryHostDirectory(kit.now);
  const tokens = deps?.tokens ?? createStreamTokens({ now: kit.now, ...(deps?.wsSecret ? { secret: deps.wsSecret } : {}) });
  void app.register(containerActionRoutes, { kit });
  void app.register(containerOpsRoutes, { kit, rpc, tokens });
  void app.register(hostRoutes, { kit, directory });
  void app.register(imageRoutes, { kit, directory, rpc, log });
  void app.register(streamRoutes, { rpc, tokens, store: kit.store, newId: kit.newId, log });
}

export type { RouteKit, StreamTokens, HostDirectory, HostRpcClient };
