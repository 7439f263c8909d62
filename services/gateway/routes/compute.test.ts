/**
 * The routes that reach the hosts, over the in-memory store, a fake host RPC
 * (answers recorded per op) and the in-memory host directory.
 */
import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../../../domain/host.js';
import { createMemoryHostDirectory } from '../host-directory.js';
import { HostRpcError, HostUnavailable, type HostRpcClient } from '../host-rpc.js';
import { harness, zunError } from '../test-harness.js';

type Handler = (host: string, req: Record<string, unknown>) => unknown;

function fakeRpc(handlers: Record<string, Handler> = {}) {
  const calls: { host: string; req: Record<string, unknown> }[] = [];
  const down = new Set<string>();
  const rpc: HostRpcClient = {
    nc: null,
    timeoutMs: 1000,
    async call<T>(host: string, req: Readonly<Record<string, unknown>>): Promise<T> {
      calls.push({ host, req: { ...req } });
      if (down.has(host)) throw new HostUnavailable(host, 'no host actor is answering for it (the host is down).');
      const h = handlers[String(req['op'])];
      if (!h) throw new HostRpcError(host, { code: 'BAD_REQUEST', message: `no fake for ${String(req['op'])}` });
      return (await h(host, { ...req })) as T;
    },
  };
  return { rpc, calls, down };
}

