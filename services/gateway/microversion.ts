/**
 * Microversion negotiation (zun/api/controllers/versions.py, v1/__init__.py).
 *
 * Pure. `negotiate` takes the raw `OpenStack-API-Version` header value and
 * returns the version or a 406 error carrying the headers Zun sends with it.
 */
import { MicroversionNotAcceptable, InvalidParamInVersion } from './errors.js';

export const SERVICE_TYPE = 'container';
export const MIN_MINOR = 1;
export const MAX_MINOR = 40;
export const MIN_VERSION = '1.1';
export const MAX_VERSION = '1.40';
export const VERSION_HEADER = 'OpenStack-API-Version';
export const MIN_VERSION_HEADER = 'OpenStack-API-Minimum-Version';
export const MAX_VERSION_HEADER = 'OpenStack-API-Maximum-Version';

export interface ApiVersion {
  readonly major: number;
  readonly minor: number;
}

export const formatVersion = (v: ApiVersion): string => `${v.major}.${v.minor}`;

/** `v >= 1.<minor>` (after negotiation the major is always 1). */
export const atLeast = (v: ApiVersion, minor: number): boolean => v.major > 1 || (v.major === 1 && v.minor >= minor);
export const atMost = (v: ApiVersion, minor: number): boolean => v.major < 1 || (v.major === 1 && v.minor <= minor);

/** Headers Zun sets on every /v1 response. */
export function versionHeaders(v: ApiVersion | null): Record<string, string> {
  const h: Record<string, string> = {
    [MIN_VERSION_HEADER]: `${SERVICE_TYPE} ${MIN_VERSION}`,
    [MAX_VERSION_HEADER]: `${SERVICE_TYPE} ${MAX_VERSION}`,
    vary: VERSION_HEADER,
  };
  if (v) h[VERSION_HEADER] = `${SERVICE_TYPE} ${formatVersion(v)}`;
  return h;
}

const RANGE = `[${SERVICE_TYPE} ${MIN_VERSION}, ${SERVICE_TYPE} ${MAX_VERSION}]`;

/** Python's int() on a version part (sign and surrounding blanks allowed). */
function pyInt(s: string): number | null {
  const t = s.trim();
  return /^[+-]?\d+$/.test(t) ? Number.parseInt(t, 10) : null;
}

export type Negotiated = { readonly ok: true; readonly version: ApiVersion } | { readonly ok: false; readonly error: MicroversionNotAcceptable };

export function negotiate(header: string | undefined): Negotiated {
  const raw = header ?? `${SERVICE_TYPE} ${MIN_VERSION}`;
  const parts = raw.trim().split(/\s+/);
  const invalidService = () =>
    ({ ok: false, error: new MicroversionNotAcceptable(`Invalid service type for ${VERSION_HEADER} header`, versionHeaders(null)) }) as const;
  if (parts.length !== 2) return invalidService();
  let [service, value] = parts as [string, string];
  if (value.toLowerCase() === 'latest') [service, value] = [SERVICE_TYPE, MAX_VERSION];
  if (service !== SERVICE_TYPE) return invalidService();
  const nums = value.split('.').map(pyInt);
  if (nums.length !== 2 || nums.some((n) => n === null)) {
    return { ok: false, error: new MicroversionNotAcceptable(`Invalid value for ${VERSION_HEADER} header`, versionHeaders(null)) };
  }
  const version = { major: nums[0]!, minor: nums[1]! };
  const headers = versionHeaders(version);
  if (version.major !== 1) {
    return {
      ok: false,
      error: new MicroversionNotAcceptable(
        `Mutually exclusive versions requested. Version ${formatVersion(version)} requested but not supported by this service. The supported version range is: ${RANGE}.`,
        headers,
      ),
    };
  }
  if (version.minor < MIN_MINOR || version.minor > MAX_MINOR) {
    return {
      ok: false,
      error: new MicroversionNotAcceptable(
        `Version ${formatVersion(version)} was requested but the minor version is not supported by this service. The supported version range is: ${RANGE}.`,
        headers,
      ),
    };
  }
  return { ok: true, version };
}

/** zun/api/utils.py:version_check as a value: null when allowed. */
export function versionCheck(param: string, v: ApiVersion, minMinor: number): InvalidParamInVersion | null {
  return atLeast(v, minMinor) ? null : new InvalidParamInVersion(param, formatVersion(v), `1.${minMinor}`);
}
