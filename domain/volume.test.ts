import { describe, expect, it } from 'vitest';
import type { VolumeEvent } from '../events/volume.js';
import { decideVolume, evolveVolume, initialVolumeState, otherUsersOnHost, volumeHolders, type VolumeCommand, type VolumeState } from './volume.js';

function run(s: VolumeState, cmd: VolumeCommand, at = '2026-01-01T00:00:00.000Z'): VolumeState {
  const d = decideVolume(cmd, s);
  if ('rejected' in d) throw new Error(d.rejected.message);
  return d.events.reduce((x, e: VolumeEvent, i) => evolveVolume(x, { ...e, seq: x.seq + i + 1, occurredAt: at }), s);
}

describe('the volume aggregate', () => {
  const created = () => run(initialVolumeState('v1'), { type: 'CreateVolume', name: 'data', projectId: 'p1', sizeGb: 1, autoRemove: false });

  it('is reserved by one consumer at a time; attach and detach are idempotent', () => {
    let s = created();
    s = run(s, { type: 'ReserveVolume', consumer: 'c1', stale: [] });
    expect(decideVolume({ type: 'ReserveVolume', consumer: 'c1', stale: [] }, s)).toEqual({ events: [] });
    expect(decideVolume({ type: 'ReserveVolume', consumer: 'c2', stale: [] }, s)).toMatchObject({ rejected: { code: 'in-use' } });
    s = run(s, { type: 'AttachVolume', host: 'h1', consumer: 'c1' });
    expect(decideVolume({ type: 'AttachVolume', host: 'h1', consumer: 'c1' }, s)).toEqual({ events: [] });
    expect(s.homeHost).toBe('h1');
    expect(volumeHolders(s)).toEqual(['c1']);
    expect(decideVolume({ type: 'DeleteVolume' }, s)).toMatchObject({ rejected: { code: 'in-use' } });
    s = run(s, { type: 'DetachVolume', host: 'h1', consumer: 'c1' });
    expect(volumeHolders(s)).toEqual([]);
    expect(decideVolume({ type: 'DetachVolume', host: 'h1', consumer: 'c1' }, s)).toEqual({ events: [] });
    s = run(s, { type: 'ReserveVolume', consumer: 'c2', stale: [] });
    expect(volumeHolders(s)).toEqual(['c2']);
    expect(s.homeHost).toBe('h1');
  });

  it('a stale holder (its consumer never came to life, or is deleted) is let go of when another reserves', () => {
    let s = run(created(), { type: 'ReserveVolume', consumer: 'ghost', stale: [] });
    s = run(s, { type: 'ReserveVolume', consumer: 'c2', stale: ['ghost'] });
    expect(volumeHolders(s)).toEqual(['c2']);
  });

  it('knows who else uses it on a host, and deletes only when nobody is attached', () => {
    let s = run(created(), { type: 'AttachVolume', host: 'h1', consumer: 'capsule-1' });
    s = run(s, { type: 'AttachVolume', host: 'h2', consumer: 'c9' });
    expect(otherUsersOnHost(s, 'h1', 'capsule-1')).toEqual([]);
    expect(otherUsersOnHost(s, 'h2', 'capsule-1')).toEqual(['c9']);
    s = run(s, { type: 'DetachVolume', host: 'h1', consumer: 'capsule-1' });
    s = run(s, { type: 'DetachVolume', host: 'h2', consumer: 'c9' });
    s = run(s, { type: 'DeleteVolume' });
    expect(s.status).toBe('Deleted');
    expect(decideVolume({ type: 'AttachVolume', host: 'h1', consumer: 'x' }, s)).toMatchObject({ rejected: { code: 'not-found' } });
  });
});
