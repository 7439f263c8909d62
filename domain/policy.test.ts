import { describe, expect, it } from 'vitest';
import { authorize, canSee, DEFAULT_POLICIES, isAdminRole, type Caller } from './policy.js';

const member: Caller = { projectId: 'p1', userId: 'u1', roles: ['member'], isAdmin: false };
const admin: Caller = { projectId: 'adm', userId: 'root', roles: ['admin'], isAdmin: true };

describe("Zun's default policies", () => {
  it('admin rules: admins only', () => {
    for (const rule of ['host:get_all', 'image:pull', 'zun-service:get_all', 'network:create', 'quota:update', 'quota:delete', 'quota_class:get', 'container:delete_force', 'container:create:runtime', 'container:get_all_all_projects']) {
      expect(authorize(admin, rule), rule).toBe(true);
      expect(authorize(member, rule), rule).toBe(false);
    }
  });

  it('admin_or_owner: the caller\'s own project (the default target) or an admin', () => {
    expect(authorize(member, 'quota:get')).toBe(true);
    expect(authorize(member, 'quota:get', { projectId: 'p1' })).toBe(true);
    expect(authorize(member, 'quota:get', { projectId: 'p2' })).toBe(false);
    expect(authorize(member, 'registry:update', { projectId: null })).toBe(false);
    expect(authorize(admin, 'quota:get', { projectId: 'p2' })).toBe(true);
  });

  it('create:privileged is denied to everyone; unknown rules are denied', () => {
    expect(authorize(admin, 'container:create:privileged')).toBe(false);
    expect(authorize(admin, 'container:fly')).toBe(false);
    expect(DEFAULT_POLICIES['container:create:privileged']).toBe('never');
  });

  it('scopes lookups by project, except for admins', () => {
    expect(canSee(member, 'p1')).toBe(true);
    expect(canSee(member, 'p2')).toBe(false);
    expect(canSee(member, null)).toBe(false);
    expect(canSee(admin, 'p2')).toBe(true);
    expect(isAdminRole(['member', 'Admin'])).toBe(true);
    expect(isAdminRole(['member'])).toBe(false);
  });
});
