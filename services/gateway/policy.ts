/**
 * The gateway's one place for policy: Zun's default rules live in
 * domain/policy.ts (pure data and a pure check); this module asks them for
 * the caller of a request and turns a refusal into PolicyNotAuthorized (403).
 *
 * Ownership of single resources is not a 403: lookups are scoped by project
 * (`canSee`), so another project's resource is 404, as in Zun.
 */
import { authorize, canSee as domainCanSee, type PolicyTarget } from '../../domain/policy.js';
import type { AuthContext } from './auth.js';
import { PolicyNotAuthorized } from './errors.js';

export const Rule = {
  createRuntime: 'container:create:runtime',
  createPrivileged: 'container:create:privileged',
  createImagePullPolicy: 'container:create:image_pull_policy',
  createRequestedDestination: 'container:create:requested_destination',
  getAllAllProjects: 'container:get_all_all_projects',
  getOneAllProjects: 'container:get_one_all_projects',
  deleteAllProjects: 'container:delete_all_projects',
  deleteForce: 'container:delete_force',
  quotaGet: 'quota:get',
  quotaGetDefault: 'quota:get_default',
  quotaUpdate: 'quota:update',
  quotaDelete: 'quota:delete',
  quotaClassGet: 'quota_class:get',
  quotaClassUpdate: 'quota_class:update',
  registryCreate: 'registry:create',
  registryGetOne: 'registry:get_one',
  registryGetAll: 'registry:get_all',
  registryGetAllAllProjects: 'registry:get_all_all_projects',
  registryUpdate: 'registry:update',
  registryDelete: 'registry:delete',
} as const;
export type Rule = (typeof Rule)[keyof typeof Rule];

/** The policy's answer for the caller (target: the caller's own project unless given). */
export function can(ctx: AuthContext, rule: string, target?: PolicyTarget): boolean {
  return authorize(ctx, rule, target);
}

/** As `can`, refusing with Zun's 403 "Policy doesn't allow <rule> to be performed." */
export function enforce(ctx: AuthContext, rule: string, target?: PolicyTarget): void {
  if (!authorize(ctx, rule, target)) throw new PolicyNotAuthorized(rule);
}

/** Zun's project scoping: admins see every project's resources through get_resource. */
export function canSee(ctx: AuthContext, resourceProjectId: string | null): boolean {
  return domainCanSee(ctx, resourceProjectId);
}
