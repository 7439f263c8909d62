/**
 * Helpers shared by the route plugins in this folder: the caller, the
 * microversion, parameters as pecan merges them, and the JSON content-type
 * rule. Each throws a ZunError; the app's one error handler renders it.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth.js';
import { ApiNotSupportedInVersion, SchemaValidationError, UnsupportedMediaType, type ZunError } from '../errors.js';
import { atLeast, atMost, formatVersion, type ApiVersion } from '../microversion.js';
import { flattenQuery, isObject, type Result } from '../validate.js';

export function callerOf(req: FastifyRequest): AuthContext {
  if (!req.auth) throw new Error('no caller on a non-public route');
  return req.auth;
}

export function versionOf(req: FastifyRequest): ApiVersion {
  if (!req.apiVersion) throw new Error('no microversion on a /v1 route');
  return req.apiVersion;
}

/**
 * A method's microversion range (base.Controller.api_version): outside it,
 * 406 "Version X was requested but the requested API is not supported for
 * this version." `maxMinor` null: no upper bound.
 */
export function requireVersion(req: FastifyRequest, minMinor: number, maxMinor: number | null = null): ApiVersion {
  const v = versionOf(req);
  if (!atLeast(v, minMinor) || (maxMinor !== null && !atMost(v, maxMinor))) throw new ApiNotSupportedInVersion(formatVersion(v));
  return v;
}

const essence = (req: FastifyRequest) => (req.headers['content-type'] ?? '').split(';')[0]!.trim();

/** True when the request says its body is JSON (then req.body is the parsed value or undefined). */
export const isJson = (req: FastifyRequest): boolean => essence(req).toLowerCase() === 'application/json';

/** api_utils.enforce_content_types(['application/json']): 415 otherwise. */
export function requireJson(req: FastifyRequest): void {
  if (!isJson(req)) throw new UnsupportedMediaType(essence(req));
}

/**
 * The JSON body when it is an object; {} for no body or a non-JSON one
 * (pecan ignores those). A JSON body that is not an object (an array, a
 * string) is a 400: pecan cannot merge it into the parameters either.
 */
export function jsonObject(req: FastifyRequest): Record<string, unknown> {
  if (!isJson(req) || req.body === undefined || req.body === null) return {};
  if (!isObject(req.body)) throw new SchemaValidationError('Invalid input: the request body must be a JSON object.');
  return req.body;
}

export const queryOf = (req: FastifyRequest): Record<string, unknown> => flattenQuery(req.query);

/** pecan's kwargs for non-GET requests: the JSON body under the query string. */
export const mergedParams = (req: FastifyRequest): Record<string, unknown> => ({ ...jsonObject(req), ...queryOf(req) });

export function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

export function orThrow(e: ZunError | null): void {
  if (e) throw e;
}
