/**
 * Capsule template parsing and validation: the body of POST /v1/capsules
 * (`{"template": <object or JSON string>}`) turned into a CapsuleSpec, or
 * into the error Zun would answer with. Pure: no I/O, no clock, no random
 * names (member name suffixes come in through `opts`).
 *
 * Sources (openstack/zun 023280e4): parameter_types.capsule_template (the
 * schema), capsules.py check_capsule_template and _do_post, utils.py
 * capsule_get_container_spec / capsule_get_volume_spec /
 * check_for_restart_policy, and _build_requested_volumes.
 *
 * Order of checks, as in Zun, and only the first error is reported:
 *   1. a string template is parsed as JSON (failure: 500
 *      failed-parse-string-to-json);
 *   2. the JSON schema (400 schema-validation-error). Keywords are checked in
 *      the schema's key order, as Python's jsonschema does, so the reported
 *      error is the one Zun reports; messages mimic jsonschema's. An object
 *      template is validated as the `template` field of the body (field
 *      paths start at 'template'); a string template at its own root, as in
 *      check_capsule_template;
 *   3. semantic checks (500 invalid-capsule-template): no containers, an
 *      init container without image, a cinder volume with neither or both of
 *      volumeID and size;
 *   4. a volume no container mounts (400 invalid, "volume mount parameters is
 *      invalid.").
 *
 * Mapping (capsules.py _do_post): env -> environment, workDir -> workdir,
 * stdin -> interactive, command + args concatenated, ports -> exposed ports
 * "<port>/<tcp|udp>", resources.requests -> cpu / memory, imagePullPolicy
 * lower-cased (default always) and dropped for non-admins. The top-level
 * restartPolicy is accepted by the schema but ignored (Zun reads the key
 * `restart_policy`, which the schema forbids), so only spec.restartPolicy
 * counts: Always -> always, OnFailure -> on-failure, Never -> no, default
 * always. Capsule cpu / memory: the sum over containers, raised to the
 * largest single init-container request.
 *
 * Deliberate differences from Zun, each where Zun would fail later with an
 * unhandled error or do something surprising:
 *   - resources given as numeric strings ("0.5", "256") are summed as
 *     numbers (Zun's sum raises TypeError, a bare 500);
 *   - init containers are not schema-validated (as in Zun) but a field of
 *     the wrong type gives 500 invalid-capsule-template instead of a later
 *     crash; unknown init-container keys are ignored (as Zun's objects do);
 *   - a null command/args item (Zun's schema allows it, its
 *     ListOfStringsField then fails with a bare 500) gives 500
 *     invalid-capsule-template;
 *   - a containerPort must have at least one digit ('' passes Zun's pattern);
 *   - autoRemove "false" means false (Zun tests the raw value's truthiness);
 *   - a cinder size must be a positive integer (Zun passes any number on to
 *     Cinder, which refuses it with a 500);
 *   - volumeMounts naming a volume that is not declared are dropped (Zun
 *     ignores them the same way, they create no mapping);
 *   - label and annotation values are coerced to strings like Zun's
 *     DictOfStringsField (numbers, booleans as True/False); other values 500.
 */
import { pyRepr } from './pyfmt.js';
import type {
  CapsuleContainerSpec,
  CapsuleRestartPolicy,
  CapsuleSpec,
  CapsuleVolumeSpec,
} from '../events/index.js';

// ---- results ------------------------------------------------------------------

/**
 * An error as Zun reports it. `code` is Zun's exception class in kebab case;
 * Zun's body renders it as `container.<code>` for 4xx. For 5xx Zun shows only
 * the HTTP reason and a correlation id; `message` is what it logs.
 */
export interface CapsuleTemplateError {
  readonly status: 400 | 500;
  readonly code: 'schema-validation-error' | 'invalid-capsule-template' | 'failed-parse-string-to-json' | 'invalid';
  readonly message: string;
}

