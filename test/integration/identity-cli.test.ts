/**
 * The stock OpenStack clients against the gateway in the local identity
 * mode, on a real nats-server: `zun` logs in through the built-in Keystone
 * v3 subset (password, project scope) and then uses the catalog's
 * `container` endpoint; `openstack` does the same through keystoneauth.
 * Tenancy, quotas (with enforcement) and registries are checked through the
 * CLIs' own output.
 *
 * Needs python3-zunclient and python3-openstackclient (Debian bookworm);
 * skipped, saying so, when `zun` is not installed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/gateway/config.js';
import { hashPassword } from '../../services/gateway/identity/password.js';
import { TEST_SCRYPT } from '../../services/gateway/identity/testing.js';
import { startGateway, type Gateway } from '../../services/gateway/server.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { connectNats } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createProjector, type Projector } from '../../services/projector/projector.js';
import { startNats, type NatsServer } from '../support/servers.js';

const run = promisify(execFile);
const hasZun = await run('zun', ['--version']).then(
  () => true,
  () => false,
);
if (!hasZun) console.warn('identity-cli: `zun` is not installed (apt-get install python3-zunclient python3-openstackclient); skipping');

let nats: NatsServer;
let nc: NatsConnection;
let gateway: Gateway;
let projector: Projector;
let dir: string | undefined;

async function cli(cmd: 'zun' | 'openstack', args: string[], user: string, project: string): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    OS_AUTH_URL: `${gateway.url}/identity/v3`,
    OS_USERNAME: user,
    OS_PASSWORD: `${user}-pw`,
    OS_PROJECT_NAME: project,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_IDENTITY_API_VERSION: '3',
  };
  try {
    const { stdout, stderr } = await run(cmd, args, { env, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}
const zun = (user: string, project: string, ...args: string[]) => cli('zun', args, user, project);

describe.skipIf(!hasZun)('the stock zun and openstack clients, logging in to the gateway', () => {
  beforeAll(async () => {
    nats = await startNats();
    nc = await connectNats({ servers: nats.url, name: 'identity-cli' });
    await ensureStream(await jetstreamManager(nc));
    const log = pino({ level: 'silent' });
    projector = await createProjector({ nc, store: createJetStreamEventStore({ nc }), log });
    dir = await mkdtemp(join(tmpdir(), 'zun-identity-'));
    const file = join(dir, 'users.json');
    await writeFile(
      file,
      JSON.stringify({
        projects: [{ name: 'admin' }, { name: 'demo-a' }, { name: 'demo-b' }],
        users: [
          { name: 'admin', password: await hashPassword('admin-pw', TEST_SCRYPT), roles: { admin: ['admin'] } },
          { name: 'alice', password: await hashPassword('alice-pw', TEST_SCRYPT), roles: { 'demo-a': ['member'] } },
          { name: 'bob', password: await hashPassword('bob-pw', TEST_SCRYPT), roles: { 'demo-b': ['member'] } },
        ],
      }),
    );
    const config = loadConfig({ AUTH_FILE: file, GATEWAY_SECRET: 'identity-cli-test-secret-of-32-bytes!', STATE_DIR: dir });
    gateway = await startGateway({ nc, log, config: { ...config, host: '127.0.0.1', port: 0 }, readModelTimings: { retryMs: 100, readyTimeoutMs: 3000 } });
  });

  afterAll(async () => {
    await gateway?.close();
    await projector?.stop();
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('zun logs in with a password and reaches /v1 through the catalog', async () => {
    const r = await zun('alice', 'demo-a', 'quota-get', 'demo-a');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/\|\s*containers\s*\|\s*40\s*\|/);
    const bad = await cli('zun', ['list'], 'alice', 'demo-b'); // not her project
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/Not authorized/);
  });

  it('members create containers in their own project and never see the other project\'s', async () => {
    const c = await zun('alice', 'demo-a', 'create', '--name', 'alice-web', '--cpu', '0.5', '-m', '64', 'cirros', 'sleep', '60');
    expect(c.code, c.out).toBe(0);
    expect(c.out).toMatch(/\|\s*project_id\s*\|\s*demo-a\s*\|/);
    const uuid = /\|\s*uuid\s*\|\s*([0-9a-f-]{36})\s*\|/.exec(c.out)![1]!;
    const seen = await zun('bob', 'demo-b', 'show', uuid);
    expect(seen.code).not.toBe(0);
    expect(seen.out).toContain(`Container ${uuid} could not be found. (HTTP 404)`);
    const del = await zun('bob', 'demo-b', 'delete', 'alice-web');
    expect(del.out).toContain('could not be found');
    // The projector fills the read model the list comes from.
    let list = '';
    for (let i = 0; i < 50 && !list.includes('alice-web'); i++) list = (await zun('alice', 'demo-a', 'list')).out;
    expect(list).toContain('alice-web');
    expect((await zun('bob', 'demo-b', 'list')).out).not.toContain('alice-web');
  });

  it('admins set quotas that are enforced on create; members cannot', async () => {
    expect((await zun('bob', 'demo-b', 'quota-update', '--containers', '9', 'demo-b')).out).toMatch(/quota:update/);
    const u = await zun('admin', 'admin', 'quota-update', '--containers', '1', 'demo-b');
    expect(u.code, u.out).toBe(0);
    expect(u.out).toMatch(/\|\s*containers\s*\|\s*1\s*\|/);
    expect((await zun('bob', 'demo-b', 'create', '--name', 'b1', 'cirros')).code).toBe(0);
    const over = await zun('bob', 'demo-b', 'create', '--name', 'b2', 'cirros');
    expect(over.code).not.toBe(0);
    expect(over.out).toContain("Quota exceeded for resources: ['containers'] (HTTP 403)");
    const usage = await zun('bob', 'demo-b', 'quota-get', '--usages', 'demo-b');
    expect(usage.out).toMatch(/\|\s*containers\s*\|\s*1\s*\|\s*1\s*\|/);
  });

  it('registries: created with a hidden password, private to the project', async () => {
    const c = await zun('alice', 'demo-a', 'registry-create', '--name', 'areg', '--domain', 'registry.example.com', '--username', 'a', '--password', 'secret');
    expect(c.code, c.out).toBe(0);
    expect(c.out).toMatch(/\|\s*password\s*\|\s*\*\*\*\s*\|/);
    expect(c.out).not.toContain('secret');
    expect((await zun('alice', 'demo-a', 'registry-list')).out).toContain('areg');
    expect((await zun('bob', 'demo-b', 'registry-list')).out).not.toContain('areg');
    expect((await zun('bob', 'demo-b', 'registry-show', 'areg')).out).toContain('Registry areg could not be found');
  });

  it('openstack (keystoneauth) logs in the same way', async () => {
    const r = await cli('openstack', ['appcontainer', 'list', '-f', 'value', '-c', 'name'], 'alice', 'demo-a');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('alice-web');
    const t = await cli('openstack', ['token', 'issue', '-f', 'value', '-c', 'project_id'], 'bob', 'demo-b');
    expect(t.out.trim()).toBe('demo-b');
  });
});
