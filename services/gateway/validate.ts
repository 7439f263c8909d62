/**
 * Request validation: raw bodies and query strings in, normalised values or a
 * ZunError out. Nothing here does I/O, reads a clock or draws a random
 * number: the microversion, the policy check and the name generator come in
 * as arguments.
 *
 * The rules are Zun's (zun/api/controllers/v1/schemas/containers.py,
 * parameter_types.py and the checks in containers.py `_do_post`), applied in
 * Zun's order so the first error reported is the one Zun would report:
 *   1. JSON schema of the microversion (properties in schema order, then
 *      `required`, then unknown keys);
 *   2. then the controller's checks: microversion of each field
 *      (InvalidParamInVersion, 400) and policies (403), in `_do_post` order.
 *
 * Two deliberate tightenings, both to keep the event payload well typed:
 * `labels`, `hints` and `environment` values must be strings, and mount
 * `type` must be `volume` or `bind`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type {
  ContainerSpec,
  Healthcheck,
  ImagePullPolicy,
  MountRequest,
  NetRequest,
  RestartPolicy,
  RestartPolicyName,
} from '../../events/index.js';
import {
  InvalidValue,
  PolicyNotAuthorized,
  SchemaValidationError,
  type ZunError,
} from './errors.js';
import { atLeast, versionCheck, type ApiVersion } from './microversion.js';
import { pyRepr, pyStr } from '../../domain/pyfmt.js';
import { Rule } from './policy.js';
import { ShlexError, shlexSplit } from './shlex.js';

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ZunError };

/** Zun's defaults (zun/conf/container_driver.py). */
export const Defaults = { cpu: 1.0, memory: 512, imageDriver: 'docker', imagePullPolicy: 'always' } as const;

// ---- a small JSON-schema subset with Python jsonschema's messages ---------------

type JType = 'string' | 'integer' | 'number' | 'boolean' | 'null' | 'array' | 'object';

interface FieldSchema {
  readonly type: readonly JType[];
  readonly enum?: readonly unknown[];
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  /** Applies to numbers and to numeric strings (Zun's extended minimum/maximum). */
  readonly minimum?: number;
  readonly maximum?: number;
  /** How Python prints the bound (16.0 vs 16). */
  readonly boundsAreFloat?: boolean;
}

type Where = 'body' | 'query';

/** Thrown inside this module only; the exported functions return Results. */
class Rejected extends Error {
  constructor(readonly error: ZunError) {
    super(error.message);
  }
}
function reject(error: ZunError): never {
  throw new Rejected(error);
}

function run<T>(f: () => T): Result<T> {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof Rejected) return { ok: false, error: e.error };
    throw e;
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isType(v: unknown, t: JType): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isObject(v);
  }
}

function schemaError(where: Where, field: string, value: unknown, message: string): SchemaValidationError {
  return new SchemaValidationError(
    where === 'body'
      ? `Invalid input for field '${field}'.Value: '${pyStr(value)}'. ${message}`
      : `Invalid input for query parameters '${field}'. Value: '${pyStr(value)}'. ${message}`,
  );
}

/** Python's int(), then float(), of a string; null when neither parses. */
function numberFromString(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return null;
  const t = v.trim();
  if (/^[+-]?\d+$/.test(t)) return Number.parseInt(t, 10);
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number.parseFloat(t);
  return null;
}

const pyNum = (n: number, float: boolean | undefined) => (float && Number.isInteger(n) ? `${n}.0` : String(n));

function check(where: Where, field: string, v: unknown, s: FieldSchema): void {
  if (!s.type.some((t) => isType(v, t))) {
    reject(schemaError(where, field, v, `${pyRepr(v)} is not of type ${s.type.map((t) => `'${t}'`).join(', ')}`));
  }
  if (s.enum && !s.enum.includes(v)) {
    reject(schemaError(where, field, v, `${pyRepr(v)} is not one of ${pyRepr(s.enum)}`));
  }
  if (typeof v === 'string') {
    if (s.minLength !== undefined && [...v].length < s.minLength) reject(schemaError(where, field, v, `${pyRepr(v)} is too short`));
    if (s.maxLength !== undefined && [...v].length > s.maxLength) reject(schemaError(where, field, v, `${pyRepr(v)} is too long`));
    if (s.pattern && !s.pattern.test(v)) {
      reject(schemaError(where, field, v, `${pyRepr(v)} does not match ${pyRepr(s.pattern.source)}`));
    }
  }
  const n = numberFromString(v);
  if (n !== null) {
    if (s.minimum !== undefined && n < s.minimum) {
      reject(schemaError(where, field, v, `${pyRepr(n)} is less than the minimum of ${pyNum(s.minimum, s.boundsAreFloat)}`));
    }
    if (s.maximum !== undefined && n > s.maximum) {
      reject(schemaError(where, field, v, `${pyRepr(n)} is greater than the maximum of ${pyNum(s.maximum, s.boundsAreFloat)}`));
    }
  }
}

