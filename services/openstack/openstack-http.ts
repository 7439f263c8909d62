/**
 * A minimal JSON-over-HTTP caller for OpenStack service APIs (Neutron,
 * Cinder): X-Auth-Token from an injected token source, JSON in and out,
 * non-2xx answers turned into OpenStackApiError with the service's own error
 * type and message. No retries here: callers are reconcile loops that retry
 * by level.
 *
 * Keystone is not this module's business: `auth.token()` is given by the
 * caller (a static token from the configuration today).
 */
import type { Logger } from '../platform/log.js';

export interface OpenStackAuth {
  /** A valid token for the service's project; called before every request. */
  token(): Promise<string>;
}

export const staticToken = (token: string): OpenStackAuth => ({ token: async () => token });

export const OpenStackErrorCode = {
  notFound: 'NOT_FOUND',
  conflict: 'CONFLICT',
  badRequest: 'BAD_REQUEST',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  /** 5xx, or the service could not be reached. */
  unavailable: 'UNAVAILABLE',
  other: 'OTHER',
} as const;
export type OpenStackErrorCode = (typeof OpenStackErrorCode)[keyof typeof OpenStackErrorCode];

export class OpenStackApiError extends Error {
  constructor(
    readonly service: string,
    readonly code: OpenStackErrorCode,
    readonly status: number | null,
    /** The service's error type, e.g. Neutron's `PortNotFound` or Cinder's `itemNotFound`. */
    readonly type: string | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OpenStackApiError';
  }
}

function codeOf(status: number): OpenStackErrorCode {
  if (status === 404) return OpenStackErrorCode.notFound;
  if (status === 409) return OpenStackErrorCode.conflict;
  if (status === 400) return OpenStackErrorCode.badRequest;
  if (status === 401) return OpenStackErrorCode.unauthorized;
  if (status === 403) return OpenStackErrorCode.forbidden;
  if (status >= 500) return OpenStackErrorCode.unavailable;
  return OpenStackErrorCode.other;
}

/**
 * The error type and message of an OpenStack error body:
 * Neutron `{"NeutronError":{"type","message","detail"}}`,
 * Cinder/Nova style `{"itemNotFound":{"code","message"}}`.
 */
export function parseErrorBody(body: unknown): { type: string | null; message: string | null } {
  if (typeof body !== 'object' || body === null) return { type: null, message: null };
  const o = body as Record<string, unknown>;
  const ne = o['NeutronError'];
  if (typeof ne === 'object' && ne !== null) {
    const e = ne as Record<string, unknown>;
    return { type: typeof e['type'] === 'string' ? e['type'] : null, message: typeof e['message'] === 'string' ? e['message'] : null };
  }
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const inner = o[keys[0]!];
    if (typeof inner === 'object' && inner !== null && typeof (inner as Record<string, unknown>)['message'] === 'string') {
      return { type: keys[0]!, message: (inner as Record<string, string>)['message']! };
    }
  }
  return { type: null, message: null };
}

export interface JsonCaller {
  /** Resolves with the parsed body (null for an empty one); rejects with OpenStackApiError. */
  call<T = unknown>(method: string, path: string, opts?: { query?: Record<string, string | readonly string[]>; body?: unknown }): Promise<T>;
}

export function createJsonCaller({
  service,
  endpoint,
  auth,
  headers = {},
  fetchImpl = fetch,
  timeoutMs = 30_000,
  log,
}: {
  /** For messages: 'neutron', 'cinder'. */
  service: string;
  /** Base URL; paths are appended to it (no trailing slash needed). */
  endpoint: string;
  auth: OpenStackAuth;
  headers?: Record<string, string>;
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
  log: Logger;
}): JsonCaller {
  const base = endpoint.replace(/\/+$/, '');
  return {
    async call<T>(method: string, path: string, opts: { query?: Record<string, string | readonly string[]>; body?: unknown } = {}): Promise<T> {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query ?? {})) {
        for (const one of typeof v === 'string' ? [v] : v) qs.append(k, one);
      }
      const url = `${base}${path}${qs.size > 0 ? `?${qs.toString()}` : ''}`;
      const token = await auth.token();
      let res: Response;
      try {
        res = await fetchImpl(url, {
          method,
          headers: {
            Accept: 'application/json',
            'X-Auth-Token': token,
            ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
            ...headers,
          },
          body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (cause) {
        throw new OpenStackApiError(service, OpenStackErrorCode.unavailable, null, null, `${service} ${method} ${path}: ${String(cause)}`, { cause });
      }
      const text = await res.text();
      let body: unknown = null;
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      log.debug({ service, method, path, status: res.status }, 'openstack call');
      if (!res.ok) {
        const { type, message } = parseErrorBody(body);
        throw new OpenStackApiError(
          service,
          codeOf(res.status),
          res.status,
          type,
          `${service} ${method} ${path} answered ${res.status}${message ? `: ${message}` : ''}`,
        );
      }
      return body as T;
    },
  };
}
