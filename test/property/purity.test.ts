/**
 * The pure core (domain/, events/, state-machines/) does no I/O, reads no
 * clock and makes no random ids. This test fails when a core file imports
 * anything but the core itself and xstate, or touches the clock, randomness,
 * the process or timers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CORE = ['domain', 'events', 'state-machines'];
const ALLOWED_PACKAGES = new Set(['xstate']);
const FORBIDDEN_CALLS = [
  /Date\.now\s*\(/, /new Date\s*\(\s*\)/, /Math\.random\s*\(/, /randomUUID\s*\(/, /\bprocess\./, /\bsetTimeout\s*\(/,
  /\bsetInterval\s*\(/, /\bperformance\.now\s*\(/, /\bfetch\s*\(/, /\brequire\s*\(/, /\bimport\s*\(/, /\bconsole\./,
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

export function violations(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
    const spec = m[1]!;
    if (spec.startsWith('.')) {
      const target = join(file, '..', spec);
      if (!CORE.some((d) => relative(join(ROOT, d), target).split('/')[0] !== '..')) out.push(`imports outside the core: ${spec}`);
    } else if (!ALLOWED_PACKAGES.has(spec)) {
      out.push(`imports package ${spec}`);
    }
  }
  for (const re of FORBIDDEN_CALLS) if (re.test(text)) out.push(`uses ${re.source}`);
  return out;
}

describe('purity of the core', () => {
  it('finds the core files', () => {
    expect(CORE.flatMap((d) => sources(join(ROOT, d))).length).toBeGreaterThan(8);
  });

  for (const dir of CORE) {
    it(`${dir}/ imports nothing that does I/O and reads no clock`, () => {
      const found = sources(join(ROOT, dir)).flatMap((f) =>
        violations(f, readFileSync(f, 'utf8')).map((v) => `${relative(ROOT, f)}: ${v}`),
      );
      expect(found).toEqual([]);
    });
  }

  it('the checker itself catches I/O, clocks and foreign imports', () => {
    const f = join(ROOT, 'domain', 'x.ts');
    expect(violations(f, "import { readFileSync } from 'node:fs';")).toHaveLength(1);
    expect(violations(f, "import pino from 'pino';")).toHaveLength(1);
    expect(violations(f, "import { x } from '../services/gateway/app.js';")).toHaveLength(1);
    expect(violations(f, 'const t = Date.now();')).toHaveLength(1);
    expect(violations(f, 'const t = new Date();')).toHaveLength(1);
    expect(violations(f, 'const r = Math.random();')).toHaveLength(1);
    expect(violations(f, "import { a } from '../events/index.js'; import { setup } from 'xstate';")).toEqual([]);
  });
});