function noUnknownKeys(where: Where, obj: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length === 0) return;
  const list = unknown.map((k) => pyRepr(k)).join(', ');
  const msg = `Additional properties are not allowed (${list} ${unknown.length === 1 ? 'was' : 'were'} unexpected)`;
  // Zun reports an error at the top of the schema with the bare message, body or query alike.
  void where;
  reject(new SchemaValidationError(msg));
}

// ---- parameter types (parameter_types.py) ---------------------------------------

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const BOOLEAN: FieldSchema = { type: ['boolean', 'string'], enum: [true, 'True', 'true', false, 'False', 'false'] };
export const BOOLEAN_EXTENDED_VALUES = [
  true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes',
  false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no',
] as const;
const BOOLEAN_EXTENDED: FieldSchema = { type: ['boolean', 'string'], enum: BOOLEAN_EXTENDED_VALUES };
const CONTAINER_NAME: FieldSchema = { type: ['string', 'null'], minLength: 2, maxLength: 255, pattern: NAME_PATTERN };
const IMAGE_NAME: FieldSchema = { type: ['string'], minLength: 2, maxLength: 255, pattern: /[a-zA-Z0-9][a-zA-Z0-9_.-]/ };
const CPU: FieldSchema = {
  type: ['number', 'string', 'null'],
  pattern: /^[0-9]*(\.([0-9]+))?$/,
  minLength: 1,
  minimum: 0.1,
  maximum: 16,
  boundsAreFloat: true,
};
const MEMORY: FieldSchema = { type: ['string', 'integer', 'null'], minimum: 4, maximum: 8192, pattern: /^[0-9]+$/ };
/**
 * Docker refuses a memory limit under 6 MiB ("Minimum memory limit allowed
 * is 6MB"), which Zun's schema lets through (4 and 5): Zun's create then
 * ends in Error and its update in a 500. Here an update is carried out after
 * the 200, so a value Docker can never take is refused before anything is
 * recorded, at create too.
 */
const DOCKER_MIN_MEMORY_MIB = 6;
function checkDockerMemory(v: unknown): void {
  if (v === null || v === undefined) return; // the schema has refused anything else that is not a number
  const n = toNumber(v);
  if (n < DOCKER_MIN_MEMORY_MIB) {
    reject(schemaError('body', 'memory', v, `${pyRepr(v)} is less than ${DOCKER_MIN_MEMORY_MIB}, the smallest memory limit (MiB) Docker accepts`));
  }
}
const DISK: FieldSchema = { type: ['string', 'integer', 'null'], minimum: 1, maximum: 160, pattern: /^[0-9]+$/ };
/** parameter_types.hostname as finally defined (the second definition wins); also used for `host`. */
const HOSTNAME: FieldSchema = { type: ['string'], minLength: 1, maxLength: 255, pattern: /^[a-zA-Z0-9-._]*$/ };
const NON_NEGATIVE_INTEGER: FieldSchema = { type: ['integer', 'string'], pattern: /^[0-9]*$/, minimum: 0 };
const STRING_OR_NULL: FieldSchema = { type: ['string', 'null'] };
const OBJECT_OR_NULL: FieldSchema = { type: ['object', 'null'] };
const ARRAY_OR_NULL: FieldSchema = { type: ['array', 'null'] };

/** oslo strutils.bool_from_string(strict=True) on a value that passed the schema. */
export function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  return ['1', 't', 'true', 'on', 'y', 'yes'].includes(s);
}

export const BOOL_STRINGS = '1, t, true, on, y, yes, 0, f, false, off, n, no';

