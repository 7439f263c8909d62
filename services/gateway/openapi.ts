/**
 * The gateway's API as an OpenAPI 3.0 document, written as data. Served at
 * GET /openapi.json and rendered at GET /docs (routes/docs.ts).
 *
 * It covers every route the gateway serves and the rest of Zun's API, which
 * other work will add: those operations carry `x-served: false` (and the
 * docs page says "not yet served"). When the gateway serves the document it
 * marks each operation from its live route table (`isServed`), so the flag
 * never lies; the static flags below are the fallback. A unit test checks
 * that every route fastify has registered is documented.
 *
 * Extensions on operations:
 *   x-served        false when the gateway does not answer it yet (default true)
 *   x-min-version   the first microversion the method exists at ("1.1" unless said)
 *   x-max-version   the last one, for methods Zun removed
 *   x-policy        Zun's default rule and who it allows
 */
import { MAX_VERSION, MIN_VERSION } from './microversion.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json | undefined };
type Schema = { [k: string]: Json | undefined };

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const int = (description?: string): Schema => ({ type: 'integer', ...(description ? { description } : {}) });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: 'object', properties, ...extra });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const nullable = (s: Schema): Schema => ({ ...s, nullable: true });
const boolish = (description: string): Schema => ({ type: 'string', description: `${description} (True/true/False/false, and 1/0/yes/no/on/off where Zun allows them)` });

interface Param {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly description: string;
  readonly required?: boolean;
  readonly schema?: Schema;
}

const pathParam = (name: string, description: string): Param => ({ name, in: 'path', required: true, description, schema: str() });
const query = (name: string, description: string, schema: Schema = str()): Param => ({ name, in: 'query', description, schema });

const IDENT = pathParam('ident', 'A uuid, or a name (a name matching several gives 409).');
const LIST_PARAMS: Param[] = [
  query('limit', 'Page size, 1..1000 (the default and the cap).', int()),
  query('marker', 'The uuid of the last item of the previous page.'),
  query('sort_key', "Sort key (default `id`: creation order)."),
  query('sort_dir', '`asc` (default) or `desc`.'),
];
const ALL_PROJECTS = query('all_projects', 'Every project (admin only; 403 otherwise).', boolish('Boolean'));

interface Op {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly parameters?: readonly Param[];
  readonly requestBody?: Schema;
  /** Status -> description, or [description, schema]. */
  readonly responses: Readonly<Record<string, string | readonly [string, Schema]>>;
  readonly policy?: string;
  readonly minVersion?: string;
  readonly maxVersion?: string;
  readonly served?: boolean;
  /** The request body need not be JSON (actions send none). */
  readonly jsonRequired?: boolean;
}

const ERRORS_ZUN = (codes: readonly number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), [ERROR_TEXT[c] ?? 'Error', ref('ZunError')] as const]));
const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid parameters or body (Zun error body)',
  401: 'No valid X-Auth-Token (Zun error body; WWW-Authenticate names the identity endpoint)',
  403: 'Refused by policy, or over quota (Zun error body)',
  404: 'Not found, or another project\'s (Zun error body)',
  406: 'Microversion not acceptable, or the method does not exist at it (Zun error body)',
  409: 'Invalid state, or an ambiguous name (Zun error body)',
  415: 'The body must be application/json (Zun error body)',
};

function operation(op: Op): Schema {
  const responses: Record<string, Json> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const [description, schema] = typeof r === 'string' ? [r, undefined] : r;
    responses[status] = schema ? { description, content: { 'application/json': { schema } } } : { description };
  }
  const params = [...(op.parameters ?? [])];
  return {
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [...op.tags],
    ...(params.length > 0 ? { parameters: params.map((p) => ({ ...p }) as unknown as Json) } : {}),
    ...(op.requestBody ? { requestBody: { required: true, content: { 'application/json': { schema: op.requestBody } } } } : {}),
    responses,
    'x-served': op.served ?? true,
    'x-min-version': op.minVersion ?? MIN_VERSION,
    ...(op.maxVersion ? { 'x-max-version': op.maxVersion } : {}),
    ...(op.policy ? { 'x-policy': op.policy } : {}),
  };
}

const CONTAINER_ACTION = (name: string, summary: string, opts: Partial<Op> & { states: string }): Op => ({
  summary,
  description: `Allowed from: ${opts.states}. Parameters come from the query string (as the CLI sends them) or a JSON body. 202 with the body \`null\`.`,
  tags: ['containers'],
  parameters: [IDENT, ...(opts.parameters ?? [])],
  responses: { '202': ['Accepted; the body is `null`', { nullable: true }], ...ERRORS_ZUN([400, 401, 404, 406, 409]), ...(opts.responses ?? {}) },
  policy: `container:${name}: admin or owner`,
  ...(opts.served === false ? { served: false } : {}),
  ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
  ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
});

const NOT_YET = { served: false } as const;
const HOST_NOTE =
  "Reaches the container's host actor by NATS request-reply: a host that does not answer within HOST_RPC_TIMEOUT_MS (10 s) is a 409 `host-not-available` naming the host.";

