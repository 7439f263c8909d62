/**
 * The local identity directory: domains, projects, users, their password
 * hashes and their roles on projects, read from AUTH_FILE (YAML subset or
 * JSON). See etc/users.example.yaml for the format:
 *
 *   domains:  [{id: default, name: Default}]           # optional; this is the default
 *   projects: [{name: demo-a, id?, domain?, enabled?}]
 *   users:    [{name: alice, id?, domain?, enabled?, password: "scrypt$...",
 *               roles: {demo-a: [member]}}]              # project (name or id) -> role names
 *
 * Ids default to the name (so `zun quota-get demo-a` reads naturally); give
 * explicit ids when names repeat across domains. Plain-text passwords are
 * refused. Parsing is pure; `loadUsersFile` reads the file.
 */
import { readFile } from 'node:fs/promises';
import { parsePasswordHash, PasswordHashError, type ParsedHash } from './password.js';
import { parseYamlSubset, YamlSubsetError } from './yaml.js';

export class UsersFileError extends Error {
  readonly code = 'USERS_FILE_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsersFileError';
  }
}

export interface Domain {
  readonly id: string;
  readonly name: string;
}

export interface Project {
  readonly id: string;
  readonly name: string;
  readonly domain: Domain;
  readonly enabled: boolean;
}

export interface User {
  readonly id: string;
  readonly name: string;
  readonly domain: Domain;
  readonly enabled: boolean;
  readonly password: ParsedHash;
  /** Role names by project id. */
  readonly roles: ReadonlyMap<string, readonly string[]>;
}

export interface Ref {
  readonly id?: string;
  readonly name?: string;
}

export interface Directory {
  readonly domains: readonly Domain[];
  readonly projects: readonly Project[];
  readonly users: readonly User[];
  findDomain(ref: Ref): Domain | undefined;
  /** By id, or by name within the domain. */
  findUser(ref: Ref & { readonly domain?: Ref }): User | undefined;
  findProject(ref: Ref & { readonly domain?: Ref }): Project | undefined;
  /** The user's roles on the project (empty when none). */
  rolesOf(userId: string, projectId: string): readonly string[];
}

export const DEFAULT_DOMAIN: Domain = { id: 'default', name: 'Default' };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > 255) throw new UsersFileError(`${where} must be a non-empty string of at most 255 characters`);
  return v;
}

function optStr(v: unknown, where: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, where);
}

function bool(v: unknown, where: string): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v !== 'boolean') throw new UsersFileError(`${where} must be true or false`);
  return v;
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UsersFileError(`${where} must be a list`);
  return v;
}

function noExtraKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw new UsersFileError(`${where}: unknown key(s) ${extra.join(', ')}`);
}