/** strutils.bool_from_string(strict=True) on free input: null when neither true nor false. */
export function parseBoolStrict(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
  return null;
}

/** Linux signal names as Python's `signal.Signals` enumerates them (aliases excluded). */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17,
  SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25,
  SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31, SIGRTMIN: 34, SIGRTMAX: 64,
};
/** Every spelling Zun accepts, mapped to the canonical `SIGxxx` name ('None' maps to null). */
const SIGNAL_SPELLINGS: ReadonlyMap<string, string | null> = (() => {
  const m = new Map<string, string | null>([['None', null]]);
  for (const [name, num] of Object.entries(SIGNAL_NUMBERS)) {
    for (const s of [name, name.replace('SIG', ''), name.toLowerCase(), name.toLowerCase().replace('sig', ''), String(num)]) {
      m.set(s, name);
    }
  }
  return m;
})();

// ---- helpers over params ----------------------------------------------------------

/** Query-string values: the last one wins when a key repeats. */
export function flattenQuery(q: unknown): Record<string, unknown> {
  if (!isObject(q)) return {};
  return Object.fromEntries(Object.entries(q).map(([k, v]) => [k, Array.isArray(v) ? v[v.length - 1] : v]));
}

/** Body fields present with a value other than null. */
const given = (o: Record<string, unknown>, k: string) => Object.hasOwn(o, k) && o[k] !== null && o[k] !== undefined;

function stringMap(field: string, v: unknown): Record<string, string> {
  if (v === null || v === undefined) return {};
  const o = v as Record<string, unknown>;
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== 'string') reject(schemaError('body', `${field}.${k}`, x, `${pyRepr(x)} is not of type 'string'`));
  }
  return Object.fromEntries(Object.entries(o) as [string, string][]);
}

function stringList(field: string, v: unknown): string[] {
  if (v === null || v === undefined) return [];
  const a = v as unknown[];
  a.forEach((x, i) => {
    if (typeof x !== 'string') reject(schemaError('body', `${field}[${i}]`, x, `${pyRepr(x)} is not of type 'string'`));
  });
  return a as string[];
}

const toNumber = (v: unknown): number => numberFromString(v) as number;

// ---- container create --------------------------------------------------------------

export interface CreateOptions {
  readonly version: ApiVersion;
  /** The policy engine's answer for a rule, for the caller making the request. */
  readonly can: (rule: string) => boolean;
  /** Called only when the body names no container. */
  readonly generateName: () => string;
}

/** The `?run=` query of POST /containers (query_param_create). */
export function validateCreateQuery(query: unknown): Result<{ readonly run: boolean }> {
  return run(() => {
    const q = flattenQuery(query);
    if (Object.hasOwn(q, 'run')) check('query', 'run', q['run'], BOOLEAN_EXTENDED);
    noUnknownKeys('query', q, ['run']);
    return { run: given(q, 'run') ? toBool(q['run']) : false };
  });
}

/** Property order of Zun's create schemas: the order errors are found in. */
const CREATE_PROPERTIES = [
  'name', 'image', 'command', 'cpu', 'cpu_policy', 'memory', 'workdir', 'auto_remove', 'image_pull_policy', 'labels',
  'environment', 'restart_policy', 'interactive', 'tty', 'image_driver', 'security_groups', 'hints', 'mounts', 'nets',
  'runtime', 'hostname', 'disk', 'availability_zone', 'auto_heal', 'privileged', 'healthcheck', 'exposed_ports', 'registry',
] as const;

function createProperties(v: ApiVersion): string[] {
  const props: string[] = [...CREATE_PROPERTIES];
  if (atLeast(v, 39)) props.push('host');
  if (atLeast(v, 40)) props.push('entrypoint');
  return props;
}