export type CapsuleTemplateResult =
  | { readonly spec: CapsuleSpec }
  | { readonly errors: readonly [CapsuleTemplateError] };

export interface CapsuleTemplateOptions {
  /** Admins keep imagePullPolicy; for others it is dropped silently (policy container:create:image_pull_policy). */
  readonly isAdmin: boolean;
  /** Used in member names when metadata.name is absent, as Zun does. */
  readonly capsuleUuid?: string;
  /**
   * The last part of each member's name, `capsule-<name|uuid>-<suffix>`.
   * Zun draws a random word here; the caller may pass its name generator.
   * Default: `init-<i>` / `container-<i>` (deterministic).
   */
  readonly nameSuffix?: (role: 'init' | 'container', index: number) => string;
}

/** Each member's Docker restart policy, as Zun sets it (capsules.py _do_post). */
export function capsuleMemberRestartPolicy(
  capsulePolicy: CapsuleRestartPolicy,
  role: 'init' | 'container',
): { readonly Name: CapsuleRestartPolicy; readonly MaximumRetryCount: string } {
  if (role === 'init' && capsulePolicy === 'always') return { Name: 'on-failure', MaximumRetryCount: '10' };
  return { Name: capsulePolicy, MaximumRetryCount: '0' };
}

export const CAPSULE_RESTART_POLICIES = { Always: 'always', OnFailure: 'on-failure', Never: 'no' } as const satisfies Record<
  string,
  CapsuleRestartPolicy
>;

// ---- the schema (parameter_types.py), keys in Zun's order ---------------------

type JType = 'string' | 'integer' | 'number' | 'boolean' | 'null' | 'array' | 'object';

interface Schema {
  readonly type?: readonly JType[];
  readonly enum?: readonly unknown[];
  /** Python re.search semantics: unanchored unless the pattern anchors itself. */
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  /** Zun's extended minimum/maximum: numeric strings are converted and checked too. */
  readonly minimum?: number;
  readonly maximum?: number;
  /** Render bounds as Python floats (16.0) in messages. */
  readonly floatBounds?: boolean;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly patternProperties?: Readonly<Record<string, Schema>>;
  readonly additionalProperties?: boolean;
  readonly required?: readonly string[];
  readonly items?: Schema;
}

const BOOLEAN: Schema = { type: ['boolean', 'string'], enum: [true, 'True', 'true', false, 'False', 'false'] };
const CONTAINER_NAME: Schema = { type: ['string', 'null'], minLength: 2, maxLength: 255, pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]+$' };
const IMAGE_NAME: Schema = { type: ['string'], minLength: 2, maxLength: 255, pattern: '[a-zA-Z0-9][a-zA-Z0-9_.-]' };
const COMMAND: Schema = { type: ['array'], items: { type: ['string', 'null'] } };
const CPU: Schema = { type: ['number', 'string', 'null'], pattern: '^[0-9]*(\\.([0-9]+))?$', minLength: 1, minimum: 0.1, maximum: 16, floatBounds: true };
const MEMORY: Schema = { type: ['string', 'integer', 'null'], minimum: 4, maximum: 8192, pattern: '^[0-9]+$' };
const NON_NEGATIVE_INTEGER: Schema = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 0 };
const VOLUME_NAME: Schema = { type: ['string'], minLength: 2, maxLength: 255, pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]+$' };
const RESTART_POLICY: Schema = { type: ['string'], enum: ['Always', 'OnFailure', 'Never'] };

