/**
 * Makes an image available before a create, as the pull policy says
 * (never | ifnotpresent | always). There is no registry here: a pull that
 * fails for an image the host already has is not an error under `always`
 * (logged as a warning); one the host lacks is Zun's ImageNotFound.
 */
import { pullPlan } from '../../domain/reconcile.js';
import type { Logger } from '../platform/log.js';
import { RuntimeError, RuntimeErrorCode, type ContainerRuntime } from './docker.js';

export async function ensureImage(
  runtime: ContainerRuntime,
  hostname: string,
  image: string,
  policy: Parameters<typeof pullPlan>[0],
  log: Logger,
): Promise<void> {
  const plan = pullPlan(policy, await runtime.imagePresent(image));
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
