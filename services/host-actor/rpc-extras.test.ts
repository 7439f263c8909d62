import { PassThrough, type Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { specOf } from '../../test/support/container-gen.js';
import { createMemoryRuntime } from './memory-runtime.js';
import { handleRpc } from './rpc.js';
import {
  createDemuxer,
  handleExtraRpc,
  splitImage,
  streamSubjects,
  type LocalImage,
  type RpcExtras,
  type RuntimeExtras,
  type StreamSessions,
} from './rpc-extras.js';

const HOST = 'node-1';
const UUID = '11111111-2222-3333-4444-555555555555';
const EXEC = 'e'.repeat(64);

function fakeDocker(images: LocalImage[], execOf: Record<string, string> = {}): RuntimeExtras & { removed: string[]; opened: string[] } {
  const removed: string[] = [];
  const opened: string[] = [];
  return {
    removed,
    opened,
    async getArchive() {
      return { tar: Buffer.from('tar'), stat: { name: 'hostname', size: 3, mode: 420, mtime: 't', linkTarget: '' } };
    },
    async putArchive() {},
    async execCreate() {
      return EXEC;
    },
    async execInfo(id) {
      return execOf[id] ? { containerId: execOf[id]!, tty: true, stdin: true } : null;
    },
    async execResize() {},
    async resize() {},
    async openExec(id) {
      opened.push(id);
      return new PassThrough() as Duplex;
    },
    async openAttach() {
      return { stream: new PassThrough() as Duplex, tty: false };
    },
    async listImages() {
      return images;
    },
    async inspectImage(ref) {
      return images.find((i) => i.repoTags.includes(ref)) ?? null;
    },
    async removeImage(ref) {
      removed.push(ref);
    },
  };
}

function extrasWith(docker: RuntimeExtras): RpcExtras & { bridged: string[] } {
  const bridged: string[] = [];
  const sessions: StreamSessions = {
    bridge: (session) => void bridged.push(session),
    size: 0,
    closeAll() {},
  };
  return { docker, sessions, bridged, close: async () => {} };
}

async function withContainer() {
  const runtime = createMemoryRuntime();
  const dockerId = await runtime.create({ host: HOST, uuid: UUID, spec: specOf(), image: 'zun-base:latest', generation: 0 });
  await runtime.start({ host: HOST, uuid: UUID, dockerId });
  return { runtime, dockerId };
}

const BASE: LocalImage = { id: 'sha256:aaa', repoTags: ['zun-base:latest'], size: 10, created: 1 };

describe('host rpc extras', () => {
  it('rpc.ts hands the extra ops over, and refuses them on a host without extras', async () => {
    const { runtime } = await withContainer();
    const extras = extrasWith(fakeDocker([BASE]));
    expect(await handleRpc({ op: 'images' } as never, { hostname: HOST, runtime, extras })).toEqual({ ok: true, result: [BASE] });
    expect(await handleRpc({ op: 'images' } as never, { hostname: HOST, runtime })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('image_pull by policy: present images are used, absent ones are a clear IMAGE_NOT_FOUND (no registry)', async () => {
    const { runtime } = await withContainer();
    const extras = extrasWith(fakeDocker([BASE]));
    const deps = { hostname: HOST, runtime, extras };
    for (const policy of ['always', 'ifnotpresent', 'never'] as const) {
      expect(await handleExtraRpc({ op: 'image_pull', image: 'zun-base', policy }, deps)).toEqual({ ok: true, result: { image: BASE, pulled: false } });
    }
    expect(await handleExtraRpc({ op: 'image_pull', image: 'busybox:1.36', policy: 'always' }, deps)).toEqual({
      ok: false,
      error: { code: 'IMAGE_NOT_FOUND', message: `Image busybox:1.36 is not present on host ${HOST} and cannot be pulled: there is no registry to pull it from.` },
    });
    expect(await handleExtraRpc({ op: 'image_pull', image: 'busybox:1.36', policy: 'never' }, deps)).toMatchObject({
      ok: false,
      error: { code: 'IMAGE_NOT_FOUND', message: expect.stringMatching(/image_pull_policy is never/) },
    });
  });

  it('archives: base64 out, base64 in; only this host\'s containers', async () => {
    const { runtime } = await withContainer();
    const extras = extrasWith(fakeDocker([BASE]));
    const get = await handleExtraRpc({ op: 'get_archive', uuid: UUID, path: '/etc/hostname' }, { hostname: HOST, runtime, extras });
    expect(get).toEqual({ ok: true, result: { data: Buffer.from('tar').toString('base64'), stat: { name: 'hostname', size: 3, mode: 420, mtime: 't', linkTarget: '' } } });
    const other = await handleExtraRpc({ op: 'get_archive', uuid: UUID, path: '/' }, { hostname: 'node-2', runtime, extras });
    expect(other).toMatchObject({ ok: false, error: { code: 'CONTAINER_NOT_FOUND' } });
    expect(await handleExtraRpc({ op: 'put_archive', uuid: UUID, path: '/tmp' } as never, { hostname: HOST, runtime, extras })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('an exec must belong to the container named in the request', async () => {
    const { runtime, dockerId } = await withContainer();
    const docker = fakeDocker([BASE], { [EXEC]: dockerId, ['f'.repeat(64)]: 'someone-else' });
    const extras = extrasWith(docker);
    const deps = { hostname: HOST, runtime, extras };
    expect(await handleExtraRpc({ op: 'stream_open', uuid: UUID, session: 'abcdef0123', execId: EXEC }, deps)).toEqual({ ok: true, result: { tty: true } });
    expect(extras.bridged).toEqual(['abcdef0123']);
    expect(await handleExtraRpc({ op: 'stream_open', uuid: UUID, session: 'abcdef0124', execId: 'f'.repeat(64) }, deps)).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await handleExtraRpc({ op: 'exec_resize', uuid: UUID, execId: EXEC, h: 0, w: 80 }, deps)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await handleExtraRpc({ op: 'stream_open', uuid: UUID, session: 'bad session!' }, deps)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(docker.opened).toEqual([EXEC]);
  });

  it('the demuxer reassembles Docker frames split across chunks', () => {
    const frame = (kind: number, s: string) => {
      const p = Buffer.from(s);
      const h = Buffer.alloc(8);
      h[0] = kind;
      h.writeUInt32BE(p.length, 4);
      return Buffer.concat([h, p]);
    };
    const wire = Buffer.concat([frame(1, 'hello '), frame(2, 'err '), frame(1, 'world')]);
    const out: string[] = [];
    const feed = createDemuxer((b) => out.push(b.toString()));
    for (let i = 0; i < wire.length; i += 5) feed(wire.subarray(i, i + 5));
    expect(out.join('')).toBe('hello err world');
  });

  it('image names and stream subjects', () => {
    expect(splitImage('busybox')).toEqual({ repo: 'busybox', tag: 'latest' });
    expect(splitImage('localhost:5000/a/b:1.2')).toEqual({ repo: 'localhost:5000/a/b', tag: '1.2' });
    expect(streamSubjects('my.host', 'abc')).toEqual({ in: 'zun.host.my=2Ehost.exec.abc.in', out: 'zun.host.my=2Ehost.exec.abc.out' });
  });
});