const CONTAINER: Schema = {
  type: ['object'],
  properties: {
    name: CONTAINER_NAME,
    image: IMAGE_NAME,
    command: COMMAND,
    args: COMMAND,
    resources: {
      type: ['object'],
      properties: {
        requests: { type: ['object'], properties: { cpu: CPU, memory: MEMORY }, additionalProperties: false },
      },
      additionalProperties: false,
    },
    ports: {
      type: ['array'],
      items: {
        type: ['object'],
        properties: {
          name: CONTAINER_NAME,
          containerPort: NON_NEGATIVE_INTEGER,
          hostPort: NON_NEGATIVE_INTEGER,
          protocol: { type: ['string'], enum: ['TCP', 'UDP'] },
        },
        additionalProperties: false,
        required: ['containerPort'],
      },
    },
    volumeMounts: {
      type: ['array'],
      items: {
        type: ['object'],
        properties: { name: VOLUME_NAME, mountPath: { type: ['string'] }, readOnly: BOOLEAN },
        additionalProperties: false,
        required: ['name', 'mountPath'],
      },
    },
    env: { type: ['object', 'null'], patternProperties: { '.+': { type: ['string'] } } },
    workDir: { type: ['string', 'null'] },
    imagePullPolicy: { type: ['string', 'null'], enum: ['never', 'always', 'ifnotpresent', 'Never', 'Always', 'IfNotPresent', null] },
    stdin: BOOLEAN,
    tty: BOOLEAN,
  },
  additionalProperties: false,
  required: ['image'],
};

export const CAPSULE_TEMPLATE_SCHEMA: Schema = {
  type: ['object', 'string'],
  properties: {
    kind: { type: ['string'], enum: ['capsule', 'Capsule'] },
    capsuleVersion: { type: ['string'], enum: ['beta', 'Beta'] },
    metadata: {
      type: ['object'],
      properties: { labels: { type: ['object', 'null'] }, annotations: { type: ['object', 'null'] }, name: CONTAINER_NAME },
    },
    restartPolicy: RESTART_POLICY,
    spec: {
      type: ['object'],
      properties: {
        containers: { type: ['array'], items: CONTAINER },
        volumes: {
          type: ['array', 'null'],
          items: {
            type: ['object'],
            properties: {
              name: VOLUME_NAME,
              cinder: {
                type: ['object'],
                properties: {
                  volumeID: { type: ['string'], maxLength: 36, minLength: 36 },
                  size: { type: ['number'] },
                  autoRemove: BOOLEAN,
                },
                additionalProperties: false,
              },
            },
            additionalProperties: true,
            required: ['name', 'cinder'],
          },
        },
        restartPolicy: RESTART_POLICY,
      },
      additionalProperties: true,
      required: ['containers'],
    },
    availabilityZone: { type: ['string', 'null'], minLength: 1, maxLength: 255 },
  },
  additionalProperties: false,
  required: ['kind', 'spec', 'metadata'],
};

// ---- a JSON-schema subset with Python jsonschema's order and messages ---------

