/**
 * The part of Cinder's block storage API v3 Zun uses (zun/volume/cinder_api.py
 * through python-cinderclient), with the request shapes cinderclient sends:
 *
 *   POST   /volumes                 {"volume":{"size":N,...}}       create   -> 202 {"volume"}
 *   GET    /volumes/<id>                                            get      -> 200 {"volume"}
 *   GET    /volumes/detail?name=<n>                                 list     -> 200 {"volumes"}
 *   DELETE /volumes/<id>                                            delete   -> 202
 *   POST   /volumes/<id>/action     {"os-reserve":null}             reserve  -> 202
 *                                   {"os-unreserve":null}
 *                                   {"os-initialize_connection":{"connector":{...}}} -> 200 {"connection_info"}
 *                                   {"os-attach":{"mountpoint","mode":"rw","instance_uuid","host_name"}}
 *                                   {"os-begin_detaching":null} / {"os-roll_detaching":null}
 *                                   {"os-terminate_connection":{"connector":{...}}}
 *                                   {"os-detach":{"attachment_id"}}
 *
 * The endpoint is the project-scoped one from the catalog,
 * e.g. http://controller:8776/v3/<project_id>. Tested against recorded
 * responses only (test/fixtures/cinder/); see README.md.
 */
import type { Logger } from '../platform/log.js';
import { createJsonCaller, type OpenStackAuth } from './openstack-http.js';

export interface CinderAttachment {
  readonly id?: string;
  readonly attachment_id: string;
  readonly server_id: string | null;
  readonly host_name: string | null;
  readonly device?: string | null;
  readonly volume_id?: string;
  readonly attached_at?: string;
}

export interface CinderVolume {
  readonly id: string;
  readonly name: string | null;
  readonly size: number;
  readonly status: string;
  readonly attachments: readonly CinderAttachment[];
  readonly multiattach: boolean;
  readonly 'os-vol-tenant-attr:tenant_id'?: string;
}

/** os-brick connector properties, as sent in initialize/terminate_connection. */
export type ConnectorProperties = Readonly<Record<string, unknown>>;

/** Cinder's connection info: the driver volume type picks the os-brick connector. */
export interface ConnectionInfo {
  readonly driver_volume_type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface CinderClient {
  createVolume(opts: { size: number; name: string | null }): Promise<CinderVolume>;
  getVolume(id: string): Promise<CinderVolume>;
  listVolumes(query: { name?: string }): Promise<CinderVolume[]>;
  deleteVolume(id: string): Promise<void>;
  reserve(id: string): Promise<void>;
  unreserve(id: string): Promise<void>;
  initializeConnection(id: string, connector: ConnectorProperties): Promise<ConnectionInfo>;
  terminateConnection(id: string, connector: ConnectorProperties): Promise<void>;
  attach(id: string, opts: { instanceUuid: string | null; mountpoint: string; hostName: string | null }): Promise<void>;
  beginDetaching(id: string): Promise<void>;
  rollDetaching(id: string): Promise<void>;
  detach(id: string, attachmentId: string | null): Promise<void>;
}

export function createCinderClient({
  endpoint,
  auth,
  log,
  fetchImpl,
  apiVersion = '3.0',
}: {
  /** The project-scoped volumev3 endpoint, e.g. http://controller:8776/v3/<project_id>. */
  endpoint: string;
  auth: OpenStackAuth;
  log: Logger;
  fetchImpl?: typeof fetch;
  apiVersion?: string;
}): CinderClient {
  const http = createJsonCaller({
    service: 'cinder',
    endpoint,
    auth,
    log,
    headers: { 'OpenStack-API-Version': `volume ${apiVersion}` },
    ...(fetchImpl ? { fetchImpl } : {}),
  });
  const v = (id: string) => `/volumes/${encodeURIComponent(id)}`;
  const action = async (id: string, body: Record<string, unknown>) => http.call('POST', `${v(id)}/action`, { body });
  return {
    async createVolume({ size, name }) {
      // cinderclient v3 VolumeManager.create(size): every optional field sent, as null.
      const body = {
        volume: {
          size,
          consistencygroup_id: null,
          snapshot_id: null,
          name,
          description: null,
          volume_type: null,
          availability_zone: null,
          metadata: {},
          imageRef: null,
          source_volid: null,
          backup_id: null,
        },
      };
      return (await http.call<{ volume: CinderVolume }>('POST', '/volumes', { body })).volume;
    },
    async getVolume(id) {
      return (await http.call<{ volume: CinderVolume }>('GET', v(id))).volume;
    },
    async listVolumes(query) {
      const q: Record<string, string> = {};
      if (query.name !== undefined) q['name'] = query.name;
      return (await http.call<{ volumes: CinderVolume[] }>('GET', '/volumes/detail', { query: q })).volumes;
    },
    async deleteVolume(id) {
      await http.call('DELETE', v(id));
    },
    async reserve(id) {
      await action(id, { 'os-reserve': null });
    },
    async unreserve(id) {
      await action(id, { 'os-unreserve': null });
    },
    async initializeConnection(id, connector) {
      return (await http.call<{ connection_info: ConnectionInfo }>('POST', `${v(id)}/action`, {
        body: { 'os-initialize_connection': { connector } },
      })).connection_info;
    },
    async terminateConnection(id, connector) {
      await action(id, { 'os-terminate_connection': { connector } });
    },
    async attach(id, { instanceUuid, mountpoint, hostName }) {
      const body: Record<string, unknown> = { mountpoint, mode: 'rw' };
      if (instanceUuid !== null) body['instance_uuid'] = instanceUuid;
      if (hostName !== null) body['host_name'] = hostName;
      await action(id, { 'os-attach': body });
    },
    async beginDetaching(id) {
      await action(id, { 'os-begin_detaching': null });
    },
    async rollDetaching(id) {
      await action(id, { 'os-roll_detaching': null });
    },
    async detach(id, attachmentId) {
      await action(id, { 'os-detach': { attachment_id: attachmentId } });
    },
  };
}
