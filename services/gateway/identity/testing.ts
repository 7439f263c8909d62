/**
 * Test support (not used in production): a users directory made on the fly
 * with cheap scrypt hashes, and a gateway harness in the local identity mode
 * whose callers log in through POST /identity/v3/auth/tokens like the CLIs.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { harness, type Harness } from '../test-harness.js';
import type { BuildAppOptions } from '../app.js';
import { createLocalIdentity, type LocalIdentity } from './local.js';
import { hashPassword } from './password.js';
import { createSecretBox, deriveKey } from './secrets.js';
import { createTokenCodec, type TokenCodec } from './tokens.js';
import { parseUsersFile, type Directory } from './users-file.js';

/** Cheap for tests (N=1024); production hashes use DEFAULT_SCRYPT. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

export interface TestUser {
  readonly name: string;
  readonly password: string;
  /** project name -> roles */
  readonly roles: Readonly<Record<string, readonly string[]>>;
  readonly enabled?: boolean;
}

export async function testDirectory(projects: readonly string[], users: readonly TestUser[]): Promise<Directory> {
  const doc = {
    projects: projects.map((name) => ({ name })),
    users: await Promise.all(
      users.map(async (u) => ({
        name: u.name,
        password: await hashPassword(u.password, TEST_SCRYPT),
        roles: u.roles,
        ...(u.enabled === false ? { enabled: false } : {}),
      })),
    ),
  };
  return parseUsersFile(JSON.stringify(doc));
}

export interface LocalHarness extends Harness {
  readonly identity: LocalIdentity;
  readonly codec: TokenCodec;
  /** POST /identity/v3/auth/tokens (password, project scope by name); the X-Subject-Token. */
  login(user: string, password: string, project: string): Promise<string>;
  /** Headers for a /v1 call with this token. */
  as(token: string): Record<string, string>;
}

export const DEFAULT_TEST_USERS: readonly TestUser[] = [
  { name: 'admin', password: 'admin-pw', roles: { admin: ['admin'] } },
  { name: 'alice', password: 'alice-pw', roles: { 'demo-a': ['member'] } },
  { name: 'bob', password: 'bob-pw', roles: { 'demo-b': ['member'] } },
];

export async function localHarness(
  opts: {
    projects?: readonly string[];
    users?: readonly TestUser[];
    ttlMs?: number;
    /** The clock the identity reads (default: the real one). */
    clock?: () => Date;
    directory?: Directory;
    secret?: Buffer;
  } & Partial<BuildAppOptions> = {},
): Promise<LocalHarness> {
  const directory = opts.directory ?? (await testDirectory(opts.projects ?? ['admin', 'demo-a', 'demo-b'], opts.users ?? DEFAULT_TEST_USERS));
  const secret = opts.secret ?? randomBytes(32);
  const codec = createTokenCodec(deriveKey(secret, 'token-mac'));
  const identity = createLocalIdentity({
    directory,
    codec,
    ttlMs: opts.ttlMs ?? 3_600_000,
    clock: opts.clock ?? (() => new Date()),
    log: pino({ level: 'silent' }),
    authUrl: () => 'http://zun.test:9517/identity/v3',
  });
  const { projects: _p, users: _u, ttlMs: _t, clock: _c, directory: _d, secret: _s, ...overrides } = opts;
  const h = harness({
    auth: identity.authenticate,
    identity: { local: identity, region: 'RegionOne' },
    secretBox: createSecretBox(deriveKey(secret, 'registry-password')),
    ...overrides,
  });
  return {
    ...h,
    identity,
    codec,
    async login(user, password, project) {
      const r = await h.req('POST', '/identity/v3/auth/tokens', {
        body: {
          auth: {
            identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
            scope: { project: { name: project, domain: { name: 'Default' } } },
          },
        },
      });
      if (r.statusCode !== 201) throw new Error(`login of ${user} failed: ${r.statusCode} ${r.body}`);
      return r.headers['x-subject-token'] as string;
    },
    as: (token) => ({ 'x-auth-token': token }),
  };
}
