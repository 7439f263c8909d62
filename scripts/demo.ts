/**
 * The main job that `scripts/up.sh` runs once the system is up: drive the
 * Zun API the way `openstack appcontainer run --wait` does, and show the
 * result in the API and in Docker.
 *
 *   node --import tsx scripts/demo.ts [--gateway http://127.0.0.1:9517] [--keep]
 */
import { parseArgs } from 'node:util';
import Docker from 'dockerode';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: process.env['GATEWAY_URL'] ?? 'http://127.0.0.1:9517' },
    keep: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '60' },
    // The built-in identity's example admin (etc/users.example.yaml). With AUTH_MODE=noauth no login happens.
    user: { type: 'string', default: process.env['OS_USERNAME'] ?? 'admin' },
    password: { type: 'string', default: process.env['OS_PASSWORD'] ?? 'admin-pass' },
    project: { type: 'string', default: process.env['OS_PROJECT_NAME'] ?? 'admin' },
  },
});
const base = values.gateway!;
const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json', 'OpenStack-API-Version': 'container 1.40' };
const step = (msg: string) => process.stdout.write(`==> ${msg}\n`);

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

step(`version document at ${base}/`);
const root = await call('GET', '/');
process.stdout.write(`    ${root.json.name}: ${root.json.versions[0].min_version} .. ${root.json.versions[0].max_version}\n`);

step(`POST /identity/v3/auth/tokens  (password login as ${values.user}, project ${values.project}, as the zun CLI does)`);
const login = await fetch(`${base}/identity/v3/auth/tokens`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({
    auth: {
      identity: { methods: ['password'], password: { user: { name: values.user, domain: { name: 'Default' }, password: values.password } } },
      scope: { project: { name: values.project, domain: { name: 'Default' } } },
    },
  }),
});
if (login.status === 201) {
  headers['X-Auth-Token'] = login.headers.get('x-subject-token')!;
  process.stdout.write(`    201: token issued\n`);
} else {
  process.stdout.write(`    ${login.status}: no token (the gateway may run with AUTH_MODE=noauth); going on without one\n`);
}

const name = `demo-${Date.now().toString(36)}`;
step(`POST /v1/containers?run=true  name=${name} image=zun-base:latest command=[sleep, 3600]`);
const created = await call('POST', '/v1/containers?run=true', {
  name, image: 'zun-base:latest', command: ['sleep', '3600'], cpu: 0.5, memory: '64', image_pull_policy: 'ifnotpresent',
});
if (created.status !== 202) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.json)}`);
const uuid = created.json.uuid as string;
process.stdout.write(`    202 Accepted: uuid=${uuid} status=${created.json.status}\n`);

step('waiting for Running (polling GET /v1/containers/<uuid>, as --wait does)');
const deadline = Date.now() + Number(values.timeout) * 1000;
let view: any;
for (;;) {
  view = (await call('GET', `/v1/containers/${uuid}`)).json;
  process.stdout.write(`    status=${view.status} task_state=${view.task_state} host=${view.host}\n`);
  if (view.status === 'Running') break;
  if (view.status === 'Error') throw new Error(`container went to Error: ${view.status_reason}`);
  if (Date.now() > deadline) throw new Error('timed out waiting for Running');
  await new Promise((r) => setTimeout(r, 500));
}

step('the same container in Docker');
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
for (const c of await docker.listContainers({ all: true, filters: { label: [`zun.container.uuid=${uuid}`] } })) {
  const info = await docker.getContainer(c.Id).inspect();
  process.stdout.write(`    ${c.Names[0]} ${c.State} "${c.Status}" image=${c.Image} memory=${info.HostConfig.Memory} nanocpus=${info.HostConfig.NanoCpus}\n`);
}

step('GET /v1/containers');
for (const c of (await call('GET', '/v1/containers')).json.containers) process.stdout.write(`    ${c.uuid} ${c.name} ${c.status}\n`);

if (!values.keep) {
  step(`DELETE /v1/containers/${uuid}?stop=true`);
  const del = await call('DELETE', `/v1/containers/${uuid}?stop=true`);
  process.stdout.write(`    ${del.status}\n`);
  for (;;) {
    const r = await call('GET', `/v1/containers/${uuid}`);
    if (r.status === 404) break;
    if (Date.now() > deadline + 30_000) throw new Error('timed out waiting for the delete');
    await new Promise((res) => setTimeout(res, 500));
  }
  process.stdout.write('    gone (404)\n');
}
step('done');
