/**
 * Command-line parsing for zunctl, on node:util parseArgs. A mistake in the
 * command line is a UsageError (exit code 2); everything else that fails is
 * exit code 1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command that ran but failed (not found, unreachable, verification failed). */
export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  progress: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  nats: { type: 'string' },
  etcd: { type: 'string' },
  'audit-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export interface Parsed {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

export function parse(argv: readonly string[], options: Options): Parsed {
  try {
    const r = parseArgs({ args: [...argv], options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function int(p: Parsed, name: string, min = 0): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be an integer >= ${min}, not "${v}"`);
  return Number(v);
}

/**
 * A point in time: ISO-8601 (`2026-01-01T12:00:00Z`, a date alone is UTC
 * midnight), epoch milliseconds, or relative to now (`-15m`, `-2h`, `-30s`,
 * `-1d`).
 */
export function parseTime(text: string, now: () => number, what = 'time'): number {
  const rel = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (rel) {
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return now() - Number(rel[1]) * unit;
  }
  if (/^\d{10,}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`${what} "${text}" is not a time (ISO-8601, epoch ms, or -15m/-2h/-1d)`);
  return t;
}

export function time(p: Parsed, name: string, now: () => number): number | undefined {
  const v = str(p, name);
  return v === undefined ? undefined : parseTime(v, now, `--${name}`);
}

export function onePositional(p: Parsed, what: string): string {
  if (p.positionals.length !== 1) {
    throw new UsageError(p.positionals.length === 0 ? `missing ${what}` : `expected one ${what}, got ${p.positionals.length}: ${p.positionals.join(' ')}`);
  }
  return p.positionals[0]!;
}

export function noPositionals(p: Parsed): void {
  if (p.positionals.length) throw new UsageError(`unexpected argument: ${p.positionals[0]}`);
}
