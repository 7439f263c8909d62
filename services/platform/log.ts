/**
 * Structured logging (pino), for services only. One root logger per process,
 * a child per component; request ids travel in `reqId`.
 *
 * Lines go to stdout through a small buffer (`bufferedDestination`): a write
 * system call per line showed in the e2e benchmark's profiles (up to 8 % of
 * the host actor's time, logging included), so lines are written together,
 * at most `maxDelayMs` (100 ms) after the first of them.
 * Warnings and errors are written at once, with what is buffered before
 * them, and everything buffered is written when the process exits, however
 * it exits, except by SIGKILL or a power cut: those can lose the last
 * 100 ms of info and debug lines.
 */
import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level = 'info', destination: DestinationStream = stdoutBuffer()): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid } }, destination);
}

export interface BufferedDestination extends DestinationStream {
  /** Writes out what is buffered, synchronously (pino's `logger.flush(cb)` calls it with a callback). */
  flush(cb?: (err?: Error) => void): void;
}

export interface BufferedDestinationOptions {
  /** Write at once when this much is buffered (default 16 KiB). */
  readonly maxBytes?: number;
  /** Write at most this long after the first buffered line (default 100 ms). */
  readonly maxDelayMs?: number;
  /** Injected for tests: the synchronous write (returns the bytes written). */
  readonly write?: (data: Buffer) => number;
  readonly setTimer?: (fn: () => void, ms: number) => { unref?(): unknown };
  readonly clearTimer?: (t: unknown) => void;
}

/** pino's serialised line starts with the numeric level: 40 warn, 50 error, 60 fatal. */
const urgent = (line: string) => line.startsWith('{"level":4') || line.startsWith('{"level":5') || line.startsWith('{"level":6');

/**
 * A pino destination that buffers lines and writes them synchronously in one
 * system call (see the module comment for when). Synchronous on purpose: a
 * flush at exit must not need the event loop.
 */
export function bufferedDestination(fd: number, o: BufferedDestinationOptions = {}): BufferedDestination {
  const maxBytes = o.maxBytes ?? 16 * 1024;
  const maxDelayMs = o.maxDelayMs ?? 100;
  const write = o.write ?? ((data: Buffer) => writeSync(fd, data));
  const setTimer = o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  let lines: string[] = [];
  let bytes = 0;
  let timer: { unref?(): unknown } | null = null;
  let broken = false;

  function flush(cb?: (err?: Error) => void): void {
    writeOut();
    cb?.();
  }

  function writeOut(): void {
    if (timer) {
      clearTimer(timer);
      timer = null;
    }
    if (lines.length === 0) return;
    let data = Buffer.from(lines.join(''));
    lines = [];
    bytes = 0;
    if (broken) return;
    while (data.length > 0) {
      try {
        data = data.subarray(write(data));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A non-blocking pipe that is full: wait for its reader, as pino's own destination does.
        if (code === 'EAGAIN' || code === 'EBUSY') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
          continue;
        }
        // The reader is gone (EPIPE) or the fd is unusable: stop logging rather than crash the service.
        broken = true;
        return;
      }
    }
  }

  return {
    write(line: string): void {
      lines.push(line);
      bytes += line.length;
      if (bytes >= maxBytes || urgent(line)) return writeOut();
      if (!timer) {
        timer = setTimer(writeOut, maxDelayMs);
        timer.unref?.();
      }
    },
    flush,
  };
}

let stdout: BufferedDestination | null = null;

/**
 * The process's one buffer for stdout (one fd, so one buffer and one exit
 * hook, however many loggers the process makes).
 */
export function stdoutBuffer(): BufferedDestination {
  if (!stdout) {
    const dest = bufferedDestination(1);
    process.on('exit', () => dest.flush());
    stdout = dest;
  }
  return stdout;
}
