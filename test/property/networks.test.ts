/**
 * Container networks: the new intents and observations (network attach and
 * detach, addresses observed) mixed into random container histories.
 * - the fast fold and the verifying fold (every event through the machine)
 *   agree, and the machine accepts every event the decider produced;
 * - the network diff converges against a simulated Docker, proposing only
 *   observations the machine accepts, and ends with Docker connected to
 *   exactly the desired networks and the addresses recorded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NetRequest } from '../../events/index.js';
import type { NetworkAddress, NetworkRef } from '../../events/network.js';
import type { ContainerCommand } from '../../domain/container-decider.js';
import { decideContainer } from '../../domain/container-decider.js';
import { desiredNets, evolveContainer, foldContainer, netKey, observedNetworks, type ContainerState } from '../../domain/container.js';
import { diffContainerNetworks } from '../../domain/network-reconcile.js';
import { verifyContainerFold } from '../../state-machines/container.js';
import { arbCommand, runCommands, specOf } from '../support/container-gen.js';
import { runs } from '../support/runs.js';

const ref = (i: number): NetworkRef => ({ id: `net-${i}`, neutronNetId: `neutron-${i}`, name: `n${i}`, projectId: 'p1', cidr: `10.9.${i}.0/24`, gateway: `10.9.${i}.1` });
const netReq = (i: number): NetRequest => ({ network: `net-${i}`, resolved: ref(i) });
const addr = (i: number, host: number): NetworkAddress => ({ addr: `10.9.${i}.${host}`, version: 4, port: `ep-${i}-${host}`, subnet_id: `net-${i}`, preserve_on_delete: false });

const arbNetCommand: fc.Arbitrary<ContainerCommand> = fc.oneof(
  fc.integer({ min: 0, max: 3 }).map((i) => ({ type: 'AttachNetwork' as const, net: netReq(i) })),
  fc.integer({ min: 0, max: 3 }).map((i) => ({ type: 'DetachNetwork' as const, network: `net-${i}` })),
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 2, max: 9 })).map(([i, h]) => ({
    type: 'RecordObservation' as const,
    observation: { type: 'ContainerNetworkAttached' as const, data: { network: `net-${i}`, neutronNetId: `neutron-${i}`, addresses: [addr(i, h)] } },
  })),
  fc.integer({ min: 0, max: 3 }).map((i) => ({
    type: 'RecordObservation' as const,
    observation: { type: 'ContainerNetworkDetached' as const, data: { network: `net-${i}` } },
  })),
  fc.integer({ min: 0, max: 3 }).map((i) => ({
    type: 'RecordObservation' as const,
    observation: { type: 'ContainerNetworkAttachFailed' as const, data: { network: `net-${i}`, reason: 'refused' } },
  })),
);

const arbHistory = fc
  .tuple(fc.boolean(), fc.array(fc.oneof({ weight: 2, arbitrary: arbCommand }, { weight: 1, arbitrary: arbNetCommand }), { maxLength: 40 }))
  .map(([run, rest]) => [{ type: 'CreateContainer' as const, spec: specOf({ nets: [netReq(0)] }), run }, ...rest] as ContainerCommand[]);

describe('container networks', () => {
  it('fast fold = verifying fold = live state, with network intents and observations in the history', () => {
    fc.assert(
      fc.property(arbHistory, (cmds) => {
        const { live, log } = runCommands('c-n', cmds);
        expect(foldContainer('c-n', log)).toEqual(live);
        const verified = verifyContainerFold('c-n', log);
        expect(verified.violations).toEqual([]);
        expect(verified.state).toEqual(live);
      }),
      { numRuns: runs(400) },
    );
  });

  it('attach and detach are refused once a delete is requested', () => {
    const { live } = runCommands('c-d', [
      { type: 'CreateContainer', spec: specOf({ nets: [netReq(0)] }), run: false },
      { type: 'ScheduleContainer', host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } },
      { type: 'RecordObservation', observation: { type: 'ContainerCreated', data: { dockerId: 'd1' } } },
      { type: 'DeleteContainer', stop: false, force: false },
    ]);
    expect(live.status).toBe('Deleting');
    expect(decideContainer({ type: 'AttachNetwork', net: netReq(1) }, live)).toMatchObject({ rejected: { code: 'invalid-state' } });
    expect(decideContainer({ type: 'DetachNetwork', network: 'net-0' }, live)).toMatchObject({ rejected: { code: 'invalid-state' } });
  });

  it('the network diff converges: Docker ends on exactly the desired networks, addresses recorded, every record legal', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }).map((i) => ({ attach: i })), fc.integer({ min: 0, max: 3 }).map((i) => ({ detach: i }))), { maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        fc.boolean(),
        (ops, strays, running) => {
          // A placed, running container on net-0; user attaches / detaches; Docker has some stray connections.
          let { live: s } = runCommands('c-x', [
            { type: 'CreateContainer', spec: specOf({ nets: [netReq(0)] }), run: true },
            { type: 'ScheduleContainer', host: 'h1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } },
            { type: 'RecordObservation', observation: { type: 'ContainerStarted', data: { dockerId: 'd1' } } },
          ]);
          const apply = (cmd: ContainerCommand): boolean => {
            const d = decideContainer(cmd, s);
            if ('rejected' in d) return false;
            for (const e of d.events) s = evolveContainer(s, { ...e, seq: s.seq + 1 });
            return true;
          };
          for (const op of ops) {
            if ('attach' in op) apply({ type: 'AttachNetwork', net: netReq(op.attach) });
            else apply({ type: 'DetachNetwork', network: `net-${op.detach}` });
          }
          const docker = new Map<string, NetworkAddress[]>([['net-0', running ? [addr(0, 2)] : []]]);
          for (const i of strays) docker.set(`net-${i}`, running ? [addr(i, 5)] : []);
          let steps = 0;
          for (;;) {
            const actions = diffContainerNetworks(s, docker);
            if (actions.length === 0) break;
            if (++steps > 30) throw new Error('did not converge');
            for (const a of actions) {
              if (a.type === 'connect') docker.set(netKey(a.net), running ? [addr(Number(netKey(a.net).slice(4)), 7)] : []);
              else if (a.type === 'disconnect') docker.delete(a.network);
              else expect(apply({ type: 'RecordObservation', observation: a.observation }), JSON.stringify(a)).toBe(true);
            }
          }
          const wanted = desiredNets(s).map(netKey).sort();
          expect([...docker.keys()].sort()).toEqual(wanted);
          const recorded = observedNetworks(s as ContainerState);
          if (running) {
            expect(Object.keys(recorded).sort()).toEqual(wanted);
            for (const k of wanted) expect(recorded[k]!.addresses).toEqual(docker.get(k));
          } else {
            for (const k of Object.keys(recorded)) expect(wanted).toContain(k);
          }
        },
      ),
      { numRuns: runs(400) },
    );
  });
});