type Path = readonly (string | number)[];
interface SchemaFailure {
  readonly path: Path;
  readonly instance: unknown;
  readonly message: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Json, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isType(v: unknown, t: JType): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
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

/** Python's `==` for enum membership: True == 1 and 1 == 1.0; strings by value. */
function pyEquals(a: unknown, b: unknown): boolean {
  const num = (x: unknown): number | null => (typeof x === 'number' ? x : typeof x === 'boolean' ? Number(x) : null);
  const na = num(a);
  const nb = num(b);
  if (na !== null && nb !== null) return na === nb;
  return a === b;
}


const pyStr = (v: unknown): string => (typeof v === 'string' ? v : pyRepr(v));
const pyNum = (n: number, float: boolean | undefined): string => (float && Number.isInteger(n) ? `${n}.0` : String(n));

/** Zun's validators._number_from_str: int(), then float(), else None. Booleans stay booleans (not numbers). */
function numberFromStr(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return null;
  if (/^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  const s = v.trim().toLowerCase();
  if (/^[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?)$/.test(s)) return Number.parseFloat(s);
  if (/^[+-]?(inf|infinity)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return null;
}

/** The first error, in the order Python's jsonschema (Draft 4) finds it; null when valid. */
function firstSchemaError(schema: Schema, v: unknown, path: Path): SchemaFailure | null {
  const fail = (message: string): SchemaFailure => ({ path, instance: v, message });
  for (const key of Object.keys(schema) as (keyof Schema)[]) {
    switch (key) {
      case 'type': {
        const types = schema.type!;
        if (!types.some((t) => isType(v, t))) return fail(`${pyRepr(v)} is not of type ${types.map((t) => `'${t}'`).join(', ')}`);
        break;
      }
      case 'enum': {
        const values = schema.enum!;
        if (!values.some((e) => pyEquals(e, v))) return fail(`${pyRepr(v)} is not one of ${pyRepr(values)}`);
        break;
      }
      case 'pattern':
        if (typeof v === 'string' && !new RegExp(schema.pattern!).test(v)) return fail(`${pyRepr(v)} does not match ${pyRepr(schema.pattern)}`);
        break;
      case 'minLength':
        if (typeof v === 'string' && [...v].length < schema.minLength!) return fail(`${pyRepr(v)} is too short`);
        break;
      case 'maxLength':
        if (typeof v === 'string' && [...v].length > schema.maxLength!) return fail(`${pyRepr(v)} is too long`);
        break;
      case 'minimum': {
        const n = numberFromStr(v);
        if (n !== null && n < schema.minimum!) return fail(`${pyRepr(n)} is less than the minimum of ${pyNum(schema.minimum!, schema.floatBounds)}`);
        break;
      }
      case 'maximum': {
        const n = numberFromStr(v);
        if (n !== null && n > schema.maximum!) return fail(`${pyRepr(n)} is greater than the maximum of ${pyNum(schema.maximum!, schema.floatBounds)}`);
        break;
      }
      case 'properties':
        if (isObject(v)) {
          for (const [name, sub] of Object.entries(schema.properties!)) {
            if (!has(v, name)) continue;
            const e = firstSchemaError(sub, v[name], [...path, name]);
            if (e) return e;
          }
        }
        break;
      case 'patternProperties':
        if (isObject(v)) {
          for (const [pattern, sub] of Object.entries(schema.patternProperties!)) {
            const re = new RegExp(pattern);
            for (const [k, x] of Object.entries(v)) {
              if (!re.test(k)) continue;
              const e = firstSchemaError(sub, x, [...path, k]);
              if (e) return e;
            }
          }
        }
        break;
      case 'additionalProperties':
        if (isObject(v) && schema.additionalProperties === false) {
          const known = Object.keys(schema.properties ?? {});
          const patterns = Object.keys(schema.patternProperties ?? {}).map((p) => new RegExp(p));
          const extras = Object.keys(v).filter((k) => !known.includes(k) && !patterns.some((re) => re.test(k)));
          if (extras.length > 0) {
            return fail(`Additional properties are not allowed (${extras.map(pyRepr).join(', ')} ${extras.length === 1 ? 'was' : 'were'} unexpected)`);
          }
        }
        break;
      case 'required':
        if (isObject(v)) {
          for (const name of schema.required!) if (!has(v, name)) return fail(`${pyRepr(name)} is a required property`);
        }
        break;
      case 'items':
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            const e = firstSchemaError(schema.items!, v[i], [...path, i]);
            if (e) return e;
          }
        }
        break;
      case 'floatBounds':
        break;
    }
  }
  return null;
}

/** zun/api/validation/validators.py SchemaValidator.validate: the detail string. */
function schemaDetail(f: SchemaFailure): string {
  if (f.path.length === 0) return f.message;
  return `Invalid input for field '${String(f.path[f.path.length - 1])}'.Value: '${pyStr(f.instance)}'. ${f.message}`;
}

// ---- semantic mapping ---------------------------------------------------------

class TemplateRejection extends Error {
  constructor(readonly error: CapsuleTemplateError) {
    super(error.message);
  }
}

const invalidTemplate = (reason: string): TemplateRejection =>
  new TemplateRejection({ status: 500, code: 'invalid-capsule-template', message: `Invalid capsule template: ${reason}.` });

const TRUE_STRINGS = new Set(['True', 'true']);
const FALSE_STRINGS = new Set(['False', 'false']);

function toBool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && TRUE_STRINGS.has(v)) return true;
  if (typeof v === 'string' && FALSE_STRINGS.has(v)) return false;
  throw invalidTemplate(`${field} must be a boolean`);
}

