import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../events/index.js';
import type { ApiVersion } from './microversion.js';
import { shlexSplit, ShlexError } from './shlex.js';
import {
  validateCreateContainer,
  validateCreateQuery,
  validateDeleteQuery,
  validateKillParams,
  validateTimeoutParams,
  validateUpdate,
  type Result,
} from './validate.js';

const v = (minor: number): ApiVersion => ({ major: 1, minor });
const admin = { can: () => true, generateName: () => 'gen-1-container' };
const ok = <T>(r: Result<T>): T => {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.status} ${r.error.message}`);
  return r.value;
};
const err = <T>(r: Result<T>) => {
  if (r.ok) throw new Error('expected an error');
  return r.error;
};

describe('validateCreateContainer', () => {
  it('fills Zun\'s defaults for a minimal body', () => {
    const spec = ok(validateCreateContainer({ image: 'cirros' }, { version: v(1), ...admin }));
    expect(spec).toEqual<ContainerSpec>({
      name: 'gen-1-container',
      image: 'cirros',
      command: [],
      entrypoint: null,
      cpu: 1,
      memory: 512,
      disk: null,
      workdir: null,
      hostname: null,
      environment: {},
      labels: {},
      imageDriver: 'docker',
      imagePullPolicy: 'always',
      restartPolicy: { name: 'no', maximumRetryCount: 0 },
      interactive: false,
      tty: false,
      autoRemove: false,
      autoHeal: false,
      runtime: null,
      privileged: false,
      healthcheck: null,
      exposedPorts: [],
      securityGroups: [],
      cpuPolicy: 'shared',
      registryId: null,
      availabilityZone: null,
      hints: {},
      requestedHost: null,
      nets: [],
      mounts: [],
    });
  });

  it('treats null as absent where the schema allows null', () => {
    const spec = ok(
      validateCreateContainer(
        { image: 'cirros', name: null, cpu: null, memory: null, command: null, labels: null, restart_policy: null, image_driver: 'None' },
        { version: v(40), ...admin },
      ),
    );
    expect(spec).toMatchObject({ name: 'gen-1-container', cpu: 1, memory: 512, command: [], labels: {}, imageDriver: 'docker' });
  });

  it('converts numeric strings and case variants', () => {
    const spec = ok(
      validateCreateContainer(
        { image: 'cirros', cpu: '.5', memory: '0128', disk: '10', image_pull_policy: 'IfNotPresent', restart_policy: { Name: 'no', MaximumRetryCount: '5' } },
        { version: v(40), ...admin },
      ),
    );
    expect(spec).toMatchObject({ cpu: 0.5, memory: 128, disk: 10, imagePullPolicy: 'ifnotpresent', restartPolicy: { name: 'no', maximumRetryCount: 0 } });
  });

  it('reports schema errors before version errors, and version errors before policy errors', () => {
    // auto_remove at 1.1 is a version error, but the bad name is found first.
    expect(err(validateCreateContainer({ image: 'cirros', name: '!', auto_remove: true }, { version: v(1), ...admin })).code).toBe('schema-validation-error');
    // privileged below 1.21 is a version error even for someone the policy would deny.
    const deny = { can: () => false, generateName: () => 'x' };
    expect(err(validateCreateContainer({ image: 'cirros', privileged: true }, { version: v(20), ...deny })).code).toBe('invalid-param-in-version');
    expect(err(validateCreateContainer({ image: 'cirros', privileged: true }, { version: v(21), ...deny })).status).toBe(403);
  });

  it('never calls the name generator when a name is given', () => {
    let called = 0;
    ok(validateCreateContainer({ image: 'cirros', name: 'web' }, { version: v(40), can: () => true, generateName: () => `${++called}` }));
    expect(called).toBe(0);
  });

  it('de-duplicates security groups and normalises exposed ports', () => {
    const sg = ok(validateCreateContainer({ image: 'cirros', security_groups: ['a', 'b', 'a'] }, { version: v(40), ...admin }));
    expect(sg.securityGroups).toEqual(['a', 'b']);
    const ports = ok(validateCreateContainer({ image: 'cirros', exposed_ports: { '80': {}, '53/udp': {}, '80/tcp': {} } }, { version: v(40), ...admin }));
    expect(ports.exposedPorts).toEqual(['80/tcp', '53/udp']);
  });
});

describe('other parameters', () => {
  it('run accepts the extended booleans only', () => {
    expect(ok(validateCreateQuery({ run: 'YES' })).run).toBe(true);
    expect(ok(validateCreateQuery({ run: 'off' })).run).toBe(false);
    expect(ok(validateCreateQuery({})).run).toBe(false);
    expect(err(validateCreateQuery({ run: 'yep' })).status).toBe(400);
  });

  it('delete flags', () => {
    expect(ok(validateDeleteQuery({ force: 'True', stop: 'no' }))).toEqual({ force: true, stop: false, allProjects: false });
    expect(err(validateDeleteQuery({ force: 'sure' })).status).toBe(400);
  });

  it('timeouts: query keys restricted, values non-negative integers', () => {
    expect(ok(validateTimeoutParams({ timeout: '10' }, { timeout: '10' })).timeout).toBe(10);
    expect(ok(validateTimeoutParams({}, {})).timeout).toBeNull();
    expect(ok(validateTimeoutParams({}, { timeout: 0 })).timeout).toBe(0);
    expect(err(validateTimeoutParams({}, { timeout: 1.5 })).status).toBe(400);
  });

  it('kill signals', () => {
    expect(ok(validateKillParams({ signal: 'sigusr1' })).signal).toBe('SIGUSR1');
    expect(ok(validateKillParams({ signal: 'RTMAX' })).signal).toBe('SIGRTMAX');
    expect(ok(validateKillParams({ signal: null })).signal).toBeNull();
    expect(err(validateKillParams({ signal: 'SIGIOT' })).status).toBe(400); // an alias Python's enum leaves out
    expect(err(validateKillParams({ signal: 15 })).status).toBe(400);
  });

  it('update patch', () => {
    expect(ok(validateUpdate({ cpu: 0.5, name: null }))).toEqual({ cpu: 0.5 });
    expect(err(validateUpdate({ auto_heal: 'yes' })).status).toBe(400);
  });
});

describe('shlexSplit', () => {
  it.each([
    ['sleep 3600', ['sleep', '3600']],
    ['"nginx" "-g" "daemon off;"', ['nginx', '-g', 'daemon off;']],
    ["sh -c 'echo hi; exit 3'", ['sh', '-c', 'echo hi; exit 3']],
    ['a\\ b c', ['a b', 'c']],
    ['"a \\"q\\" \\n"', ['a "q" \\n']],
    ["it''s", ['its']],
    ['x "" y', ['x', '', 'y']],
    ['  \t ', []],
    ['a#b c', ['a#b', 'c']],
  ])('%s', (input, want) => {
    expect(shlexSplit(input)).toEqual(want);
  });

  it('fails like Python on unclosed quotes and a trailing escape', () => {
    expect(() => shlexSplit('"open')).toThrow(new ShlexError('No closing quotation'));
    expect(() => shlexSplit("'open")).toThrow('No closing quotation');
    expect(() => shlexSplit('end\\')).toThrow('No escaped character');
  });
});
