/**
 * Deterministic ids for resources that must be found again without an index:
 * a project's default network and a project's named volume. Two gateways
 * (or one retried request) derive the same id, so the aggregate's own fence
 * (expected sequence 0 for a new one) decides which create wins.
 */
import { createHash } from 'node:crypto';

/** Namespace of this service's name-based uuids (a fixed random uuid). */
export const ZUN_NAMESPACE = '6f0e8b1c-3b7a-4c35-9a61-2f4d8f3e9b10';

/** RFC 4122 version 5 (SHA-1, name-based) uuid. */
export function uuidV5(name: string, namespace: string = ZUN_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The project's default network (Zun picks the project's oldest network; here one named `default`). */
export const defaultNetworkId = (projectId: string) => uuidV5(`network:default:${projectId}`);
/** A network registered with POST /v1/networks: one per Neutron network id (Zun's unique neutron_net_id). */
export const neutronNetworkId = (neutronNetId: string) => uuidV5(`network:neutron:${neutronNetId}`);
/** A named volume of a project. */
export const namedVolumeId = (projectId: string, name: string) => uuidV5(`volume:${projectId}:${name}`);
