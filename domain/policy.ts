/**
 * Zun's default policies (zun/common/policies/*.py), as data. Pure: a caller,
 * a rule and a target in, allowed or not out.
 *
 * The check strings come in four kinds:
 * - `admin`          rule:context_is_admin / role:admin: the caller has the admin role;
 * - `admin_or_owner` is_admin:True or project_id:%(project_id)s: an admin, or a
 *                    caller of the target's project (the target defaults to
 *                    the caller's own project, as in oslo.policy's enforce);
 * - `never`          `!`: denied to everyone (create:privileged);
 * Unknown rules are denied: a typo must not open a door.
 *
 * Ownership of single resources is decided by lookup, not by this table: a
 * non-admin's lookup is scoped to its project, so another project's
 * container or registry is "not found" (404) before any rule runs, as in
 * Zun's get_resource. `canSee` is that scoping.
 */

export interface Caller {
  readonly projectId: string;
  readonly userId: string;
  readonly roles: readonly string[];
  /** Zun's is_admin: the role `admin`. */
  readonly isAdmin: boolean;
}

export const CheckKind = { admin: 'admin', adminOrOwner: 'admin_or_owner', never: 'never' } as const;
export type CheckKind = (typeof CheckKind)[keyof typeof CheckKind];

const A = CheckKind.admin;
const O = CheckKind.adminOrOwner;
const N = CheckKind.never;

/** Every default rule of Zun, by name. */
export const DEFAULT_POLICIES = {
  'availability_zones:get_all': O,
  'capsule:create': O,
  'capsule:delete': O,
  'capsule:delete_all_projects': A,
  'capsule:get': O,
  'capsule:get:host': A,
  'capsule:get_one_all_projects': A,
  'capsule:get_all': O,
  'capsule:get_all_all_projects': A,
  'container:create': O,
  'container:create:runtime': A,
  'container:create:privileged': N,
  'container:create:requested_destination': A,
  'container:create:image_pull_policy': A,
  'container:delete': O,
  'container:delete_all_projects': A,
  'container:delete_force': A,
  'container:get_one': O,
  'container:get_one:host': A,
  'container:get_one:image_pull_policy': A,
  'container:get_one:privileged': A,
  'container:get_one:runtime': A,
  'container:get_one_all_projects': A,
  'container:get_all': O,
  'container:get_all_all_projects': A,
  'container:update': O,
  'container:start': O,
  'container:stop': O,
  'container:reboot': O,
  'container:pause': O,
  'container:unpause': O,
  'container:logs': O,
  'container:execute': O,
  'container:execute_resize': O,
  'container:kill': O,
  'container:rename': O,
  'container:attach': O,
  'container:resize': O,
  'container:top': O,
  'container:get_archive': O,
  'container:put_archive': O,
  'container:stats': O,
  'container:commit': O,
  'container:add_security_group': O,
  'container:network_detach': O,
  'container:network_attach': O,
  'container:remove_security_group': O,
  'container:rebuild': O,
  'container:resize_container': O,
  'container:actions': O,
  'container:action:events': A,
  'host:get_all': A,
  'host:get': A,
  'image:pull': A,
  'image:get_all': A,
  'image:get_one': A,
  'image:search': O,
  'image:delete': A,
  'network:attach_external_network': A,
  'network:create': A,
  'network:delete': A,
  'quota:update': A,
  'quota:delete': A,
  'quota:get': O,
  'quota:get_default': O,
  'quota_class:update': A,
  'quota_class:get': A,
  'registry:create': O,
  'registry:delete': O,
  'registry:get_one': O,
  'registry:get_all': O,
  'registry:get_all_all_projects': A,
  'registry:update': O,
  'zun-service:delete': A,
  'zun-service:disable': A,
  'zun-service:enable': A,
  'zun-service:force_down': A,
  'zun-service:get_all': A,
} as const satisfies Readonly<Record<string, CheckKind>>;

export type PolicyRule = keyof typeof DEFAULT_POLICIES;

/** The container view fields only admins see (container:get_one:<field>). */
export const ADMIN_ONLY_CONTAINER_FIELDS = ['host', 'image_pull_policy', 'privileged', 'runtime'] as const;

export interface PolicyTarget {
  /** The project the action is on; the caller's own when absent. */
  readonly projectId?: string | null;
}

export function authorize(caller: Caller, rule: string, target: PolicyTarget = {}): boolean {
  const kind = (DEFAULT_POLICIES as Readonly<Record<string, CheckKind>>)[rule];
  switch (kind) {
    case CheckKind.never:
      return false;
    case CheckKind.admin:
      return caller.isAdmin;
    case CheckKind.adminOrOwner: {
      if (caller.isAdmin) return true;
      const project = target.projectId === undefined ? caller.projectId : target.projectId;
      return project !== null && project === caller.projectId;
    }
    default:
      return false;
  }
}

/** Zun's project scoping of lookups: admins see every project, others their own. */
export function canSee(caller: Caller, resourceProjectId: string | null): boolean {
  return caller.isAdmin || (resourceProjectId !== null && resourceProjectId === caller.projectId);
}

/** Zun's is_admin from a role list (role:admin, case-insensitive as the gateway has always read it). */
export const isAdminRole = (roles: readonly string[]): boolean => roles.some((r) => r.toLowerCase() === 'admin');
