/**
 * Response documents: Zun's container view, the version documents and the
 * collection envelope. Pure functions of state and the request's base URL.
 *
 * Sources: zun/api/controllers/v1/views/containers_view.py, root.py,
 * v1/__init__.py, link.py, v1/collection.py.
 */
import { addressesOf, type ContainerState } from '../../domain/container.js';
import { MAX_VERSION, MIN_VERSION } from './microversion.js';

export interface ViewOptions {
  /** `scheme://host[:port]`, no trailing slash (pecan's host_url). */
  readonly baseUrl: string;
  /** Admin-only fields (host, image_pull_policy, privileged, runtime) are shown to admins only. */
  readonly admin: boolean;
}

/** link.build_url: bookmark links have no `/v1`. */
export function buildUrl(baseUrl: string, resource: string, args: string, bookmark = false): string {
  const head = bookmark ? `${baseUrl}/${resource}` : `${baseUrl}/v1/${resource}`;
  return args.startsWith('?') ? `${head}${args}` : `${head}/${args}`;
}

const link = (rel: string, baseUrl: string, resource: string, args: string, bookmark = false) => ({
  href: buildUrl(baseUrl, resource, args, bookmark),
  rel,
});

/**
 * Python's `str(datetime)` of a naive UTC datetime, as pecan renders Zun's
 * timestamps: `2019-05-18 21:02:12.304734`, without the fraction when it is 0.
 */
export function pyDatetime(iso: string | null): string | null {
  if (iso === null) return null;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?:Z|\+00:00)$/.exec(iso);
  if (!m) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return pyDatetime(d.toISOString());
  }
  const micros = (m[3] ?? '').padEnd(6, '0').slice(0, 6);
  return /^0*$/.test(micros) ? `${m[1]} ${m[2]}` : `${m[1]} ${m[2]}.${micros}`;
}

const ADMIN_FIELDS = ['host', 'image_pull_policy', 'privileged', 'runtime'] as const;

/** The container view. `s` must be a created container (status not null). */
export function containerView(s: ContainerState, opts: ViewOptions): Record<string, unknown> {
  const spec = s.spec;
  if (spec === null) throw new TypeError(`container ${s.uuid} has no spec: not created`);
  const ports = [...new Set(spec.exposedPorts.map((p) => Number.parseInt(p.split('/')[0]!, 10)))];
  const view: Record<string, unknown> = {
    uuid: s.uuid,
    links: [link('self', opts.baseUrl, 'containers', s.uuid), link('bookmark', opts.baseUrl, 'containers', s.uuid, true)],
    name: spec.name,
    image: spec.image,
    command: spec.command,
    status: s.status,
    status_reason: s.statusReason,
    status_detail: null,
    task_state: s.taskState,
    cpu: spec.cpu,
    memory: String(spec.memory),
    environment: spec.environment,
    workdir: spec.workdir,
    ports: ports.length > 0 ? ports : null,
    hostname: spec.hostname,
    labels: spec.labels,
    addresses: addressesOf(s),
    image_pull_policy: spec.imagePullPolicy,
    host: s.host,
    restart_policy: { Name: spec.restartPolicy.name, MaximumRetryCount: String(spec.restartPolicy.maximumRetryCount) },
    interactive: spec.interactive,
    tty: spec.tty,
    image_driver: spec.imageDriver,
    security_groups: spec.securityGroups,
    auto_remove: spec.autoRemove,
    runtime: spec.runtime,
    disk: spec.disk ?? 0,
    auto_heal: spec.autoHeal,
    privileged: spec.privileged,
    healthcheck: spec.healthcheck,
    cpu_policy: spec.cpuPolicy,
    registry_id: spec.registryId,
    entrypoint: spec.entrypoint,
    user_id: s.userId,
    project_id: s.projectId,
    created_at: pyDatetime(s.createdAt),
    updated_at: pyDatetime(s.updatedAt),
  };
  if (!opts.admin) for (const f of ADMIN_FIELDS) delete view[f];
  return view;
}

/** GET / (root.py): the version list the clients discover with. */
export function rootDocument(baseUrl: string) {
  const v1 = () => ({
    id: 'v1',
    links: [link('self', baseUrl, 'v1', '', true)],
    status: 'CURRENT',
    max_version: MAX_VERSION,
    min_version: MIN_VERSION,
  });
  return {
    name: 'OpenStack Zun API',
    description: 'Zun is an OpenStack project which aims to provide containers service.',
    versions: [v1()],
    default_version: v1(),
  };
}

const V1_COLLECTIONS = [
  'services',
  'containers',
  'images',
  'networks',
  'hosts',
  'capsules',
  'availability_zones',
  'quotas',
  'quota_classes',
  'registries',
] as const;

/** GET /v1 (v1/__init__.py). */
export function v1Document(baseUrl: string) {
  const doc: Record<string, unknown> = {
    id: 'v1',
    media_types: [{ base: 'application/json', type: 'application/vnd.openstack.zun.v1+json' }],
    links: [
      link('self', baseUrl, 'v1', '', true),
      {
        href: 'https://docs.openstack.org/developer/zun/dev/api-spec-v1.html',
        rel: 'describedby',
        type: 'text/html',
      },
    ],
  };
  for (const c of V1_COLLECTIONS) doc[c] = [link('self', baseUrl, c, ''), link('bookmark', baseUrl, c, '', true)];
  return doc;
}

/** collection.get_next: a link only when the page is full. */
export function nextLink(
  baseUrl: string,
  resource: string,
  page: readonly { readonly uuid: string }[],
  limit: number,
  args: readonly (readonly [string, string])[],
): string | null {
  if (page.length === 0 || page.length !== limit) return null;
  const q = args.map(([k, v]) => `${k}=${encodeURIComponent(v)}&`).join('');
  return buildUrl(baseUrl, resource, `?${q}limit=${limit}&marker=${page[page.length - 1]!.uuid}`);
}