function checkNets(v: unknown): NetRequest[] {
  if (v === null || v === undefined) return [];
  return (v as unknown[]).map((item, i) => {
    const field = `nets[${i}]`;
    if (!isObject(item)) return reject(schemaError('body', field, item, `${pyRepr(item)} is not of type 'object'`));
    if (given(item, 'network')) check('body', 'network', item['network'], { type: ['string'], minLength: 1, maxLength: 255 });
    if (Object.hasOwn(item, 'v4-fixed-ip')) {
      check('body', 'v4-fixed-ip', item['v4-fixed-ip'], { type: ['string'] });
      if (!isIPv4(item['v4-fixed-ip'] as string)) {
        reject(schemaError('body', 'v4-fixed-ip', item['v4-fixed-ip'], `${pyRepr(item['v4-fixed-ip'])} is not a 'ipv4'`));
      }
    }
    if (Object.hasOwn(item, 'v6-fixed-ip')) {
      check('body', 'v6-fixed-ip', item['v6-fixed-ip'], { type: ['string'] });
      if (!isIPv6(item['v6-fixed-ip'] as string)) {
        reject(schemaError('body', 'v6-fixed-ip', item['v6-fixed-ip'], `${pyRepr(item['v6-fixed-ip'])} is not a 'ipv6'`));
      }
    }
    if (given(item, 'port')) check('body', 'port', item['port'], { type: ['string'], minLength: 1, maxLength: 255 });
    if (Object.hasOwn(item, 'network') && item['network'] === null) check('body', 'network', null, { type: ['string'] });
    if (Object.hasOwn(item, 'port') && item['port'] === null) check('body', 'port', null, { type: ['string'] });
    noUnknownKeys('body', item, ['network', 'v4-fixed-ip', 'v6-fixed-ip', 'port']);
    const hasNet = Object.hasOwn(item, 'network');
    const hasPort = Object.hasOwn(item, 'port');
    if (hasNet && hasPort) {
      reject(schemaError('body', field, item, `${pyRepr(item)} is valid under each of {'required': ['network']}, {'required': ['port']}`));
    }
    if (!hasNet && !hasPort) reject(schemaError('body', field, item, `${pyRepr(item)} is not valid under any of the given schemas`));
    const net: NetRequest = {
      ...(hasNet ? { network: item['network'] as string } : {}),
      ...(hasPort ? { port: item['port'] as string } : {}),
      ...(Object.hasOwn(item, 'v4-fixed-ip') ? { v4FixedIp: item['v4-fixed-ip'] as string } : {}),
      ...(Object.hasOwn(item, 'v6-fixed-ip') ? { v6FixedIp: item['v6-fixed-ip'] as string } : {}),
    };
    return net;
  });
}

function checkMounts(v: unknown): MountRequest[] {
  if (v === null || v === undefined) return [];
  return (v as unknown[]).map((item, i) => {
    const field = `mounts[${i}]`;
    if (!isObject(item)) return reject(schemaError('body', field, item, `${pyRepr(item)} is not of type 'object'`));
    for (const k of ['type', 'source', 'destination'] as const) {
      if (Object.hasOwn(item, k)) check('body', k, item[k], { type: ['string'] });
    }
    if (Object.hasOwn(item, 'size')) check('body', 'size', item['size'], { type: ['string', 'integer'] });
    noUnknownKeys('body', item, ['type', 'source', 'destination', 'size']);
    const has = (k: string) => Object.hasOwn(item, k);
    if (!((has('source') && has('destination')) || (has('size') && has('destination')))) {
      reject(schemaError('body', field, item, `${pyRepr(item)} is not valid under any of the given schemas`));
    }
    const type = (item['type'] as string | undefined) ?? 'volume';
    if (type !== 'volume' && type !== 'bind') reject(new InvalidValue(`Invalid mount type ${type}: it must be volume or bind.`));
    let size: number | undefined;
    if (has('size')) {
      const n = numberFromString(item['size']);
      if (n === null || !Number.isInteger(n) || n < 1) reject(new InvalidValue(`Invalid mount size ${pyStr(item['size'])}: a positive integer (GB) is expected.`));
      size = n as number;
    }
    if (type === 'bind' && !has('source')) reject(new InvalidValue('A bind mount needs a source (the base64 file content).'));
    const mount: MountRequest = {
      type,
      destination: item['destination'] as string,
      ...(has('source') ? { source: item['source'] as string } : {}),
      ...(size !== undefined ? { size } : {}),
    };
    return mount;
  });
}

