/**
 * zunctl's readers of the outside world: the event stream, the read-model
 * buckets, Docker and the etcd host registry. Thin: every decision is made
 * by the pure modules beside this one.
 */
import Docker from 'dockerode';
import { Etcd3 } from 'etcd3';
import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAM_NAME, decodeToken, type AggregateKind, type RecordedEvent } from '../../events/index.js';
import { createHistoryFold, type HistoryFold, type HistoryFoldOptions } from '../../domain/history.js';
import { HOST_REGISTRY_PREFIX, type HostRecord } from '../../domain/host.js';
import { connectNats } from '../platform/nats.js';
import { createJetStreamEventStore, readBatches } from '../platform/jetstream-eventstore.js';
import { CAPSULES_BUCKET, CONTAINERS_BUCKET, DESIRED_BUCKET } from '../platform/readmodels.js';
import { CommandError } from './args.js';
import type { DiffInput, DockerContainerInfo } from './diff.js';

export async function connect(url: string): Promise<NatsConnection> {
  try {
    return await connectNats({ servers: url, name: 'zunctl', timeoutMs: 5_000 });
  } catch (e) {
    throw new CommandError('NATS_UNAVAILABLE', `cannot connect to NATS at ${url}: ${(e as Error).message}`, { cause: e });
  }
}

/** The events of one aggregate, trying each kind in turn (ids are uuids: at most one kind has events). */
export async function loadAnyAggregate(
  nc: NatsConnection,
  id: string,
  kinds: readonly AggregateKind[] = ['container', 'capsule', 'placement'],
): Promise<{ kind: AggregateKind; events: RecordedEvent[] } | null> {
  const store = createJetStreamEventStore({ nc });
  for (const kind of kinds) {
    const events = await store.load(kind, id);
    if (events.length) return { kind, events };
  }
  return null;
}

export async function streamLastSeq(nc: NatsConnection, stream = STREAM_NAME): Promise<number> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  try {
    return (await jsm.streams.info(stream)).state.last_seq;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10059) throw new CommandError('NO_STREAM', `stream ${stream} does not exist on this server`);
    throw e;
  }
}

/** Folds the whole stream (as it stood when the read began). */
export async function foldStream(
  nc: NatsConnection,
  opts: HistoryFoldOptions & { onProgress?: (done: number, total: number) => void; streamName?: string } = {},
): Promise<{ fold: HistoryFold; elapsedMs: number; total: number }> {
  const total = await streamLastSeq(nc, opts.streamName);
  const fold = createHistoryFold(opts);
  const started = performance.now();
  let n = 0;
  for await (const batch of readBatches({ nc, ...(opts.streamName ? { streamName: opts.streamName } : {}) })) {
    for (const e of batch) fold.apply(e);
    n += batch.length;
    opts.onProgress?.(batch.at(-1)?.seq ?? n, total);
    // Past --to-seq nothing more can be folded.
    if (opts.toSeq !== undefined && (batch.at(-1)?.seq ?? 0) >= opts.toSeq) break;
  }
  return { fold, elapsedMs: performance.now() - started, total };
}

/** Opens a bucket that exists; null when it does not (the projector never ran). */
async function openBucket(nc: NatsConnection, name: string): Promise<KV | null> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  try {
    await jsm.streams.info(`KV_${name}`);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10059) return null;
    throw e;
  }
  return new Kvm(nc).open(name);
}

async function bucketEntries(kv: KV | null): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  if (!kv) return out;
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  for (let i = 0; i < keys.length; i += 64) {
    await Promise.all(
      keys.slice(i, i + 64).map(async (k) => {
        const e = await kv.get(k);
        if (e && e.operation === 'PUT') out.set(k, e.json<unknown>());
      }),
    );
  }
  return out;
}

/** The read models as the projector left them. Missing buckets read as empty. */
export async function readReadModels(nc: NatsConnection): Promise<NonNullable<DiffInput['readModels']> & { missingBuckets: string[] }> {
  const names = [CONTAINERS_BUCKET, CAPSULES_BUCKET, DESIRED_BUCKET];
  const [c, k, d] = await Promise.all(names.map((b) => openBucket(nc, b)));
  const missingBuckets = names.filter((_, i) => [c, k, d][i] === null);
  const [containers, capsules, desiredRaw] = await Promise.all([bucketEntries(c!), bucketEntries(k!), bucketEntries(d!)]);
  const decode = (m: Map<string, unknown>) => new Map([...m].map(([key, v]) => [decodeToken(key), v]));
  const desired = [...desiredRaw].map(([key, value]) => {
    const [host, kind, id] = key.split('.');
    return { host: decodeToken(host!), kind: kind!, id: decodeToken(id!), value };
  });
  return { containers: decode(containers), capsules: decode(capsules), desired, missingBuckets };
}

/** Every container carrying the managed label, from Docker. */
export async function listManagedContainers(socketPath: string, managedLabel: string): Promise<DockerContainerInfo[]> {
  const docker = new Docker({ socketPath });
  try {
    const list = await docker.listContainers({ all: true, filters: { label: [`${managedLabel}=true`] } });
    return list.map((c) => ({ dockerId: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), state: c.State, labels: c.Labels ?? {} }));
  } catch (e) {
    throw new CommandError('DOCKER_UNAVAILABLE', `cannot list Docker containers on ${socketPath}: ${(e as Error).message}`, { cause: e });
  }
}

/** Live hosts from the etcd registry (a key exists while its lease does). */
export async function listRegisteredHosts(endpoints: string): Promise<HostRecord[]> {
  const client = new Etcd3({ hosts: endpoints.split(','), dialTimeout: 3_000 });
  try {
    const kvs = await client.getAll().prefix(HOST_REGISTRY_PREFIX).strings();
    return Object.values(kvs).flatMap((v) => {
      try {
        return [JSON.parse(v) as HostRecord];
      } catch {
        return [];
      }
    });
  } catch (e) {
    throw new CommandError('ETCD_UNAVAILABLE', `cannot read the host registry from etcd at ${endpoints}: ${(e as Error).message}`, { cause: e });
  } finally {
    client.close();
  }
}
