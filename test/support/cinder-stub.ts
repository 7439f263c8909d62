// A stateful Cinder API stub for tests: one volume walked through Cinder's
// statuses (available -> attaching -> in-use -> detaching -> ...), answering
// with the RECORDED bodies in test/fixtures/cinder, filled in with the
// volume's current status, name and attachments. Loopback only.
import { fixture, startHttpStub, type HttpStub, type StubReply, type StubRequest } from './http-stub.js';

export type CinderStatus = 'creating' | 'available' | 'attaching' | 'in-use' | 'detaching' | 'deleting' | 'error';

export interface CinderStubOptions {
  readonly project: string;
  /** The id Cinder gives the volume (the fixtures' id). */
  readonly volumeId: string;
  readonly attachmentId: string;
  readonly name: string;
}

export function cinderApi(o: CinderStubOptions) {
  const s = {
    exists: false,
    status: 'available' as CinderStatus,
    name: o.name,
    attachments: [] as Record<string, unknown>[],
    creatingPolls: 1,
    deletingPolls: 1,
    connectionType: 'iscsi' as 'iscsi' | 'local' | 'rbd',
    /** For the `local` connection: the device path Cinder reports. */
    localDevice: null as string | null,
    failAttach: false,
    createStatus: 'available' as CinderStatus,
  };
  const volume = () => {
    const base = fixture('cinder', `volume-show-${s.status === 'error' ? 'available' : s.status}`).volume;
    const attachments = s.attachments.map((a) => ({ ...fixture('cinder', 'volume-show-in-use').volume.attachments[0], ...a }));
    return { ...base, id: o.volumeId, status: s.status, name: s.name, attachments };
  };
  const connection = () => {
    if (s.connectionType === 'rbd') return { connection_info: { driver_volume_type: 'rbd', data: { name: 'volumes/x' } } };
    const info = fixture('cinder', `initialize-connection-${s.connectionType}`);
    if (s.connectionType === 'local' && s.localDevice) info.connection_info.data.device_path = s.localDevice;
    return info;
  };
  const handler = (r: StubRequest): StubReply => {
    const prefix = `/v3/${o.project}`;
    if (!r.path.startsWith(prefix)) return { status: 404, body: { itemNotFound: { code: 404, message: 'wrong project' } } };
    const p = r.path.slice(prefix.length);
    if (r.method === 'GET' && p === '/volumes/detail') {
      const wanted = r.query.get('name');
      return { status: 200, body: s.exists && wanted === s.name ? { volumes: [volume()] } : fixture('cinder', 'volumes-list-empty') };
    }
    if (r.method === 'POST' && p === '/volumes') {
      s.exists = true;
      s.status = 'creating';
      s.name = (r.body as { volume: { name: string } }).volume.name;
      const v = fixture('cinder', 'volume-create-response').volume;
      return { status: 202, body: { volume: { ...v, id: o.volumeId, name: s.name, size: (r.body as { volume: { size: number } }).volume.size } } };
    }
    if (p === `/volumes/${o.volumeId}` && r.method === 'GET') {
      if (!s.exists) return { status: 404, body: fixture('cinder', 'volume-not-found') };
      if (s.status === 'creating' && s.creatingPolls-- <= 0) s.status = s.createStatus;
      if (s.status === 'deleting' && s.deletingPolls-- <= 0) {
        s.exists = false;
        return { status: 404, body: fixture('cinder', 'volume-not-found') };
      }
      return { status: 200, body: { volume: volume() } };
    }
    if (p === `/volumes/${o.volumeId}` && r.method === 'DELETE') {
      if (!s.exists) return { status: 404, body: fixture('cinder', 'volume-not-found') };
      s.status = 'deleting';
      return { status: 202 };
    }
    if (p === `/volumes/${o.volumeId}/action` && r.method === 'POST') {
      if (!s.exists) return { status: 404, body: fixture('cinder', 'volume-not-found') };
      const body = r.body as Record<string, any>;
      const action = Object.keys(body)[0]!;
      switch (action) {
        case 'os-reserve':
          if (s.status !== 'available') return { status: 400, body: fixture('cinder', 'reserve-invalid') };
          s.status = 'attaching';
          return { status: 202 };
        case 'os-unreserve':
          if (s.status === 'attaching') s.status = 'available';
          return { status: 202 };
        case 'os-initialize_connection':
          return { status: 200, body: connection() };
        case 'os-attach':
          if (s.failAttach) return { status: 500, body: { computeFault: { code: 500, message: 'The server has either erred or is incapable of performing the requested operation.' } } };
          s.status = 'in-use';
          s.attachments = [{ server_id: body['os-attach'].instance_uuid ?? null, host_name: body['os-attach'].host_name ?? null, device: body['os-attach'].mountpoint, attachment_id: o.attachmentId }];
          return { status: 202 };
        case 'os-begin_detaching':
          if (s.status !== 'in-use') return { status: 400, body: fixture('cinder', 'begin-detaching-invalid') };
          s.status = 'detaching';
          return { status: 202 };
        case 'os-roll_detaching':
          if (s.status === 'detaching') s.status = 'in-use';
          return { status: 202 };
        case 'os-terminate_connection':
          return { status: 202 };
        case 'os-detach':
          s.attachments = s.attachments.filter((a) => a['attachment_id'] !== body['os-detach'].attachment_id);
          if (s.attachments.length === 0) s.status = 'available';
          return { status: 202 };
      }
    }
    return { status: 400, body: { badRequest: { code: 400, message: `stub: unexpected ${r.method} ${r.path}` } } };
  };
  return { handler, s };
}

export async function startCinderStub(o: CinderStubOptions): Promise<{ stub: HttpStub; state: ReturnType<typeof cinderApi>['s']; endpoint: string }> {
  const api = cinderApi(o);
  const stub = await startHttpStub(api.handler);
  return { stub, state: api.s, endpoint: `${stub.url}/v3/${o.project}` };
}
