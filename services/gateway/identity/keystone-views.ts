/**
 * Keystone v3 documents the built-in identity endpoint answers with, in the
 * shapes of Keystone's API reference (api-ref/source/v3/samples/admin:
 * identity-version-response.json, identity-versions-response.json,
 * auth-password-project-scoped-response.json) and Keystone's error body
 * `{"error":{"code","title","message"}}`. Pure.
 */
import { STATUS_CODES } from 'node:http';

export const KEYSTONE_API_VERSION = 'v3.14';
const VERSION_UPDATED = '2020-04-07T00:00:00Z';
const MEDIA_TYPES = [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }];

/** `<base>/identity`: the unversioned identity URL (also the catalog's identity endpoint). */
export const identityRoot = (baseUrl: string) => `${baseUrl}/identity`;
/** `<base>/identity/v3`: OS_AUTH_URL. */
export const identityV3 = (baseUrl: string) => `${baseUrl}/identity/v3`;

function v3(baseUrl: string) {
  return {
    id: KEYSTONE_API_VERSION,
    status: 'stable',
    updated: VERSION_UPDATED,
    links: [{ rel: 'self', href: `${identityV3(baseUrl)}/` }],
    'media-types': MEDIA_TYPES,
  };
}

/** GET /identity/v3 */
export const versionDocument = (baseUrl: string) => ({ version: v3(baseUrl) });

/** GET /identity (300 Multiple Choices, as Keystone's root). */
export const versionsDocument = (baseUrl: string) => ({ versions: { values: [v3(baseUrl)] } });

/** Keystone's timestamps: microseconds and `Z`. */
export function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface CatalogOptions {
  readonly baseUrl: string;
  readonly region: string;
}

/** The service catalog: Zun (`container`) at `<base>/v1`, and this identity endpoint. */
export function catalog({ baseUrl, region }: CatalogOptions) {
  const endpoints = (service: string, url: string) =>
    (['public', 'internal', 'admin'] as const).map((iface) => ({ id: `${service}-${iface}`, interface: iface, region, region_id: region, url }));
  return [
    { id: 'zun', type: 'container', name: 'zun', endpoints: endpoints('zun', `${baseUrl}/v1`) },
    { id: 'keystone', type: 'identity', name: 'keystone', endpoints: endpoints('keystone', identityRoot(baseUrl)) },
  ];
}

export interface NamedRef {
  readonly id: string;
  readonly name: string;
}

export interface TokenView {
  readonly methods: readonly string[];
  readonly user: NamedRef & { readonly domain: NamedRef };
  /** null for an unscoped token. */
  readonly project: (NamedRef & { readonly domain: NamedRef }) | null;
  readonly roles: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly auditId: string;
  /** Omitted with ?nocatalog and for unscoped tokens. */
  readonly catalog: ReturnType<typeof catalog> | null;
}

/** The `{"token": {...}}` body of POST and GET /v3/auth/tokens. */
export function tokenBody(t: TokenView) {
  const token: Record<string, unknown> = {
    methods: t.methods,
    user: { domain: t.user.domain, id: t.user.id, name: t.user.name, password_expires_at: null },
    audit_ids: [t.auditId],
    expires_at: keystoneTime(t.expiresAt),
    issued_at: keystoneTime(t.issuedAt),
  };
  if (t.project) {
    token['project'] = { domain: t.project.domain, id: t.project.id, name: t.project.name };
    token['is_domain'] = false;
    token['roles'] = t.roles.map((r) => ({ id: r, name: r }));
    if (t.catalog) token['catalog'] = t.catalog;
  }
  return { token };
}

export const KEYSTONE_401 = 'The request you have made requires authentication.';

/** Keystone's error body. */
export function keystoneError(status: number, message: string) {
  return { error: { code: status, title: STATUS_CODES[status] ?? 'Error', message } };
}