function checkRestartPolicy(v: unknown): RestartPolicy {
  if (v === null || v === undefined) return { name: 'no', maximumRetryCount: 0 };
  const o = v as Record<string, unknown>;
  if (Object.hasOwn(o, 'Name')) {
    check('body', 'Name', o['Name'], { type: ['string'], enum: ['no', 'always', 'on-failure', 'unless-stopped'] });
  }
  if (Object.hasOwn(o, 'MaximumRetryCount')) {
    check('body', 'MaximumRetryCount', o['MaximumRetryCount'], { type: ['integer', 'string', 'null'], minimum: 0, pattern: /^[0-9]+$/ });
  }
  noUnknownKeys('body', o, ['Name', 'MaximumRetryCount']);
  if (!Object.hasOwn(o, 'Name')) reject(schemaError('body', 'restart_policy', o, `'Name' is a required property`));
  return { name: o['Name'] as RestartPolicyName, maximumRetryCount: given(o, 'MaximumRetryCount') ? toNumber(o['MaximumRetryCount']) : 0 };
}

function checkHealthcheck(o: Record<string, unknown>): Healthcheck {
  if (Object.hasOwn(o, 'cmd')) check('body', 'cmd', o['cmd'], { type: ['string'], minLength: 1, maxLength: 255 });
  for (const k of ['interval', 'retries', 'timeout'] as const) {
    if (Object.hasOwn(o, k)) check('body', k, o[k], { type: ['integer', 'null'] });
  }
  noUnknownKeys('body', o, ['cmd', 'interval', 'retries', 'timeout']);
  const num = (k: string) => (given(o, k) ? (o[k] as number) : 0);
  return { test: (o['cmd'] as string | undefined) ?? '', interval: num('interval'), retries: num('retries'), timeout: num('timeout') };
}

/** zun/common/utils.py:build_exposed_ports, normalised to `<port>/<proto>` keys. */
function buildExposedPorts(o: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of Object.keys(o)) {
    const parts = key.split('/');
    const [port, protocol] = parts.length === 2 ? (parts as [string, string]) : [key, 'tcp'];
    if (protocol !== 'tcp' && protocol !== 'udp') reject(new InvalidValue(`value ${protocol} is an invalid protocol`));
    const n = /^\s*[+-]?\d+\s*$/.test(port) ? Number.parseInt(port, 10) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65535) reject(new InvalidValue(`value ${port} is invalid as publish port.`));
    const norm = `${n}/${protocol}`;
    if (!out.includes(norm)) out.push(norm);
  }
  return out;
}

/**
 * Validates and normalises a container create body for a microversion.
 * Returns the spec to put in ContainerCreateRequested, or the first error.
 */
