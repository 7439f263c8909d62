import { describe, expect, it } from 'vitest';
import type { CapsuleSpec } from '../events/index.js';
import {
  capsuleMemberRestartPolicy,
  parseCapsuleTemplate,
  type CapsuleTemplateError,
  type CapsuleTemplateResult,
} from './capsule-template.js';
import { pyRepr } from './pyfmt.js';

const user = { isAdmin: false };
const admin = { isAdmin: true };

/** zun-api.md section c's example, with the local image instead of busybox/nginx. */
function example(): Record<string, any> {
  return {
    capsuleVersion: 'beta',
    kind: 'capsule',
    metadata: { name: 'demo', labels: { app: 'web' }, annotations: { key1: 'value1' } },
    spec: {
      restartPolicy: 'Always',
      initContainers: [
        {
          image: 'zun-base:latest',
          command: ['wget', '-O', '/work-dir/index.html', 'https://www.openstack.org/'],
          volumeMounts: [{ name: 'workdir', mountPath: '/work-dir' }],
        },
      ],
      containers: [
        {
          image: 'zun-base:latest',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          resources: { requests: { cpu: 0.5, memory: 256 } },
          env: { ENV1: 'value' },
          volumeMounts: [{ name: 'workdir', mountPath: '/usr/share/nginx/html' }],
        },
      ],
      volumes: [{ name: 'workdir', cinder: { size: 1, autoRemove: true } }],
    },
  };
}

