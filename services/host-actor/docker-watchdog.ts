/**
 * Notices a Docker daemon that has stopped answering, and takes the host out
 * of placement until it answers again.
 *
 * Why: dockerd 20.10.24 (Debian bookworm's) can deadlock in libnetwork
 * (moby/moby#46661): from then on every call that touches networks, a
 * container create among them, hangs for ever, while `/_ping` still answers.
 * The actor's own Docker calls have no timeout (stops and commits take as
 * long as they take), so without this the host stays registered and every
 * container placed on it stays Creating.
 *
 * How: every `everyMs` a probe runs (the host actor's: a network list, which
 * takes the locks that deadlock), one at a time. A probe still unanswered
 * after `hungAfterMs` makes the host hung: `onHung` runs once (the actor
 * withdraws its registration: placement stops choosing it, and its
 * containers become Unknown, as for a lost host). While a probe hangs no
 * other is sent. The first probe that succeeds after that runs
 * `onRecovered` (the actor registers again and reconciles). A probe that
 * fails quickly (dockerd down, restarting) is an answer, not a hang: a
 * dockerd restart is handled by the reconcile loop, not here.
 */
import type Docker from 'dockerode';
import type { Logger } from '../platform/log.js';
import type { HostRegistry } from './registry.js';
import { LABELS } from './docker.js';

export interface DockerWatchdogOptions {
  /** A Docker call that deadlocked dockerd cannot answer. */
  readonly probe: () => Promise<unknown>;
  readonly everyMs: number;
  readonly hungAfterMs: number;
  readonly log: Logger;
  readonly onHung: () => Promise<void>;
  readonly onRecovered: () => Promise<void>;
}

export interface DockerWatchdog {
  start(): void;
  /** No more probes; resolves when a hook that is running has finished. */
  stop(): Promise<void>;
  /** Whether Docker is taken for hung now. */
  hung(): boolean;
}

export function createDockerWatchdog(o: DockerWatchdogOptions): DockerWatchdog {
  const log = o.log.child({ component: 'docker-watchdog' });
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;
  let isHung = false;
  let stopped = true;
  /** The hook now running (onHung or onRecovered): the next waits for it. */
  let hook: Promise<void> = Promise.resolve();

  const runHook = (name: string, fn: () => Promise<void>) => {
    hook = hook.then(fn).catch((err: unknown) => log.error({ err: (err as Error)?.message ?? String(err) }, `${name} failed`));
  };

  function tick(): void {
    if (stopped || inFlight) return;
    inFlight = true;
    const startedAt = Date.now();
    const hungTimer = setTimeout(() => {
      if (stopped || isHung || !inFlight) return;
      isHung = true;
      log.error(
        { waitedMs: Date.now() - startedAt },
        'Docker is not answering (a network list is still unanswered; dockerd 20.10 can deadlock, moby/moby#46661): host withdrawn from placement until it answers; restart dockerd',
      );
      runHook('withdrawing the host', o.onHung);
    }, o.hungAfterMs);
    hungTimer.unref?.();
    o.probe().then(
      () => {
        clearTimeout(hungTimer);
        inFlight = false;
        if (isHung && !stopped) {
          isHung = false;
          log.warn({ tookMs: Date.now() - startedAt }, 'Docker answers again: host registering again');
          runHook('registering the host again', o.onRecovered);
        }
      },
      (err: unknown) => {
        // An error is an answer (dockerd down or restarting); a hung one stays hung until a probe succeeds.
        clearTimeout(hungTimer);
        inFlight = false;
        if (isHung) log.warn({ err: (err as Error)?.message ?? String(err) }, 'Docker probe failed while hung');
      },
    );
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      timer = setInterval(tick, o.everyMs);
      timer.unref?.();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await hook;
    },
    hung: () => isHung,
  };
}

/**
 * The host actor's watchdog: probes with a list of this system's networks
 * (libnetwork's controller lock, which the deadlock holds) and withdraws or
 * restores the host's registration.
 */
export function watchDockerForRegistry(o: {
  readonly docker: Docker;
  readonly registry: HostRegistry;
  readonly everyMs: number;
  readonly hungAfterMs: number;
  readonly log: Logger;
}): DockerWatchdog {
  return createDockerWatchdog({
    probe: () => o.docker.listNetworks({ filters: { label: [`${LABELS.managed}=true`] } }),
    everyMs: o.everyMs,
    hungAfterMs: o.hungAfterMs,
    log: o.log,
    onHung: () => o.registry.stop(),
    onRecovered: () => o.registry.start(),
  });
}