export function validateCreateContainer(body: unknown, opts: CreateOptions): Result<ContainerSpec> {
  return run(() => {
    const { version: v, can } = opts;
    if (!isObject(body)) return reject(new SchemaValidationError(`${pyRepr(body ?? null)} is not of type 'object'`));
    const b = body;
    const has = (k: string) => Object.hasOwn(b, k);
    const legacy = !atLeast(v, 20);

    // 1. the schema, property by property in Zun's order
    const s: Record<string, FieldSchema> = {
      name: CONTAINER_NAME,
      image: IMAGE_NAME,
      command: legacy ? STRING_OR_NULL : ARRAY_OR_NULL,
      cpu: CPU,
      cpu_policy: { type: ['string'], enum: ['dedicated', 'shared'] },
      memory: MEMORY,
      workdir: STRING_OR_NULL,
      auto_remove: { type: ['boolean', 'null'] },
      image_pull_policy: { type: ['string', 'null'], enum: ['never', 'always', 'ifnotpresent', 'Never', 'Always', 'IfNotPresent', null] },
      labels: OBJECT_OR_NULL,
      environment: OBJECT_OR_NULL,
      restart_policy: OBJECT_OR_NULL,
      interactive: BOOLEAN,
      tty: BOOLEAN,
      image_driver: { type: ['string', 'null'], enum: ['glance', 'docker', null, 'None'] },
      security_groups: ARRAY_OR_NULL,
      hints: OBJECT_OR_NULL,
      mounts: ARRAY_OR_NULL,
      nets: ARRAY_OR_NULL,
      runtime: STRING_OR_NULL,
      hostname: HOSTNAME,
      disk: DISK,
      availability_zone: { type: ['string', 'null'], minLength: 1, maxLength: 255 },
      auto_heal: BOOLEAN,
      privileged: BOOLEAN,
      healthcheck: OBJECT_OR_NULL,
      exposed_ports: OBJECT_OR_NULL,
      registry: { type: ['string'], minLength: 2, maxLength: 255, pattern: NAME_PATTERN },
      host: HOSTNAME,
      entrypoint: ARRAY_OR_NULL,
    };
    const props = createProperties(v);
    let environment: Record<string, string> = {};
    let labels: Record<string, string> = {};
    let hints: Record<string, string> = {};
    let securityGroups: string[] = [];
    let nets: NetRequest[] = [];
    let mounts: MountRequest[] = [];
    let restartPolicy: RestartPolicy = { name: 'no', maximumRetryCount: 0 };
    let command: string[] = [];
    let entrypoint: string[] | null = null;
    for (const p of props) {
      if (!has(p)) continue;
      check('body', p, b[p], s[p]!);
      if (p === 'memory') checkDockerMemory(b[p]);
      switch (p) {
        case 'environment':
          environment = stringMap(p, b[p]);
          break;
        case 'labels':
          labels = stringMap(p, b[p]);
          break;
        case 'hints':
          hints = stringMap(p, b[p]);
          break;
        case 'security_groups':
          securityGroups = stringList(p, b[p]);
          securityGroups.forEach((g, i) => check('body', `security_groups[${i}]`, g, { type: ['string'], minLength: 1, maxLength: 255 }));
          break;
        case 'nets':
          nets = checkNets(b[p]);
          break;
        case 'mounts':
          mounts = checkMounts(b[p]);
          break;
        case 'restart_policy':
          restartPolicy = checkRestartPolicy(b[p]);
          break;
        case 'command':
          if (legacy) {
            if (typeof b[p] === 'string') {
              try {
                command = shlexSplit(b[p] as string);
              } catch (e) {
                if (e instanceof ShlexError) reject(new InvalidValue(`Invalid command ${pyRepr(b[p])}: ${e.message}`));
                throw e;
              }
            }
          } else {
            command = stringList(p, b[p]);
          }
          break;
        case 'entrypoint':
          entrypoint = b[p] === null ? null : stringList(p, b[p]);
          break;
        case 'healthcheck':
          if (isObject(b[p])) checkHealthcheck(b[p] as Record<string, unknown>);
          break;
      }
    }
    if (!has('image')) reject(new SchemaValidationError(`'image' is a required property`));
    if (!legacy && has('security_groups') && has('exposed_ports')) {
      const both = { required: ['security_groups', 'exposed_ports'] };
      reject(new SchemaValidationError(`${pyRepr(both)} is not allowed for ${pyRepr(b)}`));
    }
    noUnknownKeys('body', b, props);

    // 2. the controller's checks, in _do_post's order
    const interactive = given(b, 'interactive') ? toBool(b['interactive']) : false;
    let tty = given(b, 'tty') ? toBool(b['tty']) : false;
    if (atLeast(v, 20) && !atLeast(v, 36) && given(b, 'interactive')) tty = interactive;

    const fail = (e: ZunError | null) => {
      if (e) reject(e);
    };
    let autoRemove = false;
    if (given(b, 'auto_remove')) {
      fail(versionCheck('auto_remove', v, 3));
      autoRemove = b['auto_remove'] as boolean;
    }
    let runtime: string | null = null;
    if (given(b, 'runtime')) {
      fail(versionCheck('runtime', v, 5));
      if (!can(Rule.createRuntime)) reject(new PolicyNotAuthorized(Rule.createRuntime));
      runtime = b['runtime'] as string;
    }
    let hostname: string | null = null;
    if (given(b, 'hostname')) {
      fail(versionCheck('hostname', v, 9));
      hostname = b['hostname'] as string;
    }
    let healthcheck: Healthcheck | null = null;
    if (isObject(b['healthcheck']) && Object.keys(b['healthcheck']).length > 0) {
      fail(versionCheck('healthcheck', v, 22));
      healthcheck = checkHealthcheck(b['healthcheck']);
    }
    if (mounts.length > 0) fail(versionCheck('mounts', v, 11));
    let privileged = false;
    if (given(b, 'privileged')) {
      fail(versionCheck('privileged', v, 21));
      // Zun's default policy for this rule is `!`: denied to everyone, whatever the value.
      if (!can(Rule.createPrivileged)) reject(new PolicyNotAuthorized(Rule.createPrivileged));
      privileged = toBool(b['privileged']);
    }
    const driver = b['image_driver'];
    const imageDriver = driver === null || driver === undefined || driver === 'None' ? Defaults.imageDriver : (driver as 'docker' | 'glance');
    let imagePullPolicy: ImagePullPolicy = Defaults.imagePullPolicy;
    if (given(b, 'image_pull_policy')) {
      if (!can(Rule.createImagePullPolicy)) reject(new PolicyNotAuthorized(Rule.createImagePullPolicy));
      imagePullPolicy = (b['image_pull_policy'] as string).toLowerCase() as ImagePullPolicy;
    }
    const name = given(b, 'name') ? (b['name'] as string) : opts.generateName();
    if (has('restart_policy') && b['restart_policy'] !== null) {
      const { name: policy, maximumRetryCount } = restartPolicy;
      if ((policy === 'always' || policy === 'unless-stopped') && maximumRetryCount !== 0) {
        reject(new InvalidValue(`maximum retry count not valid with restart policy of ${policy}`));
      }
      if (policy === 'no') restartPolicy = { name: 'no', maximumRetryCount: 0 };
    }
    let exposedPorts: string[] = [];
    if (given(b, 'exposed_ports')) {
      fail(versionCheck('exposed_ports', v, 24));
      exposedPorts = buildExposedPorts(b['exposed_ports'] as Record<string, unknown>);
    }
    let registryId: string | null = null;
    if (given(b, 'registry') && b['registry'] !== '') {
      fail(versionCheck('registry', v, 31));
      registryId = b['registry'] as string;
    }
    let requestedHost: string | null = null;
    if (given(b, 'host') && b['host'] !== '') {
      if (!can(Rule.createRequestedDestination)) reject(new PolicyNotAuthorized(Rule.createRequestedDestination));
      requestedHost = b['host'] as string;
    }

    const spec: ContainerSpec = {
      name,
      image: b['image'] as string,
      command,
      entrypoint,
      cpu: given(b, 'cpu') ? toNumber(b['cpu']) : Defaults.cpu,
      memory: given(b, 'memory') ? toNumber(b['memory']) : Defaults.memory,
      disk: given(b, 'disk') ? toNumber(b['disk']) : null,
      workdir: given(b, 'workdir') ? (b['workdir'] as string) : null,
      hostname,
      environment,
      labels,
      imageDriver,
      imagePullPolicy,
      restartPolicy,
      interactive,
      tty,
      autoRemove,
      autoHeal: given(b, 'auto_heal') ? toBool(b['auto_heal']) : false,
      runtime,
      privileged,
      healthcheck,
      exposedPorts,
      securityGroups: [...new Set(securityGroups)],
      cpuPolicy: given(b, 'cpu_policy') ? (b['cpu_policy'] as 'shared' | 'dedicated') : 'shared',
      registryId,
      availabilityZone: given(b, 'availability_zone') ? (b['availability_zone'] as string) : null,
      hints,
      requestedHost,
      nets,
      mounts,
    };
    return spec;
  });
}

