// Checks the test harness itself: throwaway nats-server and etcd start,
// answer, keep their data across a restart (and a SIGKILL), and stop.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Etcd3 } from "etcd3";
import { existsSync, readFileSync } from "node:fs";
import { dockerAvailable, freePort, startEtcd, startNats, startServers, type EtcdServer, type NatsServer } from "../support/servers.js";

const T = 60_000;

describe("test/support/servers", { timeout: T }, () => {
  let nats: NatsServer | undefined;
  let etcd: EtcdServer | undefined;

  beforeAll(async () => {
    [nats, etcd] = await startServers<[NatsServer, EtcdServer]>(startNats(), startEtcd());
  }, T);

  afterAll(async () => {
    await Promise.all([nats?.stop(), etcd?.stop()]);
  }, T);

  it("freePort gives distinct usable ports", async () => {
    const a = await freePort();
    const b = await freePort();
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });

  it("startServers stops the servers that started when another fails, and rethrows", async () => {
    const started = startNats();
    await expect(startServers<[NatsServer, NatsServer]>(started, Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const n = await started;
    expect(n.pid).toBeUndefined();
    expect(existsSync(n.storeDir)).toBe(false);
  });

  it("freePort stays below the ephemeral range (no outgoing connection can take the port before the bind)", async () => {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(low);
    }
  });

  it("nats-server: JetStream stream survives a restart and a SIGKILL", async () => {
    const n = nats!;
    const pidBefore = n.pid;
    const withConn = async <R>(f: (nc: NatsConnection) => Promise<R>): Promise<R> => {
      const nc = await connect({ servers: n.url, reconnect: false });
      try {
        return await f(nc);
      } finally {
        await nc.close();
      }
    };

    await withConn(async (nc) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "HARNESS", subjects: ["harness.>"] });
      const ack = await jetstream(nc).publish("harness.a", "one", { msgID: "m1" });
      expect(ack.seq).toBe(1);
    });

    await n.restart();
    expect(n.pid).toBeDefined();
    expect(n.pid).not.toBe(pidBefore);

    await withConn(async (nc) => {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info("HARNESS")).state.messages).toBe(1);
      const m = await jsm.streams.getMessage("HARNESS", { seq: 1 });
      expect(m?.string()).toBe("one");
      const ack = await jetstream(nc).publish("harness.b", "two", { msgID: "m2" });
      expect(ack.seq).toBe(2);
    });

    // A process crash loses nothing that was acked (DESIGN.md section 10).
    await n.kill9();
    expect(n.pid).toBeUndefined();
    await n.restart();

    await withConn(async (nc) => {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info("HARNESS")).state.messages).toBe(2);
      const dup = await jetstream(nc).publish("harness.b", "two", { msgID: "m2" });
      expect(dup.duplicate).toBe(true);
      expect(dup.seq).toBe(2);
    });
  });

  it("etcd: put/get, value survives a restart", async () => {
    const e = etcd!;
    const put = async (k: string, v: string) => {
      const client = new Etcd3({ hosts: e.endpoint });
      try {
        await client.put(k).value(v);
      } finally {
        client.close();
      }
    };
    const get = async (k: string) => {
      const client = new Etcd3({ hosts: e.endpoint });
      try {
        return await client.get(k).string();
      } finally {
        client.close();
      }
    };

    await put("harness/k", "v1");
    expect(await get("harness/k")).toBe("v1");
    await e.restart();
    expect(await get("harness/k")).toBe("v1");
    await e.kill9();
    await e.restart();
    expect(await get("harness/k")).toBe("v1");
  });

  it("stop() kills the process and removes the data dir", async () => {
    const n = await startNats();
    const pid = n.pid!;
    expect(existsSync(n.storeDir)).toBe(true);
    await n.stop();
    expect(n.pid).toBeUndefined();
    expect(existsSync(n.storeDir)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it("dockerAvailable answers a boolean", async () => {
    const ok = await dockerAvailable();
    expect(typeof ok).toBe("boolean");
    console.log(`docker available: ${ok}`);
  });
});