const PATHS: Record<string, Record<string, Op>> = {
  '/': {
    get: {
      summary: 'Versions',
      description: 'Public. The version list clients discover the microversion range with.',
      tags: ['versions'],
      responses: { '200': ['The versions', ref('Versions')] },
    },
  },
  '/v1': {
    get: {
      summary: 'The v1 document',
      description: 'Public. Links to every collection.',
      tags: ['versions'],
      responses: { '200': ['The v1 document', { type: 'object' }] },
    },
  },
  '/v1/containers': {
    post: {
      summary: 'Create (or run) a container',
      description:
        'JSON only (415 otherwise). Fields by microversion as Zun (command is a list from 1.20, host from 1.39, entrypoint from 1.40, ...). ' +
        '`runtime`, `host` and `image_pull_policy` need admin (403); `privileged` is refused to everyone. ' +
        "Counts against the caller's project quota (403 OverQuota). 202 with Location and the view, status `Creating`.",
      tags: ['containers'],
      parameters: [query('run', 'Start it once created.', boolish('Boolean'))],
      requestBody: ref('ContainerCreate'),
      responses: { '202': ['Accepted', ref('Container')], ...ERRORS_ZUN([400, 401, 403, 406, 415]) },
      policy: 'container:create: admin or owner; create:runtime, create:requested_destination, create:image_pull_policy: admin; create:privileged: nobody',
    },
    get: {
      summary: 'List containers',
      description: "The caller's project (every project with all_projects, admin only). Unknown parameters are a 400.",
      tags: ['containers'],
      parameters: [
        ...LIST_PARAMS,
        ALL_PROJECTS,
        ...['name', 'image', 'project_id', 'user_id', 'memory', 'host', 'task_state', 'status', 'auto_remove'].map((f) => query(f, `Filter: ${f} equals.`)),
      ],
      responses: { '200': ['A page', obj({ containers: arr(ref('Container')), next: nullable(str('The next page, when this one is full')) })], ...ERRORS_ZUN([400, 401, 403, 404, 406]) },
      policy: 'container:get_all: admin or owner; container:get_all_all_projects: admin',
    },
  },
  '/v1/containers/{ident}': {
    get: {
      summary: 'Show a container',
      description: "Another project's container is 404. Non-admins do not see host, image_pull_policy, privileged and runtime.",
      tags: ['containers'],
      parameters: [IDENT, ALL_PROJECTS],
      responses: { '200': ['The view', ref('Container')], ...ERRORS_ZUN([400, 401, 403, 404, 406, 409]) },
      policy: 'container:get_one: admin or owner',
    },
    patch: {
      summary: 'Update a container',
      description: 'name, cpu, memory, auto_heal. cpu and memory count against the quota (403 OverQuota). States Created, Running, Stopped, Paused.',
      tags: ['containers'],
      parameters: [IDENT],
      requestBody: ref('ContainerUpdate'),
      responses: { '200': ['The view', ref('Container')], ...ERRORS_ZUN([400, 401, 403, 404, 406, 409]) },
      policy: 'container:update: admin or owner',
    },
    delete: {
      summary: 'Delete a container',
      description: '`force` (1.7+, admin) and `stop` (1.12+). 204.',
      tags: ['containers'],
      parameters: [IDENT, query('force', 'Force (admin).', boolish('Boolean')), query('stop', 'Stop first.', boolish('Boolean')), ALL_PROJECTS],
      responses: { '204': 'Deleted (asynchronously once the host removes it)', ...ERRORS_ZUN([400, 401, 403, 404, 406, 409]) },
      policy: 'container:delete: admin or owner; delete_force, delete_all_projects: admin',
    },
  },
  '/v1/containers/{ident}/start': { post: CONTAINER_ACTION('start', 'Start', { states: 'Created, Stopped, Error' }) },
  '/v1/containers/{ident}/stop': {
    post: CONTAINER_ACTION('stop', 'Stop', { states: 'Running', parameters: [query('timeout', 'Seconds before SIGKILL.', int())] }),
  },
  '/v1/containers/{ident}/reboot': {
    post: CONTAINER_ACTION('reboot', 'Restart', { states: 'Created, Running, Stopped, Error', parameters: [query('timeout', 'Seconds before SIGKILL.', int())] }),
  },
  '/v1/containers/{ident}/pause': { post: CONTAINER_ACTION('pause', 'Pause', { states: 'Running' }) },
  '/v1/containers/{ident}/unpause': { post: CONTAINER_ACTION('unpause', 'Unpause', { states: 'Paused' }) },
  '/v1/containers/{ident}/kill': {
    post: CONTAINER_ACTION('kill', 'Send a signal', { states: 'Running', parameters: [query('signal', 'SIGKILL, KILL, kill, 9, ... (default SIGKILL).')] }),
  },
  '/v1/containers/{ident}/rename': {
    post: {
      summary: 'Rename (before 1.14)',
      description: '1.1-1.13 only; use PATCH `name` from 1.14 (406 there).',
      tags: ['containers'],
      parameters: [IDENT, query('name', 'The new name.')],
      responses: { '200': ['The view', ref('Container')], ...ERRORS_ZUN([400, 401, 404, 406, 409]) },
      policy: 'container:rename: admin or owner',
      maxVersion: '1.13',
    },
  },
  '/v1/containers/{ident}/rebuild': {
    post: CONTAINER_ACTION('rebuild', 'Rebuild from an image', {
      states: 'Created, Running, Stopped, Error',
      parameters: [query('image', 'The image.'), query('image_driver', 'docker or glance.')],
    }),
  },
  '/v1/containers/{ident}/logs': {
    get: {
      summary: 'Logs',
      description: `A JSON string. States Created, Error, Paused, Running, Stopped, Unknown (409 otherwise). ${HOST_NOTE}`,
      tags: ['containers'],
      parameters: [IDENT, query('stdout', 'Bool.'), query('stderr', 'Bool.'), query('timestamps', 'Bool.'), query('tail', 'A number or `all`.'), query('since', 'Epoch seconds or a datetime.')],
      responses: { '200': ['The log text', str()], ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:logs: admin or owner',
    },
  },
  '/v1/containers/{ident}/execute': {
    post: {
      summary: 'Execute a command',
      description:
        `State Running. run=true (default): the output and exit code (5 s limit, then 409). run=false: the exec is created and \`proxy_url\` is a console ` +
        `websocket served by this gateway, \`ws://<gateway>/v1/containers/<uuid>/exec-ws?token=..&uuid=..&exec_id=..\` (subprotocol \`binary\`), bridged to the host over NATS. ${HOST_NOTE}`,
      tags: ['containers'],
      parameters: [IDENT, query('command', 'The command line (required).'), query('run', 'Run now (default true).'), query('interactive', 'Bool.')],
      responses: { '200': ['The result', obj({ output: nullable(str()), exit_code: nullable(int()), exec_id: nullable(str()), proxy_url: nullable(str()) })], ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:execute: admin or owner',
    },
  },
  '/v1/containers/{ident}/execute_resize': {
    post: {
      summary: 'Resize an exec session TTY',
      tags: ['containers'],
      parameters: [IDENT, query('exec_id', '64 hex digits.'), query('h', 'Rows.', int()), query('w', 'Columns.', int())],
      responses: { '200': 'Resized', ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:execute_resize: admin or owner',
    },
  },
  '/v1/containers/{ident}/attach': {
    get: {
      summary: 'Attach URL',
      description:
        'State Running, and the container must be interactive (400 otherwise). A JSON string: `ws://<gateway>/v1/containers/<uuid>/attach-ws?token=..&uuid=..`, ' +
        'a websocket to the container\'s stdin/stdout served by this gateway (tokens expire after 10 minutes).',
      tags: ['containers'],
      parameters: [IDENT],
      responses: { '200': ['A websocket URL (JSON string)', str()], ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:attach: admin or owner',
    },
  },
  '/v1/containers/{ident}/resize': {
    post: {
      summary: 'Resize the TTY',
      tags: ['containers'],
      parameters: [IDENT, query('h', 'Rows.', int()), query('w', 'Columns.', int())],
      responses: { '200': 'Resized', ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:resize: admin or owner',
    },
  },
  '/v1/containers/{ident}/resize_container': {
    post: {
      summary: 'Resize cpu and memory',
      tags: ['containers'],
      parameters: [IDENT],
      requestBody: obj({ cpu: { type: 'number' }, memory: str() }),
      responses: { '202': ['The view', ref('Container')], ...ERRORS_ZUN([400, 401, 403, 404, 406, 409]) },
      policy: 'container:resize_container: admin or owner',
      minVersion: '1.19',
    },
  },
  '/v1/containers/{ident}/top': {
    get: {
      summary: 'Processes',
      tags: ['containers'],
      parameters: [IDENT, query('ps_args', 'ps arguments.')],
      responses: { '200': ['Titles and processes', obj({ Titles: arr(str()), Processes: arr(arr(str())) })], ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:top: admin or owner',
    },
  },
  '/v1/containers/{ident}/stats': {
    get: {
      summary: 'Resource usage',
      tags: ['containers'],
      parameters: [IDENT],
      responses: { '200': ['CPU %, MEM USAGE(MiB), ...', { type: 'object' }], ...ERRORS_ZUN([401, 404, 409]) },
      policy: 'container:stats: admin or owner',
    },
  },
  '/v1/containers/{ident}/get_archive': {
    get: {
      summary: 'Copy out of a container',
      description: `States Created, Paused, Running, Stopped. The tar travels in one NATS message: at most 640 KiB (413 beyond). ${HOST_NOTE}`,
      tags: ['containers'],
      parameters: [IDENT, query('path', 'The path in the container.')],
      responses: { '200': ['The archive (base64 from 1.25) and stat', obj({ data: str(), stat: { type: 'object' } })], ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:get_archive: admin or owner',
    },
  },
  '/v1/containers/{ident}/put_archive': {
    post: {
      summary: 'Copy into a container',
      description: `States Created, Paused, Running, Stopped. At most 640 KiB of tar (413 beyond). 200 with the body \`null\`. ${HOST_NOTE}`,
      tags: ['containers'],
      parameters: [IDENT, query('path', 'The directory in the container.')],
      requestBody: obj({ data: str('A tar archive (base64 from 1.25)') }),
      responses: { '200': 'Copied', ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:put_archive: admin or owner',
    },
  },
  '/v1/containers/{ident}/commit': {
    post: {
      summary: 'Commit to an image',
      description:
        "States Running, Stopped, Paused. `docker commit` on the container's host (paused meanwhile, as Zun does), to the image `repository:tag` on that host (tag default `latest`); there is no Glance here, so nothing is uploaded. As in Zun the 202 comes first: the commit is recorded (a container action) and carried out by the host actor, and `/v1/images` shows the image under the uuid of the 202 once it is made.",
      tags: ['containers'],
      parameters: [IDENT, query('repository', 'Required. A Docker repository name (lowercase).'), query('tag', 'A Docker tag (default latest).')],
      responses: { '202': ['The image uuid', obj({ uuid: str() })], ...ERRORS_ZUN([400, 401, 404, 409]) },
      policy: 'container:commit: admin or owner',
    },
  },
  '/v1/containers/{ident}/add_security_group': {
    post: CONTAINER_ACTION('add_security_group', 'Add a security group', { states: 'any but Deleting', parameters: [query('name', 'The group.')], maxVersion: '1.14', ...NOT_YET }),
  },
  '/v1/containers/{ident}/remove_security_group': {
    post: CONTAINER_ACTION('remove_security_group', 'Remove a security group', { states: 'any but Deleting', parameters: [query('name', 'The group.')], maxVersion: '1.14', ...NOT_YET }),
  },
  '/v1/containers/{ident}/network_attach': {
    post: CONTAINER_ACTION('network_attach', 'Attach a network', {
      states: 'any but Deleting',
      parameters: [query('network', 'Network.'), query('port', 'Port.'), query('fixed_ip', 'Fixed IP.')],
      minVersion: '1.8',
    }),
  },
  '/v1/containers/{ident}/network_detach': {
    post: CONTAINER_ACTION('network_detach', 'Detach a network', {
      states: 'any but Deleting',
      parameters: [query('network', 'Network.'), query('port', 'Port (1.17).')],
      minVersion: '1.6',
    }),
  },
  '/v1/containers/{ident}/network_list': {
    get: {
      summary: 'Networks of a container',
      tags: ['containers'],
      parameters: [IDENT],
      responses: { '200': ['The networks', obj({ networks: arr({ type: 'object' }) })], ...ERRORS_ZUN([401, 404]) },
      policy: 'container:network_list: admin or owner',
      minVersion: '1.13',
    },
  },
  '/v1/containers/{ident}/container_actions': {
    get: {
      summary: 'Actions on a container',
      description: 'Newest first. Derived from the event log: one action per request that appended an intent; it finishes at the host observation that completes it (domain/actions.ts).',
      tags: ['containers'],
      parameters: [IDENT],
      responses: { '200': ['The actions', obj({ containerActions: arr(ref('ContainerAction')) })], ...ERRORS_ZUN([401, 404]) },
      policy: 'container:actions: admin or owner',
    },
  },
  '/v1/containers/{ident}/container_actions/{requestId}': {
    get: {
      summary: 'One action, with its events',
      tags: ['containers'],
      parameters: [IDENT, pathParam('requestId', 'The request id of the action.')],
      responses: { '200': ['The action', ref('ContainerAction')], ...ERRORS_ZUN([401, 404]) },
      policy: 'container:actions: admin or owner; tracebacks: container:action:events (admin)',
    },
  },
  '/v1/capsules': {
    post: {
      summary: 'Create a capsule',
      tags: ['capsules'],
      requestBody: obj({ template: { type: 'object', description: 'The capsule template (a k8s-pod-like object) or its JSON text' } }),
      responses: { '202': ['Accepted', { type: 'object' }], ...ERRORS_ZUN([400, 401, 403, 415]) },
      policy: 'capsule:create: admin or owner',
    },
    get: {
      summary: 'List capsules',
      tags: ['capsules'],
      parameters: [...LIST_PARAMS, ALL_PROJECTS],
      responses: { '200': ['A page', obj({ capsules: arr({ type: 'object' }), next: nullable(str()) })], ...ERRORS_ZUN([400, 401, 403]) },
      policy: 'capsule:get_all: admin or owner',
    },
  },
  '/v1/capsules/{ident}': {
    get: {
      summary: 'Show a capsule',
      tags: ['capsules'],
      parameters: [IDENT],
      responses: { '200': ['The view', { type: 'object' }], ...ERRORS_ZUN([401, 404]) },
      policy: 'capsule:get: admin or owner',
    },
    delete: {
      summary: 'Delete a capsule',
      tags: ['capsules'],
      parameters: [IDENT, ALL_PROJECTS],
      responses: { '204': 'Deleting', ...ERRORS_ZUN([401, 403, 404]) },
      policy: 'capsule:delete: admin or owner',
    },
  },
  '/v1/hosts': {
    get: {
      summary: 'List hosts',
      tags: ['hosts'],
      parameters: LIST_PARAMS,
      responses: { '200': ['A page', obj({ hosts: arr({ type: 'object' }), next: nullable(str()) })], ...ERRORS_ZUN([400, 401, 403, 406]) },
      policy: 'host:get_all: admin',
      minVersion: '1.4',
    },
  },
  '/v1/hosts/{ident}': {
    get: {
      summary: 'Show a host',
      tags: ['hosts'],
      parameters: [pathParam('ident', 'A uuid or a hostname.')],
      responses: { '200': ['The host', { type: 'object' }], ...ERRORS_ZUN([401, 403, 404, 406]) },
      policy: 'host:get: admin',
      minVersion: '1.4',
    },
  },
  '/v1/images': {
    get: {
      summary: 'List images',
      description: 'The tagged images of every live host, asked of each host actor; a host that does not answer is left out.',
      tags: ['images'],
      parameters: LIST_PARAMS,
      responses: { '200': ['A page', obj({ images: arr({ type: 'object' }), next: nullable(str()) })], ...ERRORS_ZUN([400, 401, 403]) },
      policy: 'image:get_all: admin',
    },
    post: {
      summary: 'Pull an image on a host',
      description: 'Synchronous. There is no registry: `always` and `ifnotpresent` succeed without pulling when the host has the image; an absent image is a 400 ImageNotFound saying so.',
      tags: ['images'],
      requestBody: obj({ repo: str(), host: str(), tag: str(), image_id: str(), size: str(), image_pull_policy: str() }, { required: ['repo', 'host'] }),
      responses: { '202': ['The image', { type: 'object' }], ...ERRORS_ZUN([400, 401, 403, 415]) },
      policy: 'image:pull: admin',
    },
  },
  '/v1/images/{ident}': {
    get: {
      summary: 'Show an image',
      tags: ['images'],
      parameters: [pathParam('ident', 'The image uuid.')],
      responses: { '200': ['The image', { type: 'object' }], ...ERRORS_ZUN([401, 403, 404]) },
      policy: 'image:get_one: admin',
    },
    delete: {
      summary: 'Delete an image',
      tags: ['images'],
      parameters: [pathParam('ident', 'The image uuid.')],
      responses: { '200': ['`null`', { nullable: true }], ...ERRORS_ZUN([401, 403, 404]) },
      policy: 'image:delete: admin',
    },
  },
  '/v1/images/{image}/search': {
    get: {
      summary: 'Search the hosts\' local images',
      description: 'There is no registry here: only the images present on the live hosts are searched (substring of the repository, or exact with exact_match).',
      tags: ['images'],
      parameters: [pathParam('image', 'The image name.'), query('image_driver', 'docker or glance.'), query('exact_match', 'Bool.')],
      responses: { '200': ['Matches', arr({ type: 'object' })], ...ERRORS_ZUN([400, 401]) },
      policy: 'image:search: admin or owner',
    },
  },
  '/v1/services': {
    get: {
      summary: 'List services',
      description: 'The host actors (binary zun-compute), live or remembered: state up while the host\'s etcd lease lives and it is not forced down.',
      tags: ['services'],
      responses: { '200': ['The services', obj({ services: arr({ type: 'object' }) })], ...ERRORS_ZUN([401, 403]) },
      policy: 'zun-service:get_all: admin',
    },
    delete: {
      summary: 'Delete a service',
      tags: ['services'],
      parameters: [query('host', 'Host.'), query('binary', 'Binary.')],
      responses: { '200': ['`null`', { nullable: true }], ...ERRORS_ZUN([400, 401, 403, 404]) },
      policy: 'zun-service:delete: admin',
    },
  },
  '/v1/services/enable': {
    put: {
      summary: 'Enable a service',
      tags: ['services'],
      parameters: [query('host', 'Host.'), query('binary', 'Binary.')],
      responses: { '200': ['The service', obj({ service: { type: 'object' } })], ...ERRORS_ZUN([400, 401, 403]) },
      policy: 'zun-service:enable: admin',
    },
  },
  '/v1/services/disable': {
    put: {
      summary: 'Disable a service',
      tags: ['services'],
      parameters: [query('host', 'Host.'), query('binary', 'Binary.'), query('disabled_reason', 'Why.')],
      responses: { '200': ['The service', obj({ service: { type: 'object' } })], ...ERRORS_ZUN([400, 401, 403]) },
      policy: 'zun-service:disable: admin',
    },
  },
  '/v1/services/force_down': {
    put: {
      summary: 'Force a service down',
      tags: ['services'],
      parameters: [query('host', 'Host.'), query('binary', 'Binary.'), query('forced_down', 'Bool.')],
      responses: { '200': ['The service', obj({ service: { type: 'object' } })], ...ERRORS_ZUN([400, 401, 403]) },
      policy: 'zun-service:force_down: admin',
    },
  },
  '/v1/availability_zones': {
    get: {
      summary: 'List availability zones',
      tags: ['availability zones'],
      parameters: LIST_PARAMS,
      responses: { '200': ['The zones', obj({ availability_zones: arr(obj({ availability_zone: str() })), next: nullable(str()) })], ...ERRORS_ZUN([400, 401]) },
      policy: 'availability_zones:get_all: admin or owner',
    },
  },
  '/v1/networks': {
    post: {
      summary: 'Create a Docker network for a Neutron network',
      tags: ['networks'],
      requestBody: obj({ neutron_net_id: str(), name: str() }, { required: ['name'] }),
      responses: { '200': ['The network', { type: 'object' }], ...ERRORS_ZUN([400, 401, 403, 415]) },
      policy: 'network:create: admin',
    },
  },
  '/v1/networks/{ident}': {
    delete: {
      summary: 'Delete a network',
      tags: ['networks'],
      parameters: [pathParam('ident', 'The Neutron network id.')],
      responses: { '204': 'Deleted', ...ERRORS_ZUN([401, 403, 404, 406]) },
      policy: 'network:delete: admin',
      minVersion: '1.27',
    },
  },
  '/v2.0/networks': {
    get: {
      summary: 'Networks the caller may use, in Neutron\'s shape (bridge driver)',
      description: 'The Neutron subset this service serves for its own networks. Filters: name, id (the Neutron id).',
      tags: ['ports'],
      parameters: [query('name', 'Network name.'), query('id', 'Neutron network id.')],
      responses: { '200': ['The networks', obj({ networks: arr({ type: 'object' }) })], ...ERRORS_ZUN([401]) },
    },
  },
  '/v2.0/networks/{id}': {
    get: {
      summary: 'One network in Neutron\'s shape, with its subnet ids',
      tags: ['ports'],
      parameters: [pathParam('id', 'Neutron id, Zun id or name.')],
      responses: { '200': ['The network', obj({ network: { type: 'object' } })], ...ERRORS_ZUN([401, 404, 409]) },
    },
  },
  '/v2.0/subnets': {
    get: {
      summary: 'Subnets of the networks the caller may use: an IPv4 /24 and an IPv6 /64 each',
      tags: ['ports'],
      parameters: [query('network_id', 'Neutron network id.')],
      responses: { '200': ['The subnets', obj({ subnets: arr(obj({ id: str(), network_id: str(), ip_version: { type: 'integer' }, cidr: str(), gateway_ip: str() })) })], ...ERRORS_ZUN([401]) },
    },
  },
  '/v2.0/ports': {
    get: {
      summary: 'Ports the caller may see',
      tags: ['ports'],
      parameters: [query('network_id', 'Neutron network id.'), query('device_id', 'The container holding it.'), query('name', 'Port name.')],
      responses: { '200': ['The ports', obj({ ports: arr(ref('Port')) })], ...ERRORS_ZUN([401]) },
    },
    post: {
      summary: 'Create a port on a network (its addresses decided fenced on the network)',
      description:
        'Without fixed_ips the port gets one address of each subnet, from the top of the subnet down; with fixed_ips, exactly those ' +
        '(`ip_address`, or `subnet_id` for one chosen). Use it with `nets: [{"port": "<id>"}]` or network_attach port=<id>. ' +
        '409 when an address is taken, 400 when outside the subnets or the gateway.',
      tags: ['ports'],
      requestBody: obj({ port: obj({ network_id: str(), name: str(), fixed_ips: arr(obj({ ip_address: str(), subnet_id: str() })) }, { required: ['network_id'] }) }, { required: ['port'] }),
      responses: { '201': ['The port', obj({ port: ref('Port') })], ...ERRORS_ZUN([400, 401, 404, 409, 415]) },
    },
  },
  '/v2.0/ports/{id}': {
    get: {
      summary: 'One port; device_id is the container holding it',
      tags: ['ports'],
      parameters: [pathParam('id', 'The port id.')],
      responses: { '200': ['The port', obj({ port: ref('Port') })], ...ERRORS_ZUN([401, 404]) },
    },
    delete: {
      summary: 'Delete a port (400 PortInUse while a live container holds it)',
      tags: ['ports'],
      parameters: [pathParam('id', 'The port id.')],
      responses: { '204': 'Deleted', ...ERRORS_ZUN([400, 401, 404]) },
    },
  },
  '/v1/quotas/{project_id}': {
    get: {
      summary: "A project's quota",
      description:
        "Limits (the project's own, else the `default` quota class's, else the configured defaults); with usages=true each resource is {limit, in_use}. " +
        "Another project's is 403 for non-admins (the project is named in the URL).",
      tags: ['quotas'],
      parameters: [pathParam('project_id', 'The project.'), query('usages', 'Include usage.', boolish('Boolean'))],
      responses: { '200': ['The limits', { oneOf: [ref('QuotaLimits'), ref('QuotaUsages')] }], ...ERRORS_ZUN([400, 401, 403, 406]) },
      policy: 'quota:get: admin or owner',
    },
    put: {
      summary: "Set a project's limits",
      description: 'Integers (or integer strings), -1 for unlimited; from the query string or a JSON body. Unknown keys are a 400. Stored as events (aggregate `quota`).',
      tags: ['quotas'],
      parameters: [pathParam('project_id', 'The project.')],
      requestBody: ref('QuotaUpdate'),
      responses: { '200': ['The limits', ref('QuotaLimits')], ...ERRORS_ZUN([400, 401, 403, 406]) },
      policy: 'quota:update: admin',
    },
    delete: {
      summary: "Drop a project's limits",
      description: 'Back to the defaults. 200 with the body `null`.',
      tags: ['quotas'],
      parameters: [pathParam('project_id', 'The project.')],
      responses: { '200': ['`null`', { nullable: true }], ...ERRORS_ZUN([401, 403, 406]) },
      policy: 'quota:delete: admin',
    },
  },
  '/v1/quotas/{project_id}/defaults': {
    get: {
      summary: 'The default limits',
      tags: ['quotas'],
      parameters: [pathParam('project_id', 'The project.')],
      responses: { '200': ['The limits', ref('QuotaLimits')], ...ERRORS_ZUN([401, 403, 406]) },
      policy: 'quota:get_default: admin or owner',
    },
  },
  '/v1/quota_classes/{name}': {
    get: {
      summary: "A quota class's limits",
      description: 'The class `default` replaces the configured defaults.',
      tags: ['quota classes'],
      parameters: [pathParam('name', 'The class.')],
      responses: { '200': ['The limits', ref('QuotaLimits')], ...ERRORS_ZUN([401, 403, 406]) },
      policy: 'quota_class:get: admin',
    },
    put: {
      summary: "Set a quota class's limits",
      tags: ['quota classes'],
      parameters: [pathParam('name', 'The class.')],
      requestBody: ref('QuotaUpdate'),
      responses: { '200': ['The limits', ref('QuotaLimits')], ...ERRORS_ZUN([400, 401, 403, 406]) },
      policy: 'quota_class:update: admin',
    },
  },
  '/v1/audit': {
    get: {
      summary: 'Query the audit record',
      description:
        'Entries of the hash-chained audit record (services/audit), exactly as recorded, so a client can re-verify them. A member sees only their own project\'s entries (naming another project is 403); an admin sees all. Served when the gateway is given the audit directory (AUDIT_DIR).',
      tags: ['audit'],
      parameters: [
        ...['project_id', 'user_id', 'aggregate_id', 'type'].map((f) => query(f, `Filter: ${f} equals.`)),
        query('since', 'occurredAt at or after (ISO-8601).'),
        query('until', 'occurredAt at or before (ISO-8601).'),
        query('limit', 'Page size (default 100, at most 1000).'),
        query('marker', 'The last auditSeq of the previous page.'),
      ],
      responses: { '200': ['A page of entries', obj({ audit: arr(obj({})), next: nullable(str()), integrity: obj({}) })], ...ERRORS_ZUN([400, 401, 403]) },
      policy: 'owner (own project) or admin (all)',
    },
  },
  '/v1/audit/head': {
    get: {
      summary: 'The audit chain head, to anchor elsewhere',
      tags: ['audit'],
      responses: { '200': ['The head', obj({ head: obj({}), ok: { type: 'boolean' }, entries: { type: 'integer' } })], ...ERRORS_ZUN([401, 403]) },
      policy: 'admin',
    },
  },
  '/v1/registries': {
    post: {
      summary: 'Create a registry',
      description: 'JSON only (415 otherwise). The password is encrypted before it is stored and always shown as "***". 201 with Location.',
      tags: ['registries'],
      requestBody: obj({ registry: ref('RegistryCreate') }, { required: ['registry'], additionalProperties: false }),
      responses: { '201': ['Created', obj({ registry: ref('Registry') })], ...ERRORS_ZUN([400, 401, 406, 415]) },
      policy: 'registry:create: admin or owner',
    },
    get: {
      summary: 'List registries',
      tags: ['registries'],
      parameters: [...LIST_PARAMS, ALL_PROJECTS, ...['name', 'domain', 'username', 'project_id', 'user_id'].map((f) => query(f, `Filter: ${f} equals.`))],
      responses: { '200': ['A page', obj({ registries: arr(ref('Registry')), next: nullable(str()) })], ...ERRORS_ZUN([400, 401, 403, 404, 406]) },
      policy: 'registry:get_all: admin or owner; registry:get_all_all_projects: admin',
    },
  },
  '/v1/registries/{ident}': {
    get: {
      summary: 'Show a registry',
      tags: ['registries'],
      parameters: [IDENT],
      responses: { '200': ['The registry', obj({ registry: ref('Registry') })], ...ERRORS_ZUN([401, 404, 406, 409]) },
      policy: 'registry:get_one: admin or owner',
    },
    patch: {
      summary: 'Update a registry',
      tags: ['registries'],
      parameters: [IDENT],
      requestBody: obj({ registry: ref('RegistryUpdate') }, { required: ['registry'], additionalProperties: false }),
      responses: { '200': ['The registry', obj({ registry: ref('Registry') })], ...ERRORS_ZUN([400, 401, 404, 406, 409]) },
      policy: 'registry:update: admin or owner',
    },
    delete: {
      summary: 'Delete a registry',
      tags: ['registries'],
      parameters: [IDENT],
      responses: { '204': 'Deleted', ...ERRORS_ZUN([401, 404, 406, 409]) },
      policy: 'registry:delete: admin or owner',
    },
  },
  '/identity': {
    get: {
      summary: 'Identity versions',
      description: 'Public; local identity mode only. 300 Multiple Choices, as Keystone.',
      tags: ['identity'],
      responses: { '300': ['The versions', { type: 'object' }] },
    },
  },
  '/identity/v3': {
    get: {
      summary: 'Identity v3 version document (OS_AUTH_URL)',
      description: 'Public; local identity mode only.',
      tags: ['identity'],
      responses: { '200': ['The version', { type: 'object' }] },
    },
  },
  '/identity/v3/auth/tokens': {
    post: {
      summary: 'Log in (Keystone v3 password or token method)',
      description:
        'Public; local identity mode only. Project scope by id, or by name and domain; no scope gives an unscoped token (useless on /v1). ' +
        'The token is in the X-Subject-Token header; the catalog points `container` at this gateway\'s /v1. Errors are Keystone\'s {"error":{code,title,message}}.',
      tags: ['identity'],
      parameters: [query('nocatalog', 'Leave the catalog out.')],
      requestBody: ref('KeystoneAuth'),
      responses: { '201': ['The token (X-Subject-Token header)', ref('KeystoneToken')], '400': ['Bad request', ref('KeystoneError')], '401': ['Bad credentials', ref('KeystoneError')], '415': ['Not JSON', ref('KeystoneError')] },
    },
    get: {
      summary: 'Validate a token',
      description: 'X-Auth-Token: the caller\'s token; X-Subject-Token: the token to check (one\'s own, or any for an admin).',
      tags: ['identity'],
      parameters: [
        { name: 'X-Auth-Token', in: 'header', required: true, description: "The caller's token." },
        { name: 'X-Subject-Token', in: 'header', required: true, description: 'The token to validate.' },
        query('nocatalog', 'Leave the catalog out.'),
      ],
      responses: { '200': ['The token', ref('KeystoneToken')], '401': ['Bad X-Auth-Token', ref('KeystoneError')], '403': ['Not yours', ref('KeystoneError')], '404': ['Invalid or expired subject token', ref('KeystoneError')] },
    },
    delete: {
      summary: 'Revoke a token',
      description: 'Revocations are kept by the gateway that received them, until the token expires.',
      tags: ['identity'],
      parameters: [
        { name: 'X-Auth-Token', in: 'header', required: true, description: "The caller's token." },
        { name: 'X-Subject-Token', in: 'header', required: true, description: 'The token to revoke.' },
      ],
      responses: { '204': 'Revoked', '401': ['Bad X-Auth-Token', ref('KeystoneError')], '403': ['Not yours', ref('KeystoneError')], '404': ['Invalid or expired subject token', ref('KeystoneError')] },
    },
  },
  '/openapi.json': {
    get: { summary: 'This document', description: 'Public.', tags: ['documentation'], responses: { '200': ['OpenAPI 3.0', { type: 'object' }] } },
  },
  '/docs': {
    get: { summary: 'This document, rendered', description: 'Public; a self-contained HTML page.', tags: ['documentation'], responses: { '200': 'text/html' } },
  },
};

const QUOTA_VALUE: Schema = { oneOf: [int(), { type: 'string', pattern: '^-?[0-9]+$' }], description: 'An integer >= -1 (-1: unlimited)' };

const SCHEMAS: Record<string, Schema> = {
  ZunError: obj(
    {
      errors: arr(
        obj({
          request_id: str(),
          code: str('`container.<kebab-case exception>`'),
          status: int(),
          title: str(),
          detail: str(),
          links: arr({}),
        }),
      ),
    },
    { required: ['errors'] },
  ),
  KeystoneError: obj({ error: obj({ code: int(), title: str(), message: str() }) }),
  Port: obj({
    id: str(),
    name: str(),
    network_id: str('Neutron network id.'),
    project_id: str(),
    mac_address: nullable(str('What Docker derives from the IPv4 address.')),
    status: str('ACTIVE while a container holds it, else DOWN.'),
    device_id: str('The container holding it, or empty.'),
    device_owner: str(),
    fixed_ips: arr(obj({ subnet_id: str(), ip_address: str() })),
  }),
  Versions: obj({
    name: str(),
    description: str(),
    versions: arr(obj({ id: str(), links: arr({ type: 'object' }), status: str(), max_version: str(), min_version: str() })),
    default_version: { type: 'object' },
  }),
  Container: obj({
    uuid: str(),
    links: arr(obj({ href: str(), rel: str() })),
    name: str(),
    image: str(),
    command: arr(str()),
    status: str(),
    status_reason: nullable(str()),
    status_detail: nullable(str()),
    task_state: nullable(str()),
    cpu: { type: 'number' },
    memory: str('MiB, as a string'),
    environment: { type: 'object', additionalProperties: str() },
    workdir: nullable(str()),
    ports: nullable(arr(int())),
    hostname: nullable(str()),
    labels: { type: 'object', additionalProperties: str() },
    addresses: { type: 'object' },
    image_pull_policy: str('Admin only'),
    host: nullable(str('Admin only')),
    restart_policy: obj({ Name: str(), MaximumRetryCount: str() }),
    interactive: bool(),
    tty: bool(),
    image_driver: str(),
    security_groups: arr(str()),
    auto_remove: bool(),
    runtime: nullable(str('Admin only')),
    disk: int(),
    auto_heal: bool(),
    privileged: bool('Admin only'),
    healthcheck: nullable({ type: 'object' }),
    cpu_policy: str(),
    registry_id: nullable(str()),
    entrypoint: nullable(arr(str())),
    user_id: str(),
    project_id: str(),
    created_at: nullable(str()),
    updated_at: nullable(str()),
  }),
  ContainerCreate: obj(
    {
      name: str('2-255, ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$'),
      image: str('Required'),
      command: { oneOf: [arr(str()), str()], description: 'A list from 1.20; a shell-split string before' },
      entrypoint: arr(str('1.40')),
      cpu: { oneOf: [{ type: 'number' }, str()], description: '0.1-16' },
      memory: { oneOf: [int(), str()], description: 'MiB, 4-8192' },
      disk: { oneOf: [int(), str()], description: 'GB, 1-160' },
      workdir: str(),
      hostname: str('1.9'),
      environment: { type: 'object', additionalProperties: str() },
      labels: { type: 'object', additionalProperties: str() },
      image_driver: str('docker or glance'),
      image_pull_policy: str('Admin only'),
      restart_policy: obj({ Name: str(), MaximumRetryCount: { oneOf: [int(), str()] } }),
      interactive: bool(),
      tty: bool('1.36'),
      auto_remove: bool('1.3'),
      auto_heal: bool(),
      runtime: str('1.5, admin only'),
      nets: arr(obj({ network: str(), port: str(), 'v4-fixed-ip': str(), 'v6-fixed-ip': str() })),
      mounts: arr(obj({ source: str(), size: { oneOf: [int(), str()] }, destination: str(), type: str('volume or bind (1.23)') })),
      security_groups: arr(str()),
      exposed_ports: { type: 'object', description: '1.24' },
      healthcheck: obj({ cmd: str(), interval: int(), retries: int(), timeout: int() }),
      privileged: bool('1.21; refused to everyone by the default policy'),
      cpu_policy: str('shared or dedicated'),
      registry: str('1.31'),
      hints: { type: 'object', additionalProperties: str() },
      availability_zone: str(),
      host: str('1.39, admin only'),
    },
    { required: ['image'], additionalProperties: false },
  ),
  ContainerUpdate: obj(
    { name: str(), cpu: { oneOf: [{ type: 'number' }, str()] }, memory: { oneOf: [int(), str()] }, auto_heal: bool() },
    { additionalProperties: false },
  ),
  ContainerAction: obj({
    action: str(),
    container_uuid: str(),
    request_id: str(),
    user_id: str(),
    project_id: str(),
    start_time: str(),
    finish_time: nullable(str()),
    message: nullable(str()),
    events: arr({ type: 'object' }),
  }),
  QuotaLimits: obj({ containers: int(), memory: int('MiB'), disk: int('GB'), cpu: int() }),
  QuotaUsages: obj(
    Object.fromEntries(['containers', 'memory', 'disk', 'cpu'].map((r) => [r, obj({ limit: int(), in_use: { type: 'number' } })])),
  ),
  QuotaUpdate: obj({ containers: QUOTA_VALUE, memory: QUOTA_VALUE, disk: QUOTA_VALUE, cpu: QUOTA_VALUE }, { additionalProperties: false }),
  Registry: obj({
    uuid: str(),
    links: arr(obj({ href: str(), rel: str() })),
    name: nullable(str()),
    domain: str(),
    username: nullable(str()),
    password: str('Always "***"'),
    user_id: str(),
    project_id: str(),
  }),
  RegistryCreate: obj(
    { name: str('2-255, ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$'), domain: str('Required'), username: str(), password: str() },
    { required: ['domain'], additionalProperties: false },
  ),
  RegistryUpdate: obj({ name: str(), domain: str(), username: str(), password: str() }, { additionalProperties: false }),
  KeystoneAuth: obj({
    auth: obj({
      identity: obj({
        methods: arr(str('password or token')),
        password: obj({ user: obj({ id: str(), name: str(), domain: obj({ id: str(), name: str() }), password: str() }) }),
        token: obj({ id: str() }),
      }),
      scope: obj({ project: obj({ id: str(), name: str(), domain: obj({ id: str(), name: str() }) }) }),
    }),
  }),
  KeystoneToken: obj({
    token: obj({
      methods: arr(str()),
      user: obj({ id: str(), name: str(), domain: obj({ id: str(), name: str() }) }),
      project: obj({ id: str(), name: str(), domain: obj({ id: str(), name: str() }) }),
      roles: arr(obj({ id: str(), name: str() })),
      catalog: arr({ type: 'object' }),
      expires_at: str(),
      issued_at: str(),
      audit_ids: arr(str()),
    }),
  }),
};

const TAGS: readonly (readonly [string, string])[] = [
  ['versions', 'Version discovery (public)'],
  ['identity', 'The built-in Keystone v3 subset (local identity mode)'],
  ['containers', 'Containers'],
  ['capsules', 'Capsules (groups of containers)'],
  ['quotas', 'Quotas per project'],
  ['quota classes', 'Quota classes'],
  ['registries', 'Private image registries'],
  ['hosts', 'Compute hosts (admin)'],
  ['images', 'Images (admin)'],
  ['services', 'Services (admin)'],
  ['availability zones', 'Availability zones'],
  ['networks', 'Networks (admin)'],
  ['ports', 'Ports, networks and subnets in Neutron\'s shape (bridge driver)'],
  ['documentation', 'This description'],
];

export interface OpenApiOptions {
  /** Where it is served (links only). */
  readonly serverUrl?: string;
  /** Whether the gateway answers this operation (method upper case, path as documented). */
  readonly isServed?: (method: string, path: string) => boolean;
}

/** The document. */
export function openApiDocument(opts: OpenApiOptions = {}): Record<string, Json> {
  const serverUrl = opts.serverUrl;
  const paths: Record<string, Json> = {};
  for (const [path, ops] of Object.entries(PATHS)) {
    paths[path] = Object.fromEntries(
      Object.entries(ops).map(([method, op]) => {
        const served = opts.isServed ? opts.isServed(method.toUpperCase(), path) : (op.served ?? true);
        return [method, operation({ ...op, served }) as Json];
      }),
    );
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'OpenStack Zun API (event-sourced gateway)',
      version: MAX_VERSION,
      description:
        `Zun's REST API v1 with microversions ${MIN_VERSION}-${MAX_VERSION} (header \`OpenStack-API-Version: container X.Y\`; absent means ${MIN_VERSION}; \`latest\` means ${MAX_VERSION}). ` +
        'Every /v1 response carries OpenStack-API-Minimum-Version, OpenStack-API-Maximum-Version and OpenStack-API-Version; every response carries x-openstack-request-id. ' +
        'Paths without /v1 are the same resources (/containers = /v1/containers); trailing slashes are accepted. ' +
        'Errors on /v1 are Zun\'s {"errors":[{request_id, code, status, title, detail, links}]}. ' +
        'Authentication: X-Auth-Token (a token from /identity/v3/auth/tokens in the local mode, or from Keystone in the keystone mode). ' +
        'Public: /, /v1, /identity/..., /openapi.json, /docs. Operations marked x-served: false are part of Zun\'s API but not answered by this gateway yet.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    tags: TAGS.map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: SCHEMAS as Record<string, Json>,
      securitySchemes: { token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' } },
    },
    security: [{ token: [] }],
  };
}

/** A path with its parameter names erased: `/v1/containers/{}`; fastify's `:ident` and the document's `{ident}` alike. */
export const pathShape = (path: string): string => path.replace(/[:{]([A-Za-z_][A-Za-z0-9_]*)\}?/g, '{}').replace(/(.)\/$/, '$1');

/** `(method, path)` of every documented operation, with its static served flag. */
export function documentedOperations(): { method: string; path: string; served: boolean }[] {
  return Object.entries(PATHS).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, served: op.served ?? true })));
}