// ---- PATCH /containers/{ident} (container_update) ------------------------------------

export interface ContainerPatch {
  readonly name?: string;
  readonly cpu?: number;
  readonly memory?: number;
  readonly autoHeal?: boolean;
}

export function validateUpdate(params: Record<string, unknown>): Result<ContainerPatch> {
  return run(() => {
    const order = ['cpu', 'memory', 'name', 'auto_heal'] as const;
    const schema: Record<(typeof order)[number], FieldSchema> = { cpu: CPU, memory: MEMORY, name: CONTAINER_NAME, auto_heal: BOOLEAN };
    for (const k of order) if (Object.hasOwn(params, k)) check('body', k, params[k], schema[k]);
    noUnknownKeys('body', params, order);
    if (Object.hasOwn(params, 'memory')) checkDockerMemory(params['memory']);
    return {
      ...(given(params, 'name') ? { name: params['name'] as string } : {}),
      ...(given(params, 'cpu') ? { cpu: toNumber(params['cpu']) } : {}),
      ...(given(params, 'memory') ? { memory: toNumber(params['memory']) } : {}),
      ...(given(params, 'auto_heal') ? { autoHeal: toBool(params['auto_heal']) } : {}),
    };
  });
}

// ---- action parameters -----------------------------------------------------------------

