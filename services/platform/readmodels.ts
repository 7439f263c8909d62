/**
 * Names of the read models the projector maintains (NATS KV buckets). Values
 * are folded aggregate states as JSON, carrying the `seq` of the last event
 * folded, so a consumer can tell a stale value from a fresh one.
 *
 * - `zun_desired`: key `<token(host)>.<kind>.<token(id)>` — a host actor
 *   watches `<token(host)>.>` and sees only its own slice. Deleted when the
 *   aggregate is deleted.
 * - `zun_containers`, `zun_capsules`: key `<token(id)>` — what the gateway
 *   lists and shows. Deleted when the aggregate is deleted (Zun drops the row).
 */
import { encodeToken } from '../../events/index.js';

export const DESIRED_BUCKET = 'zun_desired';
export const CONTAINERS_BUCKET = 'zun_containers';
export const CAPSULES_BUCKET = 'zun_capsules';

export const desiredKey = (host: string, kind: 'container' | 'capsule', id: string) =>
  `${encodeToken(host)}.${kind}.${encodeToken(id)}`;
export const desiredHostFilter = (host: string) => `${encodeToken(host)}.>`;
export const readModelKey = (id: string) => encodeToken(id);