/** A minimal valid template with one container. */
function minimal(container: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Record<string, any> {
  return { kind: 'capsule', metadata: { name: 'mini' }, spec: { containers: [{ image: 'zun-base:latest', ...container }], ...spec } };
}

function ok(r: CapsuleTemplateResult): CapsuleSpec {
  if ('errors' in r) throw new Error(`expected a spec, got ${JSON.stringify(r.errors)}`);
  return r.spec;
}

function err(r: CapsuleTemplateResult): CapsuleTemplateError {
  if (!('errors' in r)) throw new Error(`expected an error, got a spec ${JSON.stringify(r.spec)}`);
  expect(r.errors).toHaveLength(1);
  return r.errors[0];
}

describe('parseCapsuleTemplate: the example template of zun-api.md section c', () => {
  it('maps every field as Zun does', () => {
    const spec = ok(parseCapsuleTemplate(example(), user));
    expect(spec).toEqual({
      name: 'demo',
      labels: { app: 'web' },
      annotations: { key1: 'value1' },
      restartPolicy: 'always',
      availabilityZone: null,
      cpu: 0.5,
      memory: 256,
      initContainers: [
        {
          name: 'capsule-demo-init-0',
          image: 'zun-base:latest',
          command: ['wget', '-O', '/work-dir/index.html', 'https://www.openstack.org/'],
          workdir: null,
          environment: {},
          imagePullPolicy: 'always',
          interactive: false,
          tty: false,
          cpu: null,
          memory: null,
          exposedPorts: [],
          volumeMounts: [{ name: 'workdir', mountPath: '/work-dir', readOnly: false }],
        },
      ],
      containers: [
        {
          name: 'capsule-demo-container-0',
          image: 'zun-base:latest',
          command: [],
          workdir: null,
          environment: { ENV1: 'value' },
          imagePullPolicy: 'always',
          interactive: false,
          tty: false,
          cpu: 0.5,
          memory: 256,
          exposedPorts: ['80/tcp'],
          volumeMounts: [{ name: 'workdir', mountPath: '/usr/share/nginx/html', readOnly: false }],
        },
      ],
      volumes: [{ name: 'workdir', volumeId: null, size: 1, autoRemove: true }],
    } satisfies CapsuleSpec);
  });

  it('gives the same spec for the template sent as a JSON string', () => {
    expect(parseCapsuleTemplate(JSON.stringify(example()), user)).toEqual(parseCapsuleTemplate(example(), user));
  });

  it('rejects the repo caveat: labels inside a container is a schema error (400)', () => {
    const t = example();
    t['spec'].containers[0].labels = { app: 'web' };
    const e = err(parseCapsuleTemplate(t, user));
    expect(e.status).toBe(400);
    expect(e.code).toBe('schema-validation-error');
    expect(e.message).toMatch(/^Invalid input for field '0'\.Value: '\{'image': 'zun-base:latest', /);
    expect(e.message).toMatch(/Additional properties are not allowed \('labels' was unexpected\)$/);
  });

  it('parses the failing example as a string too, with the error at the string root path', () => {
    const t = example();
    t['spec'].containers[0].labels = { app: 'web' };
    const e = err(parseCapsuleTemplate(JSON.stringify(t), user));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/Additional properties are not allowed \('labels' was unexpected\)$/);
  });
});

describe('parseCapsuleTemplate: schema errors (400) at the template level', () => {
  it('forbids unknown top-level keys such as nets, naming the field template', () => {
    const t = { ...minimal(), nets: [{ network: 'n1' }] };
    const e = err(parseCapsuleTemplate(t, user));
    expect(e).toMatchObject({ status: 400, code: 'schema-validation-error' });
    expect(e.message).toMatch(/^Invalid input for field 'template'\.Value: '\{.*\}'\. Additional properties are not allowed \('nets' was unexpected\)$/);
  });

  it('reports a string template root error without a field prefix', () => {
    const e = err(parseCapsuleTemplate(JSON.stringify({ ...minimal(), nets: [], x: 1 }), user));
    expect(e.message).toBe("Additional properties are not allowed ('nets', 'x' were unexpected)");
  });

  it('requires kind, spec and metadata, in that order', () => {
    const { kind: _k, ...noKind } = minimal();
    expect(err(parseCapsuleTemplate(JSON.stringify(noKind), user)).message).toBe("'kind' is a required property");
    const { metadata: _m, ...noMeta } = minimal();
    expect(err(parseCapsuleTemplate(JSON.stringify(noMeta), user)).message).toBe("'metadata' is a required property");
    expect(err(parseCapsuleTemplate(JSON.stringify({}), user)).message).toBe("'kind' is a required property");
  });

  it('finds additional properties before missing required ones, as jsonschema does', () => {
    const { kind: _k, ...noKind } = minimal();
    const e = err(parseCapsuleTemplate(JSON.stringify({ ...noKind, extra: true }), user));
    expect(e.message).toBe("Additional properties are not allowed ('extra' was unexpected)");
  });

  it('checks kind, capsuleVersion and restart policies against their enums', () => {
    expect(err(parseCapsuleTemplate({ ...minimal(), kind: 'Pod' }, user)).message).toBe(
      "Invalid input for field 'kind'.Value: 'Pod'. 'Pod' is not one of ['capsule', 'Capsule']",
    );
    expect(err(parseCapsuleTemplate({ ...minimal(), capsuleVersion: 'v1' }, user)).message).toContain(
      "'v1' is not one of ['beta', 'Beta']",
    );
    expect(err(parseCapsuleTemplate({ ...minimal(), restartPolicy: 'Sometimes' }, user)).message).toContain(
      "'Sometimes' is not one of ['Always', 'OnFailure', 'Never']",
    );
    expect(err(parseCapsuleTemplate(minimal({}, { restartPolicy: 'always' }), user)).status).toBe(400);
  });

  it('validates metadata.name with the container name pattern', () => {
    const e = err(parseCapsuleTemplate({ ...minimal(), metadata: { name: '-bad' } }, user));
    expect(e.message).toBe("Invalid input for field 'name'.Value: '-bad'. '-bad' does not match '^[a-zA-Z0-9][a-zA-Z0-9_.-]+$'");
    expect(err(parseCapsuleTemplate({ ...minimal(), metadata: { name: 'a' } }, user)).message).toContain("'a' is too short");
  });

  it('accepts a metadata without name and names members after the capsule uuid', () => {
    const spec = ok(parseCapsuleTemplate({ ...minimal(), metadata: {} }, { isAdmin: false, capsuleUuid: 'u-1' }));
    expect(spec.name).toBe('');
    expect(spec.containers[0]!.name).toBe('capsule-u-1-container-0');
  });

  it('uses the caller name generator for member names', () => {
    const spec = ok(parseCapsuleTemplate(example(), { isAdmin: false, nameSuffix: (role, i) => `${role[0]}${i}x` }));
    expect(spec.initContainers[0]!.name).toBe('capsule-demo-i0x');
    expect(spec.containers[0]!.name).toBe('capsule-demo-c0x');
  });

  it('rejects a template that is neither object nor string, and spec without containers', () => {
    expect(err(parseCapsuleTemplate(5, user)).message).toBe("Invalid input for field 'template'.Value: '5'. 5 is not of type 'object', 'string'");
    expect(err(parseCapsuleTemplate(JSON.stringify('just a string'), user)).status).toBe(400);
    const e = err(parseCapsuleTemplate({ kind: 'capsule', metadata: {}, spec: {} }, user));
    expect(e.message).toBe("Invalid input for field 'spec'.Value: '{}'. 'containers' is a required property");
  });

  it('allows unknown keys inside spec (additionalProperties: true there)', () => {
    expect(ok(parseCapsuleTemplate(minimal({}, { nodeSelector: { a: 'b' } }), user)).containers).toHaveLength(1);
  });

  it('accepts an availabilityZone and validates its length', () => {
    expect(ok(parseCapsuleTemplate({ ...minimal(), availabilityZone: 'az1' }, user)).availabilityZone).toBe('az1');
    expect(err(parseCapsuleTemplate({ ...minimal(), availabilityZone: '' }, user)).message).toContain("'' is too short");
  });
});

describe('parseCapsuleTemplate: restart policies', () => {
  it.each([
    ['Always', 'always'],
    ['OnFailure', 'on-failure'],
    ['Never', 'no'],
  ] as const)('maps spec.restartPolicy %s to %s', (given, stored) => {
    expect(ok(parseCapsuleTemplate(minimal({}, { restartPolicy: given }), user)).restartPolicy).toBe(stored);
  });

  it('defaults to always', () => {
    expect(ok(parseCapsuleTemplate(minimal(), user)).restartPolicy).toBe('always');
  });

  it('accepts but ignores the deprecated top-level restartPolicy', () => {
    expect(ok(parseCapsuleTemplate({ ...minimal(), restartPolicy: 'Never' }, user)).restartPolicy).toBe('always');
    expect(ok(parseCapsuleTemplate({ ...minimal({}, { restartPolicy: 'OnFailure' }), restartPolicy: 'Never' }, user)).restartPolicy).toBe(
      'on-failure',
    );
  });

  it('gives members the capsule policy with count 0, init containers on-failure 10 under always', () => {
    expect(capsuleMemberRestartPolicy('always', 'container')).toEqual({ Name: 'always', MaximumRetryCount: '0' });
    expect(capsuleMemberRestartPolicy('always', 'init')).toEqual({ Name: 'on-failure', MaximumRetryCount: '10' });
    expect(capsuleMemberRestartPolicy('on-failure', 'init')).toEqual({ Name: 'on-failure', MaximumRetryCount: '0' });
    expect(capsuleMemberRestartPolicy('no', 'init')).toEqual({ Name: 'no', MaximumRetryCount: '0' });
  });
});

describe('parseCapsuleTemplate: containers', () => {
  it('requires at least one container (500 InvalidCapsuleTemplate)', () => {
    const e = err(parseCapsuleTemplate({ kind: 'capsule', metadata: {}, spec: { containers: [] } }, user));
    expect(e).toEqual({ status: 500, code: 'invalid-capsule-template', message: 'Invalid capsule template: Capsule need to have one container at least.' });
  });

  it('requires an image on every container through the schema (400)', () => {
    const t = { kind: 'capsule', metadata: {}, spec: { containers: [{ command: ['sh'] }] } };
    expect(err(parseCapsuleTemplate(t, user)).message).toBe(
      "Invalid input for field '0'.Value: '{'command': ['sh']}'. 'image' is a required property",
    );
  });

  it('validates the image name', () => {
    expect(err(parseCapsuleTemplate(minimal({ image: 'x' }), user)).message).toContain("'x' is too short");
    expect(err(parseCapsuleTemplate(minimal({ image: 5 }), user)).message).toContain("5 is not of type 'string'");
  });

  it('concatenates command and args, or uses args alone', () => {
    expect(ok(parseCapsuleTemplate(minimal({ command: ['sh', '-c'], args: ['echo hi'] }), user)).containers[0]!.command).toEqual([
      'sh',
      '-c',
      'echo hi',
    ]);
    expect(ok(parseCapsuleTemplate(minimal({ args: ['sleep', '5'] }), user)).containers[0]!.command).toEqual(['sleep', '5']);
    expect(ok(parseCapsuleTemplate(minimal({ command: ['true'] }), user)).containers[0]!.command).toEqual(['true']);
    expect(err(parseCapsuleTemplate(minimal({ command: 'sh -c x' }), user)).message).toContain("'sh -c x' is not of type 'array'");
    expect(err(parseCapsuleTemplate(minimal({ command: ['sh', null] }), user)).status).toBe(500);
  });

  it('maps env, workDir, stdin and tty', () => {
    const c = ok(parseCapsuleTemplate(minimal({ env: { A: '1' }, workDir: '/tmp', stdin: 'true', tty: true }), user)).containers[0]!;
    expect(c).toMatchObject({ environment: { A: '1' }, workdir: '/tmp', interactive: true, tty: true });
    expect(err(parseCapsuleTemplate(minimal({ env: { A: 1 } }), user)).message).toBe(
      "Invalid input for field 'A'.Value: '1'. 1 is not of type 'string'",
    );
    expect(err(parseCapsuleTemplate(minimal({ stdin: 'yes' }), user)).message).toContain(
      "'yes' is not one of [True, 'True', 'true', False, 'False', 'false']",
    );
    expect(err(parseCapsuleTemplate(minimal({ tty: 1 }), user)).message).toContain("1 is not of type 'boolean', 'string'");
  });

  it('maps ports to exposed ports, protocol lower-cased, tcp by default', () => {
    const c = ok(
      parseCapsuleTemplate(
        minimal({ ports: [{ containerPort: 53, protocol: 'UDP' }, { containerPort: '443', hostPort: 8443, name: 'https' }, { containerPort: 53, protocol: 'UDP' }] }),
        user,
      ),
    ).containers[0]!;
    expect(c.exposedPorts).toEqual(['53/udp', '443/tcp']);
    expect(err(parseCapsuleTemplate(minimal({ ports: [{ containerPort: 80, protocol: 'tcp' }] }), user)).message).toContain(
      "'tcp' is not one of ['TCP', 'UDP']",
    );
    expect(err(parseCapsuleTemplate(minimal({ ports: [{ protocol: 'TCP' }] }), user)).message).toContain("'containerPort' is a required property");
    expect(err(parseCapsuleTemplate(minimal({ ports: [{ containerPort: -1 }] }), user)).message).toContain('-1 is less than the minimum of 0');
    expect(err(parseCapsuleTemplate(minimal({ ports: [{ containerPort: 80, target: 1 }] }), user)).message).toContain("('target' was unexpected)");
  });

  it('maps resources.requests to cpu and memory, with Zun ranges on numbers and numeric strings', () => {
    const c = ok(parseCapsuleTemplate(minimal({ resources: { requests: { cpu: '1.5', memory: '128' } } }), user)).containers[0]!;
    expect(c).toMatchObject({ cpu: 1.5, memory: 128 });
    expect(err(parseCapsuleTemplate(minimal({ resources: { requests: { cpu: 20 } } }), user)).message).toBe(
      "Invalid input for field 'cpu'.Value: '20'. 20 is greater than the maximum of 16.0",
    );
    expect(err(parseCapsuleTemplate(minimal({ resources: { requests: { cpu: 0.05 } } }), user)).message).toContain(
      '0.05 is less than the minimum of 0.1',
    );
    expect(err(parseCapsuleTemplate(minimal({ resources: { requests: { memory: '2' } } }), user)).message).toContain(
      '2 is less than the minimum of 4',
    );
    expect(err(parseCapsuleTemplate(minimal({ resources: { requests: { memory: 'lots' } } }), user)).message).toContain(
      "'lots' does not match '^[0-9]+$'",
    );
    expect(err(parseCapsuleTemplate(minimal({ resources: { requests: { memory: 12.5 } } }), user)).message).toContain(
      "12.5 is not of type 'string', 'integer', 'null'",
    );
    expect(err(parseCapsuleTemplate(minimal({ resources: { limits: { cpu: 1 } } }), user)).message).toContain(
      "Additional properties are not allowed ('limits' was unexpected)",
    );
  });

  it('drops imagePullPolicy for non-admins and lower-cases it for admins', () => {
    expect(ok(parseCapsuleTemplate(minimal({ imagePullPolicy: 'IfNotPresent' }), user)).containers[0]!.imagePullPolicy).toBe('always');
    expect(ok(parseCapsuleTemplate(minimal({ imagePullPolicy: 'IfNotPresent' }), admin)).containers[0]!.imagePullPolicy).toBe('ifnotpresent');
    expect(ok(parseCapsuleTemplate(minimal({ imagePullPolicy: 'Never' }), admin)).containers[0]!.imagePullPolicy).toBe('never');
    expect(ok(parseCapsuleTemplate(minimal({ imagePullPolicy: null }), admin)).containers[0]!.imagePullPolicy).toBe('always');
    expect(err(parseCapsuleTemplate(minimal({ imagePullPolicy: 'sometimes' }), user)).status).toBe(400);
  });
});

describe('parseCapsuleTemplate: init containers', () => {
  it('are not schema-validated, but need an image (500)', () => {
    const e = err(parseCapsuleTemplate(minimal({}, { initContainers: [{ command: ['true'] }] }), user));
    expect(e).toEqual({ status: 500, code: 'invalid-capsule-template', message: 'Invalid capsule template: Container image is needed.' });
  });

  it('ignore keys the container schema would refuse', () => {
    const spec = ok(parseCapsuleTemplate(minimal({}, { initContainers: [{ image: 'zun-base:latest', labels: { a: 'b' }, whatever: 1 }] }), user));
    expect(spec.initContainers).toHaveLength(1);
    expect(spec.initContainers[0]!.image).toBe('zun-base:latest');
  });

  it('turn wrongly typed fields into 500 InvalidCapsuleTemplate', () => {
    expect(err(parseCapsuleTemplate(minimal({}, { initContainers: [{ image: 'zun-base:latest', command: 'x' }] }), user)).status).toBe(500);
    expect(err(parseCapsuleTemplate(minimal({}, { initContainers: { image: 'x' } }), user)).status).toBe(500);
  });

  it('raise the capsule totals to the largest single init request', () => {
    const spec = ok(
      parseCapsuleTemplate(
        {
          kind: 'capsule',
          metadata: { name: 'sum' },
          spec: {
            initContainers: [
              { image: 'zun-base:latest', resources: { requests: { cpu: 2, memory: 100 } } },
              { image: 'zun-base:latest', resources: { requests: { cpu: 0.5, memory: 1024 } } },
            ],
            containers: [
              { image: 'zun-base:latest', resources: { requests: { cpu: 0.5, memory: 128 } } },
              { image: 'zun-base:latest', resources: { requests: { cpu: 1, memory: '256' } } },
              { image: 'zun-base:latest' },
            ],
          },
        },
        user,
      ),
    );
    expect(spec.cpu).toBe(2);
    expect(spec.memory).toBe(1024);
    expect(spec.containers[2]).toMatchObject({ cpu: null, memory: null });
  });

  it('leave the totals at 0 when nothing is requested', () => {
    const spec = ok(parseCapsuleTemplate(minimal(), user));
    expect([spec.cpu, spec.memory]).toEqual([0, 0]);
  });

  it('sum container requests', () => {
    const t = minimal({ resources: { requests: { cpu: 0.5, memory: 64 } } });
    t['spec'].containers.push({ image: 'zun-base:latest', resources: { requests: { cpu: 1.25, memory: 32 } } });
    const spec = ok(parseCapsuleTemplate(t, user));
    expect([spec.cpu, spec.memory]).toEqual([1.75, 96]);
  });
});

describe('parseCapsuleTemplate: volumes', () => {
  const uuid = '6f1b2d6e-5d36-4f0e-9a39-0c8e5b1c2a11';
  const mounted = (cinder: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    minimal({ volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { volumes: [{ name: 'data', cinder, ...extra }] });

  it('uses an existing volume by volumeID', () => {
    expect(ok(parseCapsuleTemplate(mounted({ volumeID: uuid }), user)).volumes).toEqual([{ name: 'data', volumeId: uuid, size: null, autoRemove: false }]);
  });

  it('creates one by size, autoRemove as a boolean', () => {
    expect(ok(parseCapsuleTemplate(mounted({ size: 2, autoRemove: 'false' }), user)).volumes).toEqual([
      { name: 'data', volumeId: null, size: 2, autoRemove: false },
    ]);
    expect(ok(parseCapsuleTemplate(mounted({ size: 2, autoRemove: 'True' }), user)).volumes[0]!.autoRemove).toBe(true);
  });

  it('needs exactly one of volumeID and size (500)', () => {
    expect(err(parseCapsuleTemplate(mounted({ volumeID: uuid, size: 1 }), user))).toEqual({
      status: 500,
      code: 'invalid-capsule-template',
      message: 'Invalid capsule template: Volume size and uuid could not be set at the same time.',
    });
    expect(err(parseCapsuleTemplate(mounted({ autoRemove: true }), user)).message).toBe('Invalid capsule template: Volume size is needed.');
    expect(err(parseCapsuleTemplate(mounted({}), user)).message).toBe('Invalid capsule template: Zun now Only support Cinder volume driver.');
    expect(err(parseCapsuleTemplate(mounted({ size: 0 }), user)).status).toBe(500);
  });

  it('validates the cinder block with the schema (400)', () => {
    expect(err(parseCapsuleTemplate(mounted({ volumeID: 'short' }), user)).message).toContain("'short' is too short");
    expect(err(parseCapsuleTemplate(mounted({ size: '1' }), user)).message).toContain("'1' is not of type 'number'");
    expect(err(parseCapsuleTemplate(mounted({ size: 1, type: 'ssd' }), user)).message).toContain("('type' was unexpected)");
    const noCinder = minimal({ volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { volumes: [{ name: 'data' }] });
    expect(err(parseCapsuleTemplate(noCinder, user)).message).toContain("'cinder' is a required property");
    // the volume item itself allows extra keys
    expect(ok(parseCapsuleTemplate(mounted({ size: 1 }, { hostPath: '/x' }), user)).volumes).toHaveLength(1);
  });

  it('rejects a declared volume that no container mounts (400 Invalid)', () => {
    const t = minimal({}, { volumes: [{ name: 'data', cinder: { size: 1 } }] });
    expect(err(parseCapsuleTemplate(t, user))).toEqual({ status: 400, code: 'invalid', message: 'volume mount parameters is invalid.' });
  });

  it('drops mounts of undeclared volumes, as Zun creates no mapping for them', () => {
    const spec = ok(parseCapsuleTemplate(minimal({ volumeMounts: [{ name: 'ghost', mountPath: '/g' }] }), user));
    expect(spec.containers[0]!.volumeMounts).toEqual([]);
  });

  it('validates volumeMounts with the schema', () => {
    expect(err(parseCapsuleTemplate(minimal({ volumeMounts: [{ name: 'data' }] }), user)).message).toContain("'mountPath' is a required property");
    const ro = ok(parseCapsuleTemplate(minimal({ volumeMounts: [{ name: 'data', mountPath: '/d', readOnly: 'true' }] }, { volumes: [{ name: 'data', cinder: { size: 1 } }] }), user));
    expect(ro.containers[0]!.volumeMounts).toEqual([{ name: 'data', mountPath: '/d', readOnly: true }]);
  });
});

describe('parseCapsuleTemplate: metadata and strings', () => {
  it('coerces label values like Zun DictOfStringsField, and refuses nested ones (500)', () => {
    const spec = ok(parseCapsuleTemplate({ ...minimal(), metadata: { name: 'm1', labels: { a: 1, b: true, c: 'x' } } }, user));
    expect(spec.labels).toEqual({ a: '1', b: 'True', c: 'x' });
    expect(err(parseCapsuleTemplate({ ...minimal(), metadata: { name: 'm1', labels: { a: { b: 1 } } } }, user)).status).toBe(500);
    expect(err(parseCapsuleTemplate({ ...minimal(), metadata: { name: 'm1', labels: ['a'] } }, user)).message).toContain(
      "['a'] is not of type 'object', 'null'",
    );
  });

  it('answers 500 FailedParseStringToJson for a string that is not JSON', () => {
    const e = err(parseCapsuleTemplate('kind: capsule\nspec: {}', user));
    expect(e.status).toBe(500);
    expect(e.code).toBe('failed-parse-string-to-json');
    expect(e.message).toMatch(/^Failed parse string to json: .+\.$/);
  });

  it('renders values as Python repr', () => {
    expect(pyRepr({ a: [1, null, true], "it's": 'x' })).toBe(`{'a': [1, None, True], "it's": 'x'}`);
  });
});
