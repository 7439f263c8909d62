/**
 * Makes an image available before a create, as the pull policy says
 * (never | ifnotpresent | always). There is no registry here: a pull that
 * fails for an image the host already has is not an error under `always`
 * (logged as a warning); one the host lacks is Zun's ImageNotFound.
 *
 * Presence cache (`createImagePresence`): one per host actor, shared by the
 * container and capsule reconcilers. A burst of creates of one image asks
 * Docker once (concurrent asks share one inspect) and trusts a "present"
 * answer for `ttlMs`; "absent" is never cached, so an image imported a
 * moment ago is used at once. An image removed behind our back within the
 * window makes the create fail with "No such image": the caller forgets the
 * image (`forget`) and goes through `ensureImage` again, which then asks
 * Docker (see reconciler.ts), so a stale answer never becomes an Error.
 */
import { pullPlan } from '../../domain/reconcile.js';
import type { Logger } from '../platform/log.js';
import { RuntimeError, RuntimeErrorCode, type ContainerRuntime } from './docker.js';

export interface ImagePresence {
  /** Whether the image is on the host, possibly from a fresh cached answer. */
  present(image: string): Promise<boolean>;
  /** Drops the cached answer for the image (a create said it is gone). */
  forget(image: string): void;
}

export function createImagePresence(runtime: ContainerRuntime, opts: { ttlMs?: number; now: () => number }): ImagePresence {
  const ttlMs = opts.ttlMs ?? 5_000;
  const seenAt = new Map<string, number>();
  const asking = new Map<string, Promise<boolean>>();
  return {
    async present(image) {
      const at = seenAt.get(image);
      if (at !== undefined && opts.now() - at < ttlMs) return true;
      let p = asking.get(image);
      if (!p) {
        const started = opts.now();
        p = runtime
          .imagePresent(image)
          .then((yes) => {
            if (yes) seenAt.set(image, started);
            else seenAt.delete(image);
            return yes;
          })
          .finally(() => asking.delete(image));
        asking.set(image, p);
      }
      return p;
    },
    forget(image) {
      seenAt.delete(image);
    },
  };
}

/** Presence straight from the runtime, nothing cached. */
export const uncachedPresence = (runtime: ContainerRuntime): ImagePresence => ({
  present: (image) => runtime.imagePresent(image),
  forget: () => {},
});

export async function ensureImage(
  runtime: ContainerRuntime,
  hostname: string,
  image: string,
  policy: Parameters<typeof pullPlan>[0],
  log: Logger,
  presence: ImagePresence = uncachedPresence(runtime),
): Promise<void> {
  const plan = pullPlan(policy, await presence.present(image));
  if (plan === 'none') return;
  try {
    await runtime.pull(image);
  } catch (err) {
    if (plan === 'best-effort' && err instanceof RuntimeError && err.code !== RuntimeErrorCode.unavailable) {
      log.warn({ image, err: err.message }, 'pull failed; using the image present on this host');
      return;
    }
    if (err instanceof RuntimeError && err.code !== RuntimeErrorCode.unavailable) {
      throw new RuntimeError(RuntimeErrorCode.imageNotFound, `Image ${image} could not be found on host ${hostname}: ${err.message}`, err.statusCode, { cause: err });
    }
    throw err;
  }
}
