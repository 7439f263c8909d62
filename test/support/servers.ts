// Throwaway servers for integration tests: each call starts its own
// nats-server or etcd on free loopback ports with a fresh temp data dir.
// Processes are only ever signalled by their own pid; data dirs are removed
// on stop(). restart() keeps the same ports and data dir.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface ServerHandle {
  /** pid of the current process (undefined while stopped) */
  readonly pid: number | undefined;
  /** the last ~32 KB of the server's stdout+stderr, for failure messages */
  output(): string;
  /** SIGTERM (SIGKILL after a grace period), then remove the data dir */
  stop(): Promise<void>;
  /** SIGKILL, keeping the data dir: simulates a crash; restart() afterwards */
  kill9(): Promise<void>;
  /** stop gracefully if running, then start again on the same ports and data dir */
  restart(): Promise<void>;
}

export interface NatsServer extends ServerHandle {
  url: string;
  port: number;
  monitorPort: number;
  storeDir: string;
}

export interface EtcdServer extends ServerHandle {
  endpoint: string;
  port: number;
  peerPort: number;
  dataDir: string;
}

export interface StartOptions {
  /** extra command-line arguments for the server */
  args?: string[];
  /** how long to wait for readiness (default 30 s) */
  timeoutMs?: number;
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1, chosen below the
 * kernel's ephemeral range: a port from that range (what `listen(0)` hands
 * out) can be taken as the local port of any outgoing connection on the
 * machine between this check and the server's bind, and was (etcd failed
 * with "address already in use" in a CI run on 2026-11-26). Below the range
 * only another listener can take it, and the servers' starts retry on that.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low > MIN_PORT + 1_000) {
    for (let i = 0; i < 50; i++) {
      const port = MIN_PORT + Math.floor(Math.random() * (low - MIN_PORT));
      const got = await bindable(port);
      if (got !== null) return got;
    }
  }
  const any = await bindable(0);
  if (any === null) throw new Error("no free port on 127.0.0.1");
  return any;
}

const MIN_PORT = 10_000;

function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** Binds `port` (0: any) on 127.0.0.1 and lets it go; the port, or null when it was taken. */
function bindable(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", () => resolve(null));
    srv.listen(port, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(addr && typeof addr === "object" ? addr.port : null));
    });
  });
}

/**
 * Starts a server on fresh ports, again on new ones (up to 3 times) when it
 * exits because one was taken between freePort and its bind.
 */
async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 3 || !/address already in use/i.test((e as Error)?.message ?? "")) throw e;
    }
  }
}

/** True when a Docker daemon answers GET /_ping on the socket. */
export function dockerAvailable(socketPath = "/var/run/docker.sock"): Promise<boolean> {
  return httpGet({ socketPath, path: "/_ping" }).then(
    (r) => r.status === 200,
    () => false,
  );
}

/**
 * Starts servers side by side. If any of them fails to start, the ones that
 * did are stopped before the error is thrown, so a failed beforeAll leaves
 * nothing running (its afterAll never got the handles).
 */
export async function startServers<T extends readonly ServerHandle[]>(...starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await Promise.all(settled.map((r) => (r.status === "fulfilled" ? r.value.stop().catch(() => {}) : undefined)));
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<ServerHandle>).value) as unknown as T;
}

export function startNats(opts: StartOptions = {}): Promise<NatsServer> {
  return withFreshPorts(() => startNatsOnce(opts));
}