/** The numeric value of cpu / memory given as a number or a numeric string; null when absent. */
function toNumber(v: unknown, field: string): number | null {
  if (v === undefined || v === null) return null;
  const n = numberFromStr(v);
  if (n === null || !Number.isFinite(n)) throw invalidTemplate(`${field} must be a number`);
  return n;
}

/** oslo DictOfStringsField coercion: strings, numbers and booleans (True/False) become strings. */
function toStringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalidTemplate(`${field} must be an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') out[k] = x;
    else if (typeof x === 'number' && Number.isFinite(x)) out[k] = String(x);
    else if (typeof x === 'boolean') out[k] = x ? 'True' : 'False';
    else throw invalidTemplate(`${field} values must be strings`);
  }
  return out;
}

function toStringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidTemplate(`${field} must be a list of strings`);
  return v as string[];
}

const PULL_POLICIES = new Set(['never', 'always', 'ifnotpresent']);

interface Requests {
  readonly cpu: number | null;
  readonly memory: number | null;
}

function requestsOf(c: Json, role: 'init' | 'container'): Requests {
  const resources = c['resources'];
  if (resources === undefined || resources === null) return { cpu: null, memory: null };
  if (!isObject(resources)) throw invalidTemplate(`${role} container resources must be an object`);
  const requests = resources['requests'];
  if (requests === undefined || requests === null) return { cpu: null, memory: null };
  if (!isObject(requests)) throw invalidTemplate(`${role} container resources.requests must be an object`);
  return { cpu: toNumber(requests['cpu'], 'cpu'), memory: toNumber(requests['memory'], 'memory') };
}

interface MemberDraft {
  readonly spec: Omit<CapsuleContainerSpec, 'name'>;
  readonly requests: Requests;
}

function memberOf(c: Json, role: 'init' | 'container', isAdmin: boolean): MemberDraft {
  const image = c['image'];
  if (typeof image !== 'string' || image.length === 0) throw invalidTemplate('image must be a non-empty string');
  const command = toStringList(c['command'], 'command');
  const args = toStringList(c['args'], 'args');
  const workdir = c['workDir'];
  if (workdir !== undefined && workdir !== null && typeof workdir !== 'string') throw invalidTemplate('workDir must be a string');

  let imagePullPolicy: CapsuleContainerSpec['imagePullPolicy'] = 'always';
  const policy = c['imagePullPolicy'];
  if (isAdmin && policy !== undefined && policy !== null) {
    const p = typeof policy === 'string' ? policy.toLowerCase() : '';
    if (!PULL_POLICIES.has(p)) throw invalidTemplate('imagePullPolicy must be Never, Always or IfNotPresent');
    imagePullPolicy = p as CapsuleContainerSpec['imagePullPolicy'];
  }

  const exposedPorts: string[] = [];
  const ports = c['ports'];
  if (ports !== undefined && ports !== null) {
    if (!Array.isArray(ports)) throw invalidTemplate('ports must be a list');
    for (const p of ports) {
      if (!isObject(p)) throw invalidTemplate('each port must be an object');
      const port = p['containerPort'];
      const portText = typeof port === 'number' && Number.isInteger(port) && port >= 0 ? String(port) : typeof port === 'string' ? port : '';
      if (!/^[0-9]+$/.test(portText)) throw invalidTemplate('containerPort must be a non-negative integer');
      const protocol = p['protocol'] ?? 'tcp';
      if (typeof protocol !== 'string' || !['tcp', 'udp'].includes(protocol.toLowerCase())) throw invalidTemplate('protocol must be TCP or UDP');
      const key = `${portText}/${protocol.toLowerCase()}`;
      if (!exposedPorts.includes(key)) exposedPorts.push(key);
    }
  }

  const volumeMounts: { name: string; mountPath: string; readOnly: boolean }[] = [];
  const mounts = c['volumeMounts'];
  if (mounts !== undefined && mounts !== null) {
    if (!Array.isArray(mounts)) throw invalidTemplate('volumeMounts must be a list');
    for (const m of mounts) {
      if (!isObject(m) || typeof m['name'] !== 'string' || typeof m['mountPath'] !== 'string') {
        throw invalidTemplate('each volumeMount needs a name and a mountPath');
      }
      volumeMounts.push({ name: m['name'], mountPath: m['mountPath'], readOnly: toBool(m['readOnly'], 'readOnly') });
    }
  }

  const requests = requestsOf(c, role);
  return {
    requests,
    spec: {
      image,
      command: command.length > 0 ? [...command, ...args] : args,
      workdir: typeof workdir === 'string' ? workdir : null,
      environment: toStringMap(c['env'], 'env'),
      imagePullPolicy,
      interactive: toBool(c['stdin'], 'stdin'),
      tty: toBool(c['tty'], 'tty'),
      // Zun: `if allocation.get('cpu')`: a zero request is no request.
      cpu: requests.cpu ? requests.cpu : null,
      memory: requests.memory ? requests.memory : null,
      exposedPorts,
      volumeMounts,
    },
  };
}

function volumesOf(spec: Json): CapsuleVolumeSpec[] {
  const volumes = spec['volumes'];
  if (!Array.isArray(volumes) || volumes.length === 0) return [];
  return volumes.map((raw): CapsuleVolumeSpec => {
    const v = raw as Json;
    if (v['name'] === undefined || v['name'] === null) throw invalidTemplate('Volume name is needed');
    const cinder = v['cinder'];
    // Zun: `if volumes_spec[i].get('cinder')`: an empty dict is falsy.
    if (!isObject(cinder) || Object.keys(cinder).length === 0) throw invalidTemplate('Zun now Only support Cinder volume driver');
    const volumeId = cinder['volumeID'];
    const size = cinder['size'];
    if (!volumeId) {
      if (size === undefined || size === null) throw invalidTemplate('Volume size is needed');
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw invalidTemplate('Volume size must be a positive integer');
      return { name: String(v['name']), volumeId: null, size, autoRemove: toBool(cinder['autoRemove'], 'autoRemove') };
    }
    if (size) throw invalidTemplate('Volume size and uuid could not be set at the same time');
    return { name: String(v['name']), volumeId: String(volumeId), size: null, autoRemove: false };
  });
}

/**
 * Parses and validates a capsule template (the `template` value of the
 * request body: an object, or a JSON string). Returns the spec, or the one
 * error Zun would report first.
 */
export function parseCapsuleTemplate(template: unknown, opts: CapsuleTemplateOptions): CapsuleTemplateResult {
  let tpl = template;
  let rootPath: Path = ['template'];
  if (typeof template === 'string') {
    try {
      tpl = JSON.parse(template) as unknown;
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      return { errors: [{ status: 500, code: 'failed-parse-string-to-json', message: `Failed parse string to json: ${reason}.` }] };
    }
    rootPath = [];
    // A string that holds a JSON string (or anything but an object) has no template in it.
    if (!isObject(tpl)) {
      return { errors: [{ status: 400, code: 'schema-validation-error', message: `${pyRepr(tpl)} is not of type 'object'` }] };
    }
  }

  const failure = firstSchemaError(CAPSULE_TEMPLATE_SCHEMA, tpl, rootPath);
  if (failure) return { errors: [{ status: 400, code: 'schema-validation-error', message: schemaDetail(failure) }] };
  if (!isObject(tpl)) {
    return { errors: [{ status: 400, code: 'schema-validation-error', message: `${pyRepr(tpl)} is not of type 'object'` }] };
  }

  try {
    return { spec: buildSpec(tpl, opts) };
  } catch (e) {
    if (e instanceof TemplateRejection) return { errors: [e.error] };
    throw e;
  }
}

function buildSpec(tpl: Json, opts: CapsuleTemplateOptions): CapsuleSpec {
  const spec = tpl['spec'] as Json;
  const metadata = (tpl['metadata'] ?? {}) as Json;

  const restartPolicy: CapsuleRestartPolicy =
    typeof spec['restartPolicy'] === 'string'
      ? CAPSULE_RESTART_POLICIES[spec['restartPolicy'] as keyof typeof CAPSULE_RESTART_POLICIES]
      : 'always';

  // capsule_get_container_spec
  const containers = spec['containers'] as unknown[];
  if (containers.length === 0) throw invalidTemplate('Capsule need to have one container at least');
  const initRaw = spec['initContainers'];
  let inits: unknown[] = [];
  if (initRaw !== undefined && initRaw !== null) {
    if (!Array.isArray(initRaw)) throw invalidTemplate('initContainers must be a list');
    for (const c of initRaw) if (!isObject(c) || !has(c, 'image')) throw invalidTemplate('Container image is needed');
    inits = initRaw;
  }
  // capsule_get_volume_spec
  const volumes = volumesOf(spec);

  const name = typeof metadata['name'] === 'string' ? metadata['name'] : null;
  const labels = toStringMap(metadata['labels'], 'labels');
  const annotations = toStringMap(metadata['annotations'], 'annotations');
  const az = tpl['availabilityZone'];

  const initDrafts = inits.map((c) => memberOf(c as Json, 'init', opts.isAdmin));
  const containerDrafts = containers.map((c) => memberOf(c as Json, 'container', opts.isAdmin));

  // Resource totals: sum over containers, then raised to any larger single init request.
  let cpu = 0;
  let memory = 0;
  for (const d of containerDrafts) {
    if (d.requests.cpu) cpu += d.requests.cpu;
    if (d.requests.memory) memory += d.requests.memory;
  }
  for (const d of initDrafts) {
    if (d.requests.cpu) cpu = Math.max(cpu, d.requests.cpu);
    if (d.requests.memory) memory = Math.max(memory, d.requests.memory);
  }

  const base = `capsule-${name ?? opts.capsuleUuid ?? 'unnamed'}`;
  const suffix = opts.nameSuffix ?? ((role: 'init' | 'container', i: number) => `${role}-${i}`);
  const initContainers = initDrafts.map((d, i): CapsuleContainerSpec => ({ name: `${base}-${suffix('init', i)}`, ...d.spec }));
  const members = containerDrafts.map((d, i): CapsuleContainerSpec => ({ name: `${base}-${suffix('container', i)}`, ...d.spec }));

  // _build_requested_volumes: every declared volume must be mounted by some member.
  const all = [...initContainers, ...members];
  for (const v of volumes) {
    if (!all.some((m) => m.volumeMounts.some((vm) => vm.name === v.name))) {
      throw new TemplateRejection({ status: 400, code: 'invalid', message: 'volume mount parameters is invalid.' });
    }
  }
  const declared = new Set(volumes.map((v) => v.name));
  const keepDeclared = (m: CapsuleContainerSpec): CapsuleContainerSpec =>
    m.volumeMounts.every((vm) => declared.has(vm.name)) ? m : { ...m, volumeMounts: m.volumeMounts.filter((vm) => declared.has(vm.name)) };

  return {
    // Zun keeps a missing name as null; CapsuleSpec.name is a string, so '' stands for "no name"
    // (a real name has at least 2 characters).
    name: name ?? '',
    labels,
    annotations,
    restartPolicy,
    availabilityZone: typeof az === 'string' ? az : null,
    cpu,
    memory,
    containers: members.map(keepDeclared),
    initContainers: initContainers.map(keepDeclared),
    volumes,
  };
}