function record(hostname: string, over: Partial<HostRecord> = {}): HostRecord {
  return {
    hostname,
    uuid: hostname === 'host-1' ? '0a0a0a0a-1111-5222-8333-444444444444' : '0b0b0b0b-1111-5222-8333-444444444444',
    capacity: { cpus: 4, memoryMiB: 4096, diskGb: 100 },
    labels: { zone: 'a' },
    availabilityZone: 'nova',
    runtimes: ['runc'],
    version: '0.1.0',
    disabled: false,
    disabledReason: null,
    os: 'Debian GNU/Linux 12 (bookworm)',
    osType: 'linux',
    architecture: 'x86_64',
    kernelVersion: '6.1.0',
    startedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

const EXEC_ID = 'a'.repeat(64);

function setup(handlers: Record<string, Handler> = {}) {
  const f = fakeRpc({
    logs: () => 'line 1\nline 2\n',
    exec: () => ({ output: 'hi\n', exit_code: 0, exec_id: EXEC_ID }),
    exec_create: () => ({ exec_id: EXEC_ID }),
    exec_resize: () => null,
    resize: () => null,
    top: () => ({ Titles: ['PID', 'CMD'], Processes: [['1', 'sleep']] }),
    stats: (_h, r) => ({ CONTAINER: r['name'], 'CPU %': 0 }),
    get_archive: () => ({ data: Buffer.from('tar-bytes\u00ff').toString('base64'), stat: { name: 'f', size: 10, mode: 420, mtime: 't', linkTarget: '' } }),
    put_archive: () => null,
    ...handlers,
  });
  const directory = createMemoryHostDirectory();
  const h = harness({ compute: { rpc: f.rpc, directory, wsSecret: 'test-secret' } });
  return { h, ...f, directory };
}

describe('logs, execute, top, stats, archives', () => {
  it('logs: a JSON string from the host, with the parameters passed on', async () => {
    const { h, calls } = setup();
    const uuid = await h.containerIn('Running');
    const r = await h.req('GET', `/v1/containers/${uuid}/logs?stdout=True&stderr=False&timestamps=False&tail=all`);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(r.json()).toBe('line 1\nline 2\n');
    expect(calls.at(-1)).toEqual({ host: 'host-1', req: { op: 'logs', uuid, stdout: true, stderr: false, timestamps: false, tail: 'all', since: null } });
  });

  it("logs: Zun's state check (Creating is refused) and query schema", async () => {
    const { h, calls } = setup();
    const uuid = await h.create({ image: 'cirros' });
    const r = await h.req('GET', `/v1/containers/${uuid}/logs`);
    expect(r.statusCode).toBe(409);
    expect(zunError(r).title).toBe(`Cannot logs container ${uuid} in Creating state`);
    const bad = await h.req('GET', `/v1/containers/${uuid}/logs?stdout=maybe`);
    expect(bad.statusCode).toBe(400);
    const unknown = await h.req('GET', `/v1/containers/${uuid}/logs?follow=1`);
    expect(zunError(unknown).title).toMatch(/Additional properties are not allowed \('follow' was unexpected\)/);
    expect(calls).toHaveLength(0);
  });

  it('a host that is down: 409 naming the host, at once', async () => {
    const { h, down } = setup();
    const uuid = await h.containerIn('Running');
    down.add('host-1');
    const r = await h.req('GET', `/v1/containers/${uuid}/top`);
    expect(r.statusCode).toBe(409);
    expect(zunError(r)).toMatchObject({ code: 'container.host-not-available', title: 'Host host-1 is not available: no host actor is answering for it (the host is down).' });
  });

  it('execute run=true returns output and exit code; run=false an exec id and a console URL', async () => {
    const { h, calls } = setup();
    const uuid = await h.containerIn('Running');
    const r = await h.req('POST', `/v1/containers/${uuid}/execute?command=%22echo%22+%22hi%22`, { version: '1.40' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ output: 'hi\n', exit_code: 0, exec_id: EXEC_ID, proxy_url: null });
    expect(calls.at(-1)!.req).toEqual({ op: 'exec', uuid, command: '"echo" "hi"', run: true, interactive: false });

    const i = await h.req('POST', `/v1/containers/${uuid}/execute?command=sh&run=false&interactive=true`);
    const body = i.json() as { output: null; exit_code: null; exec_id: string; proxy_url: string };
    expect([body.output, body.exit_code, body.exec_id]).toEqual([null, null, EXEC_ID]);
    expect(body.proxy_url).toMatch(new RegExp(`^ws://zun\\.test:9517/v1/containers/${uuid}/exec-ws\\?token=\\d+\\.[0-9a-f]{64}&uuid=${uuid}&exec_id=${EXEC_ID}$`));
    expect(calls.at(-1)!.req).toEqual({ op: 'exec_create', uuid, command: 'sh', interactive: true });

    const noCmd = await h.req('POST', `/v1/containers/${uuid}/execute`);
    expect([noCmd.statusCode, zunError(noCmd).title]).toEqual([400, "'command' is a required property"]);
  });

  it('execute on a Stopped container is refused; execute_resize and resize reach the host', async () => {
    const { h, calls } = setup();
    const stopped = await h.containerIn('Stopped');
    const r = await h.req('POST', `/v1/containers/${stopped}/execute?command=ls`);
    expect([r.statusCode, zunError(r).title]).toEqual([409, `Cannot execute container ${stopped} in Stopped state`]);
    const uuid = await h.containerIn('Running');
    const er = await h.req('POST', `/v1/containers/${uuid}/execute_resize?exec_id=${EXEC_ID}&w=80&h=24`);
    expect([er.statusCode, er.body]).toEqual([200, 'null']);
    expect(calls.at(-1)!.req).toEqual({ op: 'exec_resize', uuid, execId: EXEC_ID, h: '24', w: '80' });
    const bad = await h.req('POST', `/v1/containers/${uuid}/execute_resize?exec_id=xyz&w=80&h=24`);
    expect(bad.statusCode).toBe(400);
    const rs = await h.req('POST', `/v1/containers/${uuid}/resize?w=100&h=30`);
    expect(rs.statusCode).toBe(200);
    expect(calls.at(-1)!.req).toEqual({ op: 'resize', uuid, h: '30', w: '100' });
  });

  it('attach: a ws URL as a JSON string for an interactive container, 400 otherwise', async () => {
    const { h } = setup();
    const plain = await h.containerIn('Running');
    const r = await h.req('GET', `/v1/containers/${plain}/attach`);
    expect([r.statusCode, zunError(r).code]).toEqual([400, 'container.no-interactive-flag']);
    const tty = await h.containerIn('Running', { image: 'cirros', interactive: true });
    const ok = await h.req('GET', `/v1/containers/${tty}/attach`);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatch(new RegExp(`^ws://zun\\.test:9517/v1/containers/${tty}/attach-ws\\?token=`));
  });

  it('top (ps_args None is no argument) and stats (named after the container)', async () => {
    const { h, calls } = setup();
    const uuid = await h.containerIn('Running', { image: 'cirros', name: 'web' });
    const top = await h.req('GET', `/v1/containers/${uuid}/top?ps_args=None`);
    expect(top.json()).toEqual({ Titles: ['PID', 'CMD'], Processes: [['1', 'sleep']] });
    expect(calls.at(-1)!.req).toEqual({ op: 'top', uuid, psArgs: null });
    const stats = await h.req('GET', `/v1/containers/web/stats`);
    expect(stats.json()).toEqual({ CONTAINER: 'web', 'CPU %': 0 });
  });

  it('commit: repository required and checked, Running/Stopped/Paused only; recorded for the host actor, 202 with the uuid it recorded', async () => {
    const { h, calls } = setup();
    const created = await h.containerIn('Created');
    const before = h.count();
    const early = await h.req('POST', `/v1/containers/${created}/commit?repository=web`);
    expect([early.statusCode, zunError(early).title]).toEqual([409, `Cannot commit container ${created} in Created state`]);
    expect(h.count()).toBe(before);
    const uuid = await h.containerIn('Stopped');
    const afterSetup = h.count();
    for (const q of ['', '?tag=v1', '?repository=Web', '?repository=web&tag=-bad', '?repository=a%20b']) {
      expect((await h.req('POST', `/v1/containers/${uuid}/commit${q}`)).statusCode, q).toBe(400);
    }
    expect(h.count()).toBe(afterSetup); // refused: nothing appended
    const ok = await h.req('POST', `/v1/containers/${uuid}/commit?repository=team/web&tag=v1`);
    expect(ok.statusCode).toBe(202);
    const { uuid: imageUuid } = ok.json() as { uuid: string };
    expect(imageUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const dflt = await h.req('POST', `/v1/containers/${uuid}/commit?repository=web`);
    expect(dflt.statusCode).toBe(202);
    expect((dflt.json() as { uuid: string }).uuid).not.toBe(imageUuid);
    const requested = (await h.events()).filter((e) => e.type === 'ContainerCommitRequested');
    expect(requested.map((e) => e.data)).toEqual([
      { repository: 'team/web', tag: 'v1', imageUuid },
      { repository: 'web', tag: 'latest', imageUuid: (dflt.json() as { uuid: string }).uuid },
    ]);
    expect(h.count()).toBe(afterSetup + 2);
    // The host actor carries it out from the log: the gateway asks no host.
    expect(calls.filter((c) => c.req['op'] === 'commit')).toEqual([]);
  });

  it('get_archive: base64 from 1.25, the raw bytes below; put_archive decodes by version', async () => {
    const { h, calls } = setup();
    const uuid = await h.containerIn('Stopped');
    const r = await h.req('GET', `/v1/containers/${uuid}/get_archive?path=/etc/hostname`, { version: '1.25' });
    expect(r.json()).toEqual({ data: Buffer.from('tar-bytes\u00ff').toString('base64'), stat: { name: 'f', size: 10, mode: 420, mtime: 't', linkTarget: '' } });
    const old = await h.req('GET', `/v1/containers/${uuid}/get_archive?path=/etc/hostname`, { version: '1.24' });
    expect((old.json() as { data: string }).data).toBe(Buffer.from('tar-bytes\u00ff').toString('latin1'));

    const put = await h.req('POST', `/v1/containers/${uuid}/put_archive?path=/tmp`, { version: '1.40', body: { data: Buffer.from('abc').toString('base64') } });
    expect([put.statusCode, put.body]).toEqual([200, 'null']);
    expect(calls.at(-1)!.req).toEqual({ op: 'put_archive', uuid, path: '/tmp', data: Buffer.from('abc').toString('base64') });
    const putOld = await h.req('POST', `/v1/containers/${uuid}/put_archive?path=/tmp`, { version: '1.24', body: { data: 'abc' } });
    expect(putOld.statusCode).toBe(200);
    expect(calls.at(-1)!.req['data']).toBe(Buffer.from('abc').toString('base64'));
    const noPath = await h.req('GET', `/v1/containers/${uuid}/get_archive`, { version: '1.40' });
    expect(noPath.statusCode).toBe(400);
  });

  it("a host's refusal becomes Zun's error", async () => {
    const { h } = setup({
      get_archive: (host) => {
        throw new HostRpcError(host, { code: 'NOT_FOUND', message: 'Could not find the file /nope in container' });
      },
    });
    const uuid = await h.containerIn('Running');
    const r = await h.req('GET', `/v1/containers/${uuid}/get_archive?path=/nope`, { version: '1.40' });
    expect([r.statusCode, zunError(r).title]).toEqual([404, 'Could not find the file /nope in container']);
  });
});

describe('rebuild and resize_container go through the command path', () => {
  it('rebuild appends ContainerRebuildRequested with the new image; status Rebuilding', async () => {
    const { h } = setup();
    const uuid = await h.containerIn('Running');
    const before = h.count();
    const r = await h.req('POST', `/v1/containers/${uuid}/rebuild?image=zun-base:v2`);
    expect([r.statusCode, r.body]).toEqual([202, 'null']);
    const events = await h.events();
    expect(events.length).toBe(before + 1);
    expect(events.at(-1)).toMatchObject({ type: 'ContainerRebuildRequested', data: { image: 'zun-base:v2', imageDriver: 'docker' } });
    expect(await h.status(uuid)).toBe('Rebuilding');
    const bad = await h.req('POST', `/v1/containers/${uuid}/rebuild?image_driver=rkt`);
    expect(bad.statusCode).toBe(400);
  });

  it('resize_container: 1.19+, cpu/memory as ContainerUpdated, 202 with the view', async () => {
    const { h } = setup();
    const uuid = await h.containerIn('Running');
    const old = await h.req('POST', `/v1/containers/${uuid}/resize_container`, { version: '1.18', body: { cpu: 2 } });
    expect(old.statusCode).toBe(406);
    const r = await h.req('POST', `/v1/containers/${uuid}/resize_container`, { version: '1.19', body: { cpu: 2, memory: '256' } });
    expect(r.statusCode).toBe(202);
    expect(r.json()).toMatchObject({ uuid, cpu: 2, memory: '256' });
    expect((await h.events()).at(-1)).toMatchObject({ type: 'ContainerUpdated', data: { cpu: 2, memory: 256 } });
  });
});

describe('container actions', () => {
  it('list newest first and show with events; traceback only for admins', async () => {
    const { h } = setup();
    const uuid = await h.containerIn('Running');
    const list = await h.req('GET', `/v1/containers/${uuid}/container_actions`);
    expect(list.statusCode).toBe(200);
    const actions = (list.json() as { containerActions: Record<string, unknown>[] }).containerActions;
    expect(actions.map((a) => [a['action'], a['container_uuid'], a['user_id'], a['project_id']])).toEqual([
      ['start', uuid, 'admin', 'default'],
      ['create', uuid, 'admin', 'default'],
    ]);
    expect(actions[0]!['start_time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    expect(actions[0]!['finish_time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const reqId = actions[0]!['request_id'] as string;
    const show = await h.req('GET', `/v1/containers/${uuid}/container_actions/${reqId}`);
    expect(show.json()).toMatchObject({
      action: 'start',
      request_id: reqId,
      message: null,
      events: [{ event: 'compute__do_container_start', result: 'Success', traceback: null }],
    });
    const missing = await h.req('GET', `/v1/containers/${uuid}/container_actions/req-nope`);
    expect([missing.statusCode, zunError(missing).title]).toEqual([404, 'The Action resource req-nope could not be found.']);
  });

  it('another project cannot see them (404, like the container itself)', async () => {
    const { h } = setup();
    const uuid = await h.containerIn('Running');
    const r = await h.req('GET', `/v1/containers/${uuid}/container_actions`, { headers: { 'x-project-id': 'other', 'x-roles': 'member' } });
    expect(r.statusCode).toBe(404);
  });
});

describe('hosts, services, availability zones', () => {
  it('hosts: 1.4+, admin, view with usage from the read model', async () => {
    const { h, directory } = setup();
    directory.put(record('host-1'));
    await h.containerIn('Running');
    const old = await h.req('GET', '/v1/hosts', { version: '1.3' });
    expect(old.statusCode).toBe(406);
    const nonAdmin = await h.req('GET', '/v1/hosts', { version: '1.40', headers: { 'x-roles': 'member' } });
    expect([nonAdmin.statusCode, zunError(nonAdmin).title]).toEqual([403, "Policy doesn't allow host:get_all to be performed."]);
    const r = await h.req('GET', '/v1/hosts/', { version: '1.40' });
    const hosts = (r.json() as { hosts: Record<string, unknown>[] }).hosts;
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({
      hostname: 'host-1',
      mem_total: 4096,
      mem_used: 512,
      cpus: 4,
      cpu_used: 1,
      disk_total: 100,
      total_containers: 1,
      os_type: 'linux',
      labels: { zone: 'a' },
      runtimes: ['runc'],
      enable_cpu_pinning: false,
    });
    const one = await h.req('GET', `/v1/hosts/${hosts[0]!['uuid'] as string}`, { version: '1.40' });
    expect((one.json() as { hostname: string }).hostname).toBe('host-1');
    const byName = await h.req('GET', '/v1/hosts/host-1', { version: '1.40' });
    expect(byName.statusCode).toBe(200);
    const none = await h.req('GET', '/v1/hosts/nope', { version: '1.40' });
    expect([none.statusCode, zunError(none).title]).toEqual([404, 'Compute node nope could not be found.']);
  });

  it('services: up while registered, down after; disable with a reason; force_down; delete', async () => {
    const { h, directory } = setup();
    directory.put(record('host-1'));
    directory.put(record('host-2', { availabilityZone: 'az2' }));
    directory.expire('host-2');
    const list = (await h.req('GET', '/v1/services')).json() as { services: Record<string, unknown>[] };
    expect(list.services.map((s) => [s['host'], s['binary'], s['state'], s['disabled'], s['availability_zone']])).toEqual([
      ['host-1', 'zun-compute', 'up', false, 'nova'],
      ['host-2', 'zun-compute', 'down', false, 'az2'],
    ]);
    const dis = await h.req('PUT', '/v1/services/disable?host=host-1&binary=zun-compute&disabled_reason=maintenance');
    expect(dis.json()).toEqual({ service: { host: 'host-1', binary: 'zun-compute', disabled: true, disabled_reason: 'maintenance' } });
    expect((await directory.get('host-1'))!.record.disabled).toBe(true);
    const en = await h.req('PUT', '/v1/services/enable?host=host-1&binary=zun-compute');
    expect(en.json()).toEqual({ service: { host: 'host-1', binary: 'zun-compute', disabled: false, disabled_reason: null } });
    const fd = await h.req('PUT', '/v1/services/force_down?host=host-1&binary=zun-compute&forced_down=True');
    expect(fd.json()).toEqual({ service: { host: 'host-1', binary: 'zun-compute', forced_down: true } });
    const after = (await h.req('GET', '/v1/services')).json() as { services: Record<string, unknown>[] };
    expect(after.services[0]).toMatchObject({ host: 'host-1', state: 'down', forced_down: true });
    const unknown = await h.req('PUT', '/v1/services/enable?host=nope&binary=zun-compute');
    expect([unknown.statusCode, zunError(unknown).title]).toEqual([404, 'Zun service zun-compute on host nope could not be found.']);
    const del = await h.req('DELETE', '/v1/services?host=host-2&binary=zun-compute');
    expect([del.statusCode, del.body]).toEqual([200, 'null']);
    expect((await directory.list()).map((e) => e.hostname)).toEqual(['host-1']);
    const zones = await h.req('GET', '/v1/availability_zones');
    expect(zones.json()).toEqual({ availability_zones: [{ availability_zone: 'nova' }], next: null });
    const nonAdmin = await h.req('GET', '/v1/services', { headers: { 'x-roles': 'member' } });
    expect(nonAdmin.statusCode).toBe(403);
  });
});

describe('images', () => {
  const images = [
    { id: 'sha256:aaa', repoTags: ['zun-base:latest', 'zun-base:v2'], size: 1000, created: 1 },
    { id: 'sha256:bbb', repoTags: [], size: 5, created: 1 },
  ];

  it('list and show the images of the live hosts; a host that fails is left out', async () => {
    const { h, directory, down } = setup({ images: () => images });
    directory.put(record('host-1'));
    directory.put(record('host-2'));
    down.add('host-2');
    const r = await h.req('GET', '/v1/images/');
    const list = (r.json() as { images: Record<string, unknown>[] }).images;
    expect(list.map((i) => [i['repo'], i['tag'], i['host'], i['image_id'], i['size']])).toEqual([
      ['zun-base', 'latest', 'host-1', 'sha256:aaa', 1000],
      ['zun-base', 'v2', 'host-1', 'sha256:aaa', 1000],
    ]);
    const one = await h.req('GET', `/v1/images/${list[0]!['uuid'] as string}`);
    expect(one.json()).toMatchObject({ repo: 'zun-base', tag: 'latest', host: 'host-1' });
    const missing = await h.req('GET', '/v1/images/11111111-2222-3333-4444-555555555555');
    expect([missing.statusCode, zunError(missing).code]).toEqual([400, 'container.image-not-found']);
  });

  it('pull: the host decides by policy; an unknown host is 400; a host refusal is a clear 400', async () => {
    const { h, directory, calls } = setup({
      image_pull: (host, req) => {
        if (req['image'] === 'absent:1') throw new HostRpcError(host, { code: 'IMAGE_NOT_FOUND', message: 'Image absent:1 is not present on host host-1 and cannot be pulled: there is no registry to pull it from.' });
        return { image: images[0], pulled: false };
      },
    });
    directory.put(record('host-1'));
    const ok = await h.req('POST', '/v1/images/', { body: { repo: 'zun-base:latest', host: 'host-1' } });
    expect(ok.statusCode).toBe(202);
    expect(ok.json()).toMatchObject({ repo: 'zun-base', tag: 'latest', host: 'host-1', image_pull_policy: 'always', image_id: 'sha256:aaa' });
    expect(calls.at(-1)!.req).toEqual({ op: 'image_pull', image: 'zun-base:latest', policy: 'always' });
    const absent = await h.req('POST', '/v1/images', { body: { repo: 'absent:1', host: 'host-1', image_pull_policy: 'IfNotPresent' } });
    expect([absent.statusCode, zunError(absent).title]).toEqual([400, 'Image absent:1 is not present on host host-1 and cannot be pulled: there is no registry to pull it from.']);
    expect(calls.at(-1)!.req['policy']).toBe('ifnotpresent');
    const noHost = await h.req('POST', '/v1/images', { body: { repo: 'x1', host: 'nope' } });
    expect([noHost.statusCode, zunError(noHost).title]).toEqual([400, 'The host nope does not exist.']);
    const noRepo = await h.req('POST', '/v1/images', { body: { host: 'host-1' } });
    expect(noRepo.statusCode).toBe(400);
    const nonAdmin = await h.req('POST', '/v1/images', { body: { repo: 'x1', host: 'host-1' }, headers: { 'x-roles': 'member' } });
    expect(nonAdmin.statusCode).toBe(403);
  });

  it('delete removes repo:tag on its host; search is over local images', async () => {
    const { h, directory, calls } = setup({ images: () => images, image_remove: () => null });
    directory.put(record('host-1'));
    const list = (await h.req('GET', '/v1/images')).json() as { images: { uuid: string; tag: string }[] };
    const v2 = list.images.find((i) => i.tag === 'v2')!;
    const del = await h.req('DELETE', `/v1/images/${v2.uuid}`);
    expect([del.statusCode, del.body]).toEqual([200, 'null']);
    expect(calls.at(-1)).toEqual({ host: 'host-1', req: { op: 'image_remove', image: 'zun-base:v2' } });
    const s = await h.req('GET', '/v1/images/base/search', { headers: { 'x-roles': 'member' } });
    expect(s.json()).toEqual([
      { name: 'zun-base', description: 'local image on host-1', is_automated: false, metadata: { is_official: false, star_count: 0 }, tags: ['latest', 'v2'], hosts: ['host-1'] },
    ]);
    const exact = await h.req('GET', '/v1/images/base/search?exact_match=True');
    expect(exact.json()).toEqual([]);
  });
});
