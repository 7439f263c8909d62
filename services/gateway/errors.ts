/**
 * The gateway's error taxonomy and Zun's error body.
 *
 * Every error the gateway answers with is a ZunError (status, a stable `code`
 * that is Zun's exception class in kebab case, a message). They are mapped to
 * HTTP in exactly one place, app.ts's error handler, with `errorBody()`.
 * Validation code returns them as values; handlers throw them.
 *
 * Body shape (zun/api/middleware/parsable_error.py):
 *   {"errors":[{"request_id","code":"container.<kebab>","status","title","detail","links":[]}]}
 * For 5xx the title is the HTTP reason and the detail names a correlation id
 * that is also logged, never the internal message.
 */
import { STATUS_CODES } from 'node:http';
import type { ContainerRejection } from '../../domain/container-decider.js';

export class ZunError extends Error {
  /** Extra response headers (the 406 microversion errors carry min/max). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    readonly status: number,
    /** Kebab-case class name; rendered as `container.<code>`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ZunError';
    this.headers = options?.headers ?? {};
  }
}

// ---- 400 --------------------------------------------------------------------
export class InvalidValue extends ZunError {
  constructor(message: string) {
    super(400, 'invalid-value', message);
    this.name = 'InvalidValue';
  }
}

/** A request body or query string that does not match the schema. */
export class SchemaValidationError extends ZunError {
  constructor(message: string) {
    super(400, 'schema-validation-error', message);
    this.name = 'SchemaValidationError';
  }
}

export class ValidationError extends ZunError {
  constructor(message: string) {
    super(400, 'validation-error', message);
    this.name = 'ValidationError';
  }
}

export class InvalidParameterValue extends ZunError {
  constructor(message: string) {
    super(400, 'invalid-parameter-value', message);
    this.name = 'InvalidParameterValue';
  }
}

/** A parameter used below the microversion that introduced it (zun/api/utils.py:version_check). */
export class InvalidParamInVersion extends ZunError {
  constructor(param: string, requested: string, minVersion: string) {
    super(
      400,
      'invalid-param-in-version',
      `Invalid param ${param} because current request version is ${requested}. ${param} is only supported from version ${minVersion}`,
    );
    this.name = 'InvalidParamInVersion';
  }
}

// ---- 401 / 403 ----------------------------------------------------------------
export class NotAuthenticated extends ZunError {
  /** `headers`: keystonemiddleware's `WWW-Authenticate: Keystone uri="<auth url>"`. */
  constructor(message = 'Authentication required', headers?: Record<string, string>) {
    super(401, 'not-authenticated', message, headers ? { headers } : undefined);
    this.name = 'NotAuthenticated';
  }
}

export class PolicyNotAuthorized extends ZunError {
  constructor(readonly rule: string) {
    super(403, 'policy-not-authorized', `Policy doesn't allow ${rule} to be performed.`);
    this.name = 'PolicyNotAuthorized';
  }
}

/** QUOTAS.limit_check: the request would put the project over these limits. */
export class OverQuota extends ZunError {
  constructor(message: string) {
    super(403, 'over-quota', message);
    this.name = 'OverQuota';
  }
}

// ---- 404 / 405 / 406 ------------------------------------------------------------
export class ContainerNotFound extends ZunError {
  constructor(ident: string) {
    super(404, 'container-not-found', `Container ${ident} could not be found.`);
    this.name = 'ContainerNotFound';
  }
}

export class RegistryNotFound extends ZunError {
  constructor(ident: string) {
    super(404, 'registry-not-found', `Registry ${ident} could not be found.`);
    this.name = 'RegistryNotFound';
  }
}

export class RouteNotFound extends ZunError {
  constructor() {
    super(404, 'http-not-found', 'The resource could not be found.');
    this.name = 'RouteNotFound';
  }
}

/** The requested microversion is malformed or outside the supported range. */
export class MicroversionNotAcceptable extends ZunError {
  constructor(message: string, headers: Record<string, string> = {}) {
    super(406, 'http-not-acceptable-api-version', message, { headers });
    this.name = 'MicroversionNotAcceptable';
  }
}

/** The route exists, but not at the requested microversion (base.py `_no_version_match`). */
export class ApiNotSupportedInVersion extends ZunError {
  constructor(version: string) {
    super(406, 'http-not-acceptable', `Version ${version} was requested but the requested API is not supported for this version.`);
    this.name = 'ApiNotSupportedInVersion';
  }
}

// ---- 409 ----------------------------------------------------------------------
export class Conflict extends ZunError {
  constructor(message = 'Conflict.') {
    super(409, 'conflict', message);
    this.name = 'Conflict';
  }
}

export class InvalidStateException extends ZunError {
  constructor(message: string) {
    super(409, 'invalid-state-exception', message);
    this.name = 'InvalidStateException';
  }
}

// ---- 415 ----------------------------------------------------------------------
export class UnsupportedMediaType extends ZunError {
  constructor(contentType: string) {
    super(
      415,
      'http-unsupported-media-type',
      `Unexpected content type: ${contentType}. Expected content types are: ['application/json']`,
    );
    this.name = 'UnsupportedMediaType';
  }
}

// ---- 5xx ----------------------------------------------------------------------
export class ServiceUnavailable extends ZunError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(503, 'service-unavailable', message, options);
    this.name = 'ServiceUnavailable';
  }
}

// ---- the body -------------------------------------------------------------------
export interface ZunErrorItem {
  readonly request_id: string;
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly links: readonly unknown[];
}

export interface ZunErrorBody {
  readonly errors: readonly ZunErrorItem[];
}

export const httpReason = (status: number): string => STATUS_CODES[status] ?? 'Unknown Error';

const kebab = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** A client error (< 500): the message is the title and the detail. */
export function clientErrorBody(err: ZunError, requestId: string): ZunErrorBody {
  return {
    errors: [
      { request_id: requestId, code: `container.${err.code}`, status: err.status, title: err.message, detail: err.message, links: [] },
    ],
  };
}

/** A server error (>= 500): nothing internal leaks; the correlation id is in the log too. */
export function serverErrorBody(status: number, correlationId: string, requestId: string): ZunErrorBody {
  const title = httpReason(status);
  return {
    errors: [
      {
        request_id: requestId,
        code: `container.${kebab(title)}`,
        status,
        title,
        detail: `Your request could not be handled because of a problem in the server. Error Correlation id is: ${correlationId}`,
        links: [],
      },
    ],
  };
}

/** Client errors raised by fastify itself (body too large, bad media type, ...). */
export function fromHttpStatus(status: number, message: string): ZunError {
  return new ZunError(status, `http-${kebab(httpReason(status))}`, message);
}

// ---- decider rejections -----------------------------------------------------------
/** The decider's rejection values, in Zun's terms. */
export function fromRejection(r: ContainerRejection, uuid: string): ZunError {
  switch (r.code) {
    case 'invalid-state':
      return new InvalidStateException(r.message);
    case 'not-found':
      return new ContainerNotFound(uuid);
    case 'conflict':
      return new Conflict(r.message);
  }
}
