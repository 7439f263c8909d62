// A recording HTTP stub on 127.0.0.1 for tests of API clients (Neutron,
// Cinder, the Docker API): every request is kept (method, path, query, parsed
// JSON body), and the test's handler answers it, usually from a recorded
// fixture. Loopback only; close() when done.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** The parsed JSON body; undefined when empty; the raw text when not JSON. */
  readonly body: unknown;
  readonly rawBody: string;
}

export interface StubReply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export type StubHandler = (req: StubRequest) => StubReply | Promise<StubReply>;

export interface HttpStub {
  readonly url: string;
  readonly port: number;
  readonly requests: StubRequest[];
  /** Requests as "METHOD /path?query" lines, for order assertions. */
  calls(): string[];
  close(): Promise<void>;
}

export async function startHttpStub(handler: StubHandler): Promise<HttpStub> {
  const requests: StubRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = rawBody;
        }
      }
      const url = new URL(req.url ?? '/', 'http://stub');
      const r: StubRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, rawBody };
      requests.push(r);
      Promise.resolve()
        .then(() => handler(r))
        .then(
          (reply) => {
            const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
            res.writeHead(reply.status, { ...(payload ? { 'Content-Type': 'application/json' } : {}), ...(reply.headers ?? {}) });
            res.end(payload);
          },
          (err: unknown) => {
            res.writeHead(500, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ message: `stub handler failed: ${String(err)}` }));
          },
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('stub did not bind');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    requests,
    calls: () => requests.map((r) => `${r.method} ${r.path}${[...r.query].length > 0 ? `?${r.query.toString()}` : ''}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

/** A recorded API response from test/fixtures/<service>/<name>.json, parsed afresh on every call. */
export function fixture<T = any>(service: string, name: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, service, `${name}.json`), 'utf8')) as T;
}