async function startNatsOnce(opts: StartOptions): Promise<NatsServer> {
  const [port, monitorPort] = [await freePort(), await freePort()];
  const storeDir = mkdtempSync(path.join(os.tmpdir(), "zun-nats-"));
  const proc = new ManagedProcess({
    name: "nats-server",
    command: "nats-server",
    args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "-sd", storeDir, ...(opts.args ?? [])],
    dir: storeDir,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ready: async () =>
      (await httpOk(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`)) && (await tcpOk(port)),
  });
  await proc.startOrCleanUp();
  return proc.handle({ url: `nats://127.0.0.1:${port}`, port, monitorPort, storeDir });
}

export function startEtcd(opts: StartOptions = {}): Promise<EtcdServer> {
  return withFreshPorts(() => startEtcdOnce(opts));
}

async function startEtcdOnce(opts: StartOptions): Promise<EtcdServer> {
  const [port, peerPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "zun-etcd-"));
  const client = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = new ManagedProcess({
    name: "etcd",
    command: "etcd",
    args: [
      "--name", "default", "--data-dir", dataDir,
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `default=${peer}`,
      "--logger", "zap", "--log-level", "warn",
      // A single member has nobody to contest an election: short timeouts make
      // start and restart ~0.3 s instead of ~1 s.
      "--heartbeat-interval", "25", "--election-timeout", "250",
      ...(opts.args ?? []),
    ],
    dir: dataDir,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ready: async () => {
      const r = await httpGet({ host: "127.0.0.1", port, path: "/health" }).catch(() => undefined);
      return r?.status === 200 && /"health"\s*:\s*"true"/.test(r.body);
    },
  });
  await proc.startOrCleanUp();
  return proc.handle({ endpoint: client, port, peerPort, dataDir });
}

// ---------------------------------------------------------------------------

interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  /** data dir, removed by stop() */
  dir: string;
  timeoutMs: number;
  ready: () => Promise<boolean>;
}

const OUTPUT_LIMIT = 32 * 1024;
const live = new Set<ManagedProcess>();

// Last resort if a test forgets stop(): kill our children and drop their dirs.
process.once("exit", () => {
  for (const p of live) p.killSync();
});

class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private out = "";
  private removed = false;

  constructor(private readonly spec: ProcessSpec) {}

  handle<T extends object>(fields: T): ServerHandle & T {
    const self = this;
    return {
      ...fields,
      get pid() {
        return self.running() ? self.child?.pid : undefined;
      },
      output: () => this.out,
      stop: () => this.stop(),
      kill9: () => this.kill9(),
      restart: () => this.restart(),
    };
  }

  running(): boolean {
    const c = this.child;
    return !!c && c.pid !== undefined && c.exitCode === null && c.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.removed) throw new Error(`${this.spec.name}: already stopped for good`);
    if (this.running()) return;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD")));
    const child = spawn(this.spec.command, this.spec.args, { stdio: ["ignore", "pipe", "pipe"], env });
    this.child = child;
    live.add(this);
    const append = (b: Buffer) => {
      this.out = (this.out + b.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once("error", (e) => {
        spawnError = e;
        resolve();
      });
      child.once("exit", () => resolve());
    });

    const deadline = Date.now() + this.spec.timeoutMs;
    for (;;) {
      if (!this.running()) {
        await this.exited; // a failed spawn reports "error" on a later tick
        if (spawnError) throw new Error(`${this.spec.name}: cannot start: ${spawnError.message}`);
        throw new Error(
          `${this.spec.name} exited (code ${child.exitCode}, signal ${child.signalCode}) before ready:\n${this.out}`,
        );
      }
      if (await this.spec.ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        await this.signalAndWait("SIGKILL", 5_000);
        throw new Error(`${this.spec.name} not ready after ${this.spec.timeoutMs} ms:\n${this.out}`);
      }
      await sleep(50);
    }
  }

  /** first start: on failure, kill what is left and drop the data dir */
  async startOrCleanUp(): Promise<void> {
    try {
      await this.start();
    } catch (e) {
      await this.stop().catch(() => {});
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.terminate();
    this.removeDir();
  }

  async kill9(): Promise<void> {
    await this.signalAndWait("SIGKILL", 5_000);
  }

  async restart(): Promise<void> {
    await this.terminate();
    await this.start();
  }

  /** synchronous: for the process "exit" hook */
  killSync(): void {
    if (this.running() && this.child?.pid) {
      try {
        process.kill(this.child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    this.removeDir();
  }

  private async terminate(): Promise<void> {
    if (!(await this.signalAndWait("SIGTERM", 10_000))) {
      if (!(await this.signalAndWait("SIGKILL", 5_000))) {
        throw new Error(`${this.spec.name} (pid ${this.child?.pid}) survived SIGKILL`);
      }
    }
  }

  /** Sends the signal to our child's pid; true once it has exited (or was not running). */
  private async signalAndWait(signal: NodeJS.Signals, waitMs: number): Promise<boolean> {
    const child = this.child;
    if (!child || !this.running()) return true;
    try {
      process.kill(child.pid!, signal);
    } catch {
      /* exited meanwhile */
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), waitMs)));
    try {
      return await Promise.race([this.exited.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private removeDir(): void {
    if (this.removed) return;
    this.removed = true;
    live.delete(this);
    rmSync(this.spec.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function httpGet(options: http.RequestOptions, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...options, timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

async function httpOk(url: string): Promise<boolean> {
  const u = new URL(url);
  const r = await httpGet({ host: u.hostname, port: Number(u.port), path: u.pathname + u.search }).catch(
    () => undefined,
  );
  return r !== undefined && r.status >= 200 && r.status < 300;
}

function tcpOk(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}