/**
 * stop / reboot: Zun validates the query string (query_param_stop: only
 * `timeout`) and reads `timeout` from the merged query and body.
 */
export function validateTimeoutParams(query: Record<string, unknown>, merged: Record<string, unknown>): Result<{ readonly timeout: number | null }> {
  return run(() => {
    if (Object.hasOwn(query, 'timeout')) check('query', 'timeout', query['timeout'], NON_NEGATIVE_INTEGER);
    noUnknownKeys('query', query, ['timeout']);
    const t = merged['timeout'];
    if (t === undefined || t === null || t === '') return { timeout: null };
    check('body', 'timeout', t, NON_NEGATIVE_INTEGER);
    return { timeout: toNumber(t) };
  });
}

/** kill: the merged parameters may only hold `signal` (query_param_signal); the name is made canonical. */
export function validateKillParams(merged: Record<string, unknown>): Result<{ readonly signal: string | null }> {
  return run(() => {
    if (Object.hasOwn(merged, 'signal')) {
      const s = merged['signal'];
      if (s !== null && !(typeof s === 'string' && SIGNAL_SPELLINGS.has(s))) {
        check('body', 'signal', s, { type: ['string', 'null'] });
        reject(schemaError('body', 'signal', s, `${pyRepr(s)} is not one of ${pyRepr([...SIGNAL_SPELLINGS.keys()])}`));
      }
    }
    noUnknownKeys('body', merged, ['signal']);
    const s = merged['signal'];
    return { signal: typeof s === 'string' ? (SIGNAL_SPELLINGS.get(s) ?? null) : null };
  });
}

export interface DeleteParams {
  readonly force: boolean;
  readonly stop: boolean;
  readonly allProjects: boolean;
}

/** DELETE's query string (query_param_delete). */
export function validateDeleteQuery(query: Record<string, unknown>): Result<DeleteParams> {
  return run(() => {
    for (const k of ['force', 'all_projects', 'stop'] as const) {
      if (Object.hasOwn(query, k)) check('query', k, query[k], BOOLEAN_EXTENDED);
    }
    noUnknownKeys('query', query, ['force', 'all_projects', 'stop']);
    const b = (k: string) => (given(query, k) ? toBool(query[k]) : false);
    return { force: b('force'), stop: b('stop'), allProjects: b('all_projects') };
  });
}

/** rename (1.1-1.13): query_param_rename, `name` required. */
export function validateRename(query: Record<string, unknown>, merged: Record<string, unknown>): Result<{ readonly name: string }> {
  return run(() => {
    if (Object.hasOwn(query, 'name')) check('query', 'name', query['name'], CONTAINER_NAME);
    noUnknownKeys('query', query, ['name']);
    const name = merged['name'];
    if (name === undefined || name === null) return reject(new SchemaValidationError(`'name' is a required property`));
    check('body', 'name', name, CONTAINER_NAME);
    return { name: name as string };
  });
}

/** utils.is_all_projects: absent or empty is false; otherwise strict boolean. */
export function parseAllProjects(query: Record<string, unknown>): Result<boolean> {
  return run(() => {
    const v = query['all_projects'];
    if (v === undefined || v === null || v === '' || v === false) return false;
    const b = parseBoolStrict(v);
    if (b === null) reject(new InvalidValue(`Valid all_projects values are: ${BOOL_STRINGS}`));
    return b as boolean;
  });
}

// ---- for other route modules -------------------------------------------------------------

export type { FieldSchema, JType };

/** One field against a schema, with Zun's jsonschema messages; null when it passes. */
export function fieldError(where: 'body' | 'query', field: string, value: unknown, schema: FieldSchema): ZunError | null {
  const r = run(() => check(where, field, value, schema));
  return r.ok ? null : r.error;
}

/** `additionalProperties: false`, Zun's message; null when every key is allowed. */
export function unknownKeysError(obj: Record<string, unknown>, allowed: readonly string[]): ZunError | null {
  const r = run(() => noUnknownKeys('body', obj, allowed));
  return r.ok ? null : r.error;
}
