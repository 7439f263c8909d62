/**
 * A small client of the gateway's Zun API for integration tests: JSON
 * requests at microversion 1.40 (noauth: the cluster's gateway trusts the
 * X-* headers), a container's or capsule's status, and waiting for one.
 */
import { waitFor } from './cluster.js';

export const API_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json', 'OpenStack-API-Version': 'container 1.40' };

/** `baseUrl` is read at each call (the cluster starts in beforeAll). */
export function zunApi(baseUrl: () => string) {
  async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { ...(body === undefined ? { ...API_HEADERS, 'Content-Length': '0' } : API_HEADERS), ...headers },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** The status, 'gone' once it is 404, undefined on any other answer. */
  async function status(uuid: string, kind = 'containers'): Promise<string | undefined> {
    const r = await api('GET', `/v1/${kind}/${uuid}`);
    return r.status === 200 ? (r.body.status as string) : r.status === 404 ? 'gone' : undefined;
  }

  /** Waits for a status; an Error on the way (when not the one wanted) fails at once, with the view. */
  const until = (uuid: string, want: string, kind = 'containers', timeoutMs = 90_000) =>
    waitFor(
      `${kind} ${uuid} to be ${want}`,
      async () => {
        const s = await status(uuid, kind);
        if (s === 'Error' && want !== 'Error') throw new Error(`${uuid} is Error: ${JSON.stringify((await api('GET', `/v1/${kind}/${uuid}`)).body)}`);
        return s === want ? true : undefined;
      },
      timeoutMs,
      250,
    );

  /** POST /v1/containers?run=true (a small sleeping container unless `body` says otherwise): its uuid; throws unless 202. */
  async function run(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
    const r = await api('POST', '/v1/containers?run=true', { image: 'zun-base:latest', cpu: 0.1, memory: '32', command: ['sleep', '3600'], ...body }, headers);
    if (r.status !== 202) throw new Error(`run: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.uuid as string;
  }

  return { api, status, until, run };
}
