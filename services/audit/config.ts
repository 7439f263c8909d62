/** The audit service's configuration: the only place it reads the environment. */
import { join, resolve } from 'node:path';
import type { FsyncMode } from './audit-log.js';

export interface AuditConfig {
  readonly natsUrl: string;
  readonly logLevel: string;
  /** Where the record lives: AUDIT_DIR, else `${STATE_DIR}/audit`. */
  readonly dir: string;
  readonly fsync: FsyncMode;
  readonly durable: string;
  readonly verifyOnOpen: boolean;
}

const FSYNC_MODES: readonly FsyncMode[] = ['always', 'interval', 'never'];

export function auditDirFrom(env: NodeJS.ProcessEnv): string {
  if (env['AUDIT_DIR']) return resolve(env['AUDIT_DIR']);
  return resolve(join(env['STATE_DIR'] ?? '.data', 'audit'));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  const fsync = (env['AUDIT_FSYNC'] ?? 'always') as FsyncMode;
  if (!FSYNC_MODES.includes(fsync)) throw new Error(`AUDIT_FSYNC must be one of ${FSYNC_MODES.join(', ')}, not ${fsync}`);
  return {
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    logLevel: env['LOG_LEVEL'] ?? 'info',
    dir: auditDirFrom(env),
    fsync,
    durable: env['AUDIT_DURABLE'] ?? 'audit',
    verifyOnOpen: /^(1|true|yes)$/i.test(env['AUDIT_VERIFY_ON_START'] ?? ''),
  };
}
