/**
 * Structured logging (pino), for services only. One root logger per process,
 * a child per component; request ids travel in `reqId`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level = 'info'): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid } });
}