/** Parses the text of a users file (JSON when it starts with `{`, else the YAML subset). */
export function parseUsersFile(text: string): Directory {
  let doc: unknown;
  try {
    doc = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYamlSubset(text);
  } catch (cause) {
    if (cause instanceof YamlSubsetError || cause instanceof SyntaxError) throw new UsersFileError(`cannot parse: ${cause.message}`, { cause });
    throw cause;
  }
  if (!isObj(doc)) throw new UsersFileError('the file must hold a mapping with projects and users');
  noExtraKeys(doc, ['domains', 'projects', 'users'], 'top level');

  const domains: Domain[] = [];
  const rawDomains = list(doc['domains'], 'domains');
  if (rawDomains.length === 0) domains.push(DEFAULT_DOMAIN);
  rawDomains.forEach((d, i) => {
    const where = `domains[${i}]`;
    if (!isObj(d)) throw new UsersFileError(`${where} must be a mapping`);
    noExtraKeys(d, ['id', 'name'], where);
    const name = str(d['name'], `${where}.name`);
    const dom = { id: optStr(d['id'], `${where}.id`) ?? name.toLowerCase(), name };
    if (domains.some((x) => x.id === dom.id || x.name === dom.name)) throw new UsersFileError(`${where}: duplicate domain ${dom.name}`);
    domains.push(dom);
  });
  const domainBy = (ref: unknown, where: string): Domain => {
    if (ref === undefined || ref === null) {
      const d = domains.find((x) => x.id === DEFAULT_DOMAIN.id) ?? domains[0]!;
      return d;
    }
    const s = str(ref, where);
    const d = domains.find((x) => x.id === s) ?? domains.find((x) => x.name === s);
    if (!d) throw new UsersFileError(`${where}: unknown domain ${s}`);
    return d;
  };

  const projects: Project[] = [];
  list(doc['projects'], 'projects').forEach((p, i) => {
    const where = `projects[${i}]`;
    if (!isObj(p)) throw new UsersFileError(`${where} must be a mapping`);
    noExtraKeys(p, ['id', 'name', 'domain', 'enabled'], where);
    const name = str(p['name'], `${where}.name`);
    const proj: Project = {
      id: optStr(p['id'], `${where}.id`) ?? name,
      name,
      domain: domainBy(p['domain'], `${where}.domain`),
      enabled: bool(p['enabled'], `${where}.enabled`),
    };
    if (projects.some((x) => x.id === proj.id)) throw new UsersFileError(`${where}: duplicate project id ${proj.id} (give explicit ids)`);
    if (projects.some((x) => x.name === proj.name && x.domain.id === proj.domain.id)) {
      throw new UsersFileError(`${where}: duplicate project ${proj.name} in domain ${proj.domain.name}`);
    }
    projects.push(proj);
  });
  const projectBy = (ref: string, where: string): Project => {
    const byId = projects.find((x) => x.id === ref);
    if (byId) return byId;
    const byName = projects.filter((x) => x.name === ref);
    if (byName.length === 1) return byName[0]!;
    throw new UsersFileError(byName.length === 0 ? `${where}: unknown project ${ref}` : `${where}: project name ${ref} is ambiguous; use its id`);
  };

  const users: User[] = [];
  list(doc['users'], 'users').forEach((u, i) => {
    const where = `users[${i}]`;
    if (!isObj(u)) throw new UsersFileError(`${where} must be a mapping`);
    noExtraKeys(u, ['id', 'name', 'domain', 'enabled', 'password', 'roles'], where);
    const name = str(u['name'], `${where}.name`);
    let password: ParsedHash;
    try {
      password = parsePasswordHash(str(u['password'], `${where}.password`));
    } catch (e) {
      if (e instanceof PasswordHashError) throw new UsersFileError(`${where}.password: ${e.message}`);
      throw e;
    }
    const roles = new Map<string, readonly string[]>();
    const rawRoles = u['roles'] ?? {};
    if (!isObj(rawRoles)) throw new UsersFileError(`${where}.roles must map projects to lists of roles`);
    for (const [projRef, names] of Object.entries(rawRoles)) {
      const proj = projectBy(projRef, `${where}.roles`);
      const rs = (Array.isArray(names) ? names : [names]).map((r, j) => str(r, `${where}.roles.${projRef}[${j}]`));
      if (rs.length === 0) throw new UsersFileError(`${where}.roles.${projRef} is empty`);
      roles.set(proj.id, [...new Set([...(roles.get(proj.id) ?? []), ...rs])]);
    }
    const user: User = {
      id: optStr(u['id'], `${where}.id`) ?? name,
      name,
      domain: domainBy(u['domain'], `${where}.domain`),
      enabled: bool(u['enabled'], `${where}.enabled`),
      password,
      roles,
    };
    if (users.some((x) => x.id === user.id)) throw new UsersFileError(`${where}: duplicate user id ${user.id} (give explicit ids)`);
    if (users.some((x) => x.name === user.name && x.domain.id === user.domain.id)) {
      throw new UsersFileError(`${where}: duplicate user ${user.name} in domain ${user.domain.name}`);
    }
    users.push(user);
  });
  if (users.length === 0) throw new UsersFileError('the file defines no users');

  const findDomain = (ref: Ref) =>
    ref.id !== undefined ? domains.find((d) => d.id === ref.id) : ref.name !== undefined ? domains.find((d) => d.name === ref.name) : undefined;
  const inDomain = <T extends { id: string; name: string; domain: Domain }>(items: readonly T[], ref: Ref & { domain?: Ref }): T | undefined => {
    if (ref.id !== undefined) return items.find((x) => x.id === ref.id);
    if (ref.name === undefined || ref.domain === undefined) return undefined;
    const d = findDomain(ref.domain);
    return d ? items.find((x) => x.name === ref.name && x.domain.id === d.id) : undefined;
  };
  return {
    domains,
    projects,
    users,
    findDomain,
    findUser: (ref) => inDomain(users, ref),
    findProject: (ref) => inDomain(projects, ref),
    rolesOf: (userId, projectId) => users.find((u) => u.id === userId)?.roles.get(projectId) ?? [],
  };
}

export async function loadUsersFile(path: string): Promise<Directory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new UsersFileError(`cannot read the users file ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parseUsersFile(text);
  } catch (e) {
    if (e instanceof UsersFileError) e.message = `${path}: ${e.message}`;
    throw e;
  }
}
