/**
 * Zun's capsule view (zun/api/controllers/v1/views/capsules_view.py), both
 * shapes: before 1.32 (`meta_name`, `meta_labels`, the restart policy's Name
 * only, plus `volumes_info`, `containers_uuids`, `init_containers_uuids`,
 * `capsule_version`) and from 1.32. Members are shown as container views
 * without links (containers_view.format_container with url None). Pure.
 */
import type { CapsuleContainerSpec } from '../../events/index.js';
import type { CapsuleState } from '../../domain/capsule.js';
import { capsuleMember } from '../../domain/capsule.js';
import { capsuleMemberRestartPolicy } from '../../domain/capsule-template.js';
import { buildUrl, pyDatetime } from './views.js';

export interface CapsuleViewOptions {
  readonly baseUrl: string;
  /** capsule:get:host and the members' admin-only fields. */
  readonly admin: boolean;
  /** Requested microversion below 1.32. */
  readonly legacy: boolean;
}

/** Zun's `addresses` of the capsule (its sandbox's networks). */
export function capsuleAddresses(s: CapsuleState): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const n of Object.values(s.networks ?? {})) out[n.neutronNetId] = [...n.addresses];
  return out;
}

/** A member's status: what the host reported of it, within its capsule's life. */
export function memberStatus(s: CapsuleState, name: string): string {
  if (s.status === 'Deleted') return 'Deleted';
  if (s.deleteRequested) return 'Deleting';
  const m = capsuleMember(s, name);
  if (m.running) return 'Running';
  if (m.exits > 0) return 'Stopped';
  if (s.status === 'Error' || s.status === 'Unknown') return s.status;
  return s.sandboxId ? 'Created' : 'Creating';
}

function memberView(s: CapsuleState, m: CapsuleContainerSpec, role: 'init' | 'container', opts: CapsuleViewOptions): Record<string, unknown> {
  const policy = capsuleMemberRestartPolicy(s.spec?.restartPolicy ?? 'always', role);
  const ports = [...new Set(m.exposedPorts.map((p) => Number.parseInt(p.split('/')[0]!, 10)))];
  const status = memberStatus(s, m.name);
  const view: Record<string, unknown> = {
    uuid: m.uuid ?? null,
    name: m.name,
    image: m.image,
    command: m.command,
    status,
    status_reason: null,
    status_detail: null,
    task_state: status === 'Deleting' ? 'container_deleting' : status === 'Creating' ? 'container_creating' : null,
    cpu: m.cpu ?? 1.0,
    memory: m.memory === null ? null : String(m.memory),
    environment: m.environment,
    workdir: m.workdir,
    ports: ports.length > 0 ? ports : null,
    hostname: null,
    labels: {},
    addresses: capsuleAddresses(s),
    image_pull_policy: m.imagePullPolicy,
    host: s.host,
    restart_policy: policy,
    interactive: m.interactive,
    tty: m.tty,
    image_driver: 'docker',
    security_groups: [],
    auto_remove: false,
    runtime: null,
    disk: 0,
    auto_heal: false,
    privileged: false,
    healthcheck: null,
    cpu_policy: 'shared',
    registry_id: null,
    entrypoint: null,
    user_id: s.userId,
    project_id: s.projectId,
    created_at: pyDatetime(s.createdAt),
    updated_at: pyDatetime(s.updatedAt),
  };
  if (!opts.admin) for (const f of ['host', 'image_pull_policy', 'privileged', 'runtime']) delete view[f];
  return view;
}

/** The capsule view. `s` must be a created capsule (spec not null). */
export function capsuleView(s: CapsuleState, opts: CapsuleViewOptions): Record<string, unknown> {
  const spec = s.spec;
  if (spec === null) throw new TypeError(`capsule ${s.uuid} has no spec: not created`);
  const restart = { Name: spec.restartPolicy, MaximumRetryCount: '0' };
  const view: Record<string, unknown> = {
    uuid: s.uuid,
    links: [
      { href: buildUrl(opts.baseUrl, 'capsules', s.uuid), rel: 'self' },
      { href: buildUrl(opts.baseUrl, 'capsules', s.uuid, true), rel: 'bookmark' },
    ],
    ...(opts.legacy ? { volumes_info: {}, containers_uuids: [], init_containers_uuids: [], capsule_version: '' } : {}),
    user_id: s.userId,
    project_id: s.projectId,
    created_at: pyDatetime(s.createdAt),
    updated_at: pyDatetime(s.updatedAt),
    addresses: capsuleAddresses(s),
    status: s.status,
    status_reason: s.statusReason,
    restart_policy: opts.legacy ? restart.Name : restart,
    [opts.legacy ? 'meta_name' : 'name']: spec.name === '' ? null : spec.name,
    [opts.legacy ? 'meta_labels' : 'labels']: spec.labels,
    annotations: spec.annotations,
    memory: String(spec.memory),
    cpu: spec.cpu,
    init_containers: spec.initContainers.map((m) => memberView(s, m, 'init', opts)),
    containers: spec.containers.map((m) => memberView(s, m, 'container', opts)),
    host: s.host,
  };
  if (!opts.admin) delete view['host'];
  return view;
}
