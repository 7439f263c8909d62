import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('projector config', () => {
  it('sweeps old delete markers every 10 minutes, those older than 15, by default', () => {
    const c = loadConfig({}, []);
    expect(c.sweepEveryMs).toBe(600_000);
    expect(c.markerGraceMs).toBe(900_000);
    expect(c.rebuild).toBe(false);
  });

  it('takes both in seconds; an interval of 0 turns the sweep off', () => {
    const c = loadConfig({ PROJECTOR_SWEEP_INTERVAL_S: '0', PROJECTOR_MARKER_GRACE_S: '60' }, ['--rebuild']);
    expect(c.sweepEveryMs).toBe(0);
    expect(c.markerGraceMs).toBe(60_000);
    expect(c.rebuild).toBe(true);
  });

  it('refuses what is not a whole number of seconds in range', () => {
    expect(() => loadConfig({ PROJECTOR_SWEEP_INTERVAL_S: 'ten' }, [])).toThrow(ConfigError);
    expect(() => loadConfig({ PROJECTOR_SWEEP_INTERVAL_S: '-1' }, [])).toThrow(/PROJECTOR_SWEEP_INTERVAL_S must be a whole number of seconds >= 0/);
    expect(() => loadConfig({ PROJECTOR_MARKER_GRACE_S: '0' }, [])).toThrow(/PROJECTOR_MARKER_GRACE_S must be a whole number of seconds >= 1, not 0/);
    expect(() => loadConfig({ PROJECTOR_MARKER_GRACE_S: '1.5' }, [])).toThrow(ConfigError);
  });
});
