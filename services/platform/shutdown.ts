/**
 * The entry points' graceful stop: on SIGTERM or SIGINT (once), run `stop`,
 * then exit 0; if it fails, or has not finished within `timeoutMs`, log why
 * and exit 1, so that a stuck drain never leaves a process that will not go.
 * A second signal while stopping changes nothing.
 */
import type { Logger } from './log.js';

export interface ShutdownOptions {
  readonly log: Logger;
  /** Everything the service does to stop, in order. */
  readonly stop: () => Promise<void>;
  /** Give up on a clean stop after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Injected for tests. */
  readonly on?: (signal: 'SIGTERM' | 'SIGINT', handler: () => void) => void;
  readonly exit?: (code: number) => void;
}

/** Installs the handlers. Returns the shutdown itself (tests call it directly). */
export function onShutdownSignals(o: ShutdownOptions): (signal: string) => Promise<void> {
  const on = o.on ?? ((signal, handler) => void process.on(signal, handler));
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const timeoutMs = o.timeoutMs ?? 30_000;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    o.log.info({ signal }, 'stopping');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
      timer.unref();
    });
    try {
      const outcome = await Promise.race([o.stop().then(() => 'stopped' as const), late]);
      if (outcome === 'late') {
        o.log.error({ timeoutMs }, 'unclean shutdown: stopping took too long');
        return exit(1);
      }
    } catch (err) {
      o.log.error({ err }, 'unclean shutdown');
      return exit(1);
    } finally {
      clearTimeout(timer);
    }
    exit(0);
  };
  on('SIGTERM', () => void shutdown('SIGTERM'));
  on('SIGINT', () => void shutdown('SIGINT'));
  return shutdown;
}
