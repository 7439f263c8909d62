/**
 * Identity for the gateway, by mode (AUTH_MODE):
 *
 * - `local` (default): users file + signed tokens + the built-in Keystone v3
 *   subset under /identity (local.ts, routes.ts);
 * - `keystone`: tokens validated by a real Keystone (keystone-remote.ts);
 * - `noauth`: X-Project-Id / X-User-Id / X-Roles trusted, with a default
 *   caller when absent (auth.ts headerAuth). Development only: it must be
 *   chosen explicitly and it logs a warning at start.
 *
 * Also the gateway's secret box (registry passwords), from the same secret
 * the token key derives from. The only I/O here is reading the users file
 * and the secret file, once, at start.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../platform/log.js';
import { headerAuth, type Authenticate } from '../auth.js';
import { createKeystoneAuth, type KeystoneAuth, type KeystoneServiceCredentials } from './keystone-remote.js';
import { identityV3 } from './keystone-views.js';
import { createLocalIdentity, type LocalIdentity } from './local.js';
import { createSecretBox, deriveKey, loadOrCreateSecret, secretFromValue, type SecretBox } from './secrets.js';
import { createTokenCodec } from './tokens.js';
import { loadUsersFile, type Directory } from './users-file.js';

export const AuthMode = { local: 'local', keystone: 'keystone', noauth: 'noauth' } as const;
export type AuthMode = (typeof AuthMode)[keyof typeof AuthMode];

export interface AuthConfig {
  readonly mode: AuthMode;
  /** local: the users file. */
  readonly file: string;
  /** local: true when `file` is the shipped example (published passwords). */
  readonly exampleFile: boolean;
  readonly tokenTtlSeconds: number;
  readonly region: string;
  /** GATEWAY_SECRET, else the secret file. */
  readonly secret: string | undefined;
  readonly secretFile: string;
  readonly keystone: (KeystoneServiceCredentials & { readonly url: string; readonly cacheSeconds: number }) | null;
  readonly noauth: { readonly defaultProjectId: string; readonly defaultUserId: string; readonly defaultRoles: readonly string[] };
}

export interface Identity {
  readonly mode: AuthMode;
  readonly authenticate: Authenticate;
  /** local mode: the Keystone subset to serve under /identity. */
  readonly local: LocalIdentity | null;
  readonly keystone: KeystoneAuth | null;
  /** Seals registry passwords before they enter the event log. */
  readonly secretBox: SecretBox;
}

export interface IdentityDeps {
  readonly log: Logger;
  readonly clock: () => Date;
  /** Links in responses; by default each request's Host. */
  readonly baseUrl: string | undefined;
  /** Tests: a directory instead of the file. */
  readonly directory?: Directory;
}

/** Where a client is told to log in (the 401's WWW-Authenticate). */
function authUrlFor(baseUrl: string | undefined) {
  return (headers: IncomingHttpHeaders) => identityV3(baseUrl ?? `http://${String(headers.host ?? '127.0.0.1')}`);
}

export async function createIdentity(config: AuthConfig, deps: IdentityDeps): Promise<Identity> {
  const log = deps.log.child({ component: 'identity', mode: config.mode });
  const secret = config.secret !== undefined ? secretFromValue(config.secret) : (await loadOrCreateSecret(config.secretFile)).secret;
  const secretBox = createSecretBox(deriveKey(secret, 'registry-password'));

  switch (config.mode) {
    case AuthMode.local: {
      const directory = deps.directory ?? (await loadUsersFile(config.file));
      if (config.exampleFile) {
        log.warn({ file: config.file }, 'AUTH_FILE is the shipped example with published passwords: set AUTH_FILE to your own users file');
      }
      const local = createLocalIdentity({
        directory,
        codec: createTokenCodec(deriveKey(secret, 'token-mac')),
        ttlMs: config.tokenTtlSeconds * 1000,
        clock: deps.clock,
        log,
        authUrl: authUrlFor(deps.baseUrl),
      });
      log.info({ file: config.file, users: directory.users.length, projects: directory.projects.length }, 'local identity');
      return { mode: config.mode, authenticate: local.authenticate, local, keystone: null, secretBox };
    }
    case AuthMode.keystone: {
      if (!config.keystone) throw new Error('AUTH_MODE=keystone needs KEYSTONE_URL and the service credentials');
      const keystone = createKeystoneAuth({
        url: config.keystone.url,
        credentials: config.keystone,
        cacheMs: config.keystone.cacheSeconds * 1000,
        log,
        clock: deps.clock,
      });
      log.info({ url: config.keystone.url }, 'tokens are validated by Keystone');
      return { mode: config.mode, authenticate: keystone.authenticate, local: null, keystone, secretBox };
    }
    case AuthMode.noauth: {
      log.warn(
        { defaultProjectId: config.noauth.defaultProjectId, defaultRoles: config.noauth.defaultRoles },
        '!!! AUTH_MODE=noauth: NO AUTHENTICATION. Every caller is trusted to name its own project, user and roles ' +
          '(X-Project-Id, X-User-Id, X-Roles) and callers that name none act as the default admin. For development only. !!!',
      );
      return { mode: config.mode, authenticate: headerAuth(config.noauth), local: null, keystone: null, secretBox };
    }
  }
}
