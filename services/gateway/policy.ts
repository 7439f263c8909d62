/**
 * Zun's default container policies (zun/common/policies/container.py), the
 * subset the gateway consults. Pure: a rule and a caller in, a yes or no out.
 *
 * `admin` rules need the admin role; `never` is Zun's `!` (denied to
 * everyone); anything else is allowed to any authenticated caller (ownership
 * is checked separately, by project).
 */
import type { AuthContext } from './auth.js';

export const Rule = {
  createRuntime: 'container:create:runtime',
  createPrivileged: 'container:create:privileged',
  createImagePullPolicy: 'container:create:image_pull_policy',
  createRequestedDestination: 'container:create:requested_destination',
  getAllAllProjects: 'container:get_all_all_projects',
  getOneAllProjects: 'container:get_one_all_projects',
  deleteAllProjects: 'container:delete_all_projects',
  deleteForce: 'container:delete_force',
} as const;
export type Rule = (typeof Rule)[keyof typeof Rule];

const ADMIN: ReadonlySet<string> = new Set([
  Rule.createRuntime,
  Rule.createImagePullPolicy,
  Rule.createRequestedDestination,
  Rule.getAllAllProjects,
  Rule.getOneAllProjects,
  Rule.deleteAllProjects,
  Rule.deleteForce,
]);
const NEVER: ReadonlySet<string> = new Set([Rule.createPrivileged]);

export function can(ctx: AuthContext, rule: string): boolean {
  if (NEVER.has(rule)) return false;
  if (ADMIN.has(rule)) return ctx.isAdmin;
  return true;
}

/** Zun's project scoping: admins see every project's containers through get_resource. */
export function canSee(ctx: AuthContext, resourceProjectId: string | null): boolean {
  return ctx.isAdmin || resourceProjectId === ctx.projectId;
}
