/**
 * Who is calling. A hook module with one job: turn a request into an
 * AuthContext, or refuse it with NotAuthenticated (401).
 *
 * Today's implementation trusts keystonemiddleware-style headers
 * (`X-Project-Id`, `X-User-Id`, `X-Roles`), falling back to a configured
 * default project, user and roles. It is the `noauth` development mode: the
 * identity work replaces it with `keystone` and `local` modes behind the same
 * `Authenticate` signature, and nothing else in the gateway changes.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface AuthContext {
  readonly projectId: string;
  readonly userId: string;
  readonly roles: readonly string[];
  /** Zun's `is_admin`: the role `admin`. */
  readonly isAdmin: boolean;
}

/** May throw a ZunError (NotAuthenticated) to refuse the request. */
export type Authenticate = (req: { readonly headers: IncomingHttpHeaders }) => Promise<AuthContext>;

export interface HeaderAuthOptions {
  readonly defaultProjectId: string;
  readonly defaultUserId: string;
  /** Roles when the request has no X-Roles header. */
  readonly defaultRoles: readonly string[];
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
};

export function headerAuth(opts: HeaderAuthOptions): Authenticate {
  return async ({ headers }) => {
    const rolesHeader = header(headers, 'x-roles');
    const roles = rolesHeader === undefined ? [...opts.defaultRoles] : rolesHeader.split(',').map((r) => r.trim()).filter(Boolean);
    return {
      projectId: header(headers, 'x-project-id') ?? opts.defaultProjectId,
      userId: header(headers, 'x-user-id') ?? opts.defaultUserId,
      roles,
      isAdmin: roles.some((r) => r.toLowerCase() === 'admin'),
    };
  };
}
