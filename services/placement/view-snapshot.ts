/**
 * Snapshots of placement's folded view (the ledger, the live consumers, the
 * tombstones, the stream position), so that an instance starting cold folds
 * only the stream after the snapshot instead of all history.
 *
 * Who writes: only a standby (placement.ts), whose view is consistent at its
 * tail position (the leader's ledger runs ahead of its tail with its own
 * appends, so its view is never a cut at one sequence). Who reads: an
 * instance whose view is empty (a standby starting, or a leader elected
 * before its standby had folded anything).
 *
 * Storage: the NATS KV bucket `zun_placement_views` (history 1). A view is
 * JSON, split into chunks that fit a message, written to one of two slots
 * (`<domain>.c.<a|b>.<i>`: the one the current manifest does not name), then
 * the manifest (`<domain>.m`: slot, sequence, each chunk's KV revision,
 * fingerprint) is written last. A reader takes the manifest, then the chunks;
 * a chunk missing or of another revision (a writer reused the slot meanwhile)
 * means no snapshot, and the instance folds the stream from the start as
 * before. A snapshot is never a source of truth: the stream is.
 *
 * Validity: the manifest carries a fingerprint of the code's folds, the hash
 * of a fixed history folded by the current evolve functions (containers and
 * the ledger) and of the initial states. A release whose folds produce other
 * states for that history, or other shapes, ignores older snapshots, as a
 * changed fold must never start from a state it would not have produced.
 * VIEW_FORMAT is bumped by hand for changes the fixed history cannot show.
 */
import { createHash } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAM_NAME, encodeToken, type ContainerEvent, type ContainerSpec, type PlacementEvent } from '../../events/index.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../../domain/container.js';
import { initialCapsuleState, type CapsuleState } from '../../domain/capsule.js';
import { applyLedgerEvent, initialLedger, type HostUsage, type LedgerClaim, type MutableLedger } from '../../domain/placement.js';

export const VIEW_SNAPSHOT_BUCKET = 'zun_placement_views';
/** Bumped by hand when the view's meaning changes in a way the fingerprint's history cannot show. */
export const VIEW_FORMAT = 1;
/** Bytes of JSON per chunk: well inside the server's max_payload (1 MB here). */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;

/** What a snapshot holds: placement's folded view at one stream sequence. */
export interface ViewState {
  readonly lastSeq: number;
  readonly ledger: MutableLedger;
  readonly containers: Map<string, ContainerState>;
  readonly capsules: Map<string, CapsuleState>;
  readonly deleted: Set<string>;
}

interface Manifest {
  readonly format: number;
  readonly fingerprint: string;
  /** The stream the view was folded from (name and creation time): a snapshot of another stream, or of one made again, is not used. */
  readonly stream: string;
  /** The slot holding the chunks: `a` or `b`, alternately. */
  readonly slot: 'a' | 'b';
  readonly seq: number;
  /** The KV revision of each chunk as written: a chunk overwritten since (a torn read) shows another. */
  readonly revisions: readonly number[];
  readonly bytes: number;
}

interface Encoded {
  readonly lastSeq: number;
  readonly ledgerSeq: number;
  readonly claims: readonly LedgerClaim[];
  readonly usage: readonly (readonly [string, HostUsage])[];
  readonly containers: readonly ContainerState[];
  readonly capsules: readonly CapsuleState[];
  readonly deleted: readonly string[];
}

let fingerprintMemo: string | null = null;

/** The hash of what the current folds make of a fixed history (see the module comment). */
export function foldFingerprint(): string {
  fingerprintMemo ??= fingerprintOf({ evolveContainer, applyLedgerEvent });
  return fingerprintMemo;
}

/** The hash of what `folds` make of the fixed history. Pure. */
export function fingerprintOf(folds: { evolveContainer: typeof evolveContainer; applyLedgerEvent: typeof applyLedgerEvent }): string {
  const id = '00000000-0000-4000-8000-000000000001';
  const spec = { name: 'f', image: 'i', command: [], entrypoint: null, cpu: 1, memory: 64, disk: null, workdir: null, hostname: null,
    environment: {}, labels: {}, imageDriver: 'docker', imagePullPolicy: 'ifnotpresent', restartPolicy: { name: 'no', maximumRetryCount: 0 },
    interactive: false, tty: false, autoRemove: false, autoHeal: false, runtime: null, privileged: false, healthcheck: null, exposedPorts: [],
    securityGroups: [], cpuPolicy: 'shared', registryId: null, availabilityZone: null, hints: {}, requestedHost: null, nets: [], mounts: [] } as ContainerSpec;
  const at = '2026-01-01T00:00:00.000Z';
  const history: ContainerEvent[] = [
    { type: 'ContainerCreateRequested', data: { spec, run: true } },
    { type: 'ContainerScheduled', data: { host: 'h', claim: { cpu: 1, memoryMiB: 64, diskGb: 0 } } },
    { type: 'ContainerCreated', data: { dockerId: 'd' } },
    { type: 'ContainerStarted', data: { dockerId: 'd' } },
    { type: 'ContainerUpdated', data: { cpu: 2 } },
    { type: 'ContainerStopRequested', data: { timeout: null } },
    { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } },
    { type: 'ContainerDeleteRequested', data: { stop: false, force: false } },
  ];
  const states: ContainerState[] = [];
  let s = initialContainerState(id);
  history.forEach((e, i) => {
    s = folds.evolveContainer(s, { ...e, seq: i + 1, occurredAt: at, projectId: 'p', userId: 'u' });
    states.push(s);
  });
  const ledger = initialLedger();
  const ledgerEvents: (PlacementEvent & { seq: number })[] = [
    { type: 'PlacementsCommitted', data: { placements: [{ kind: 'container', id, host: 'h', claim: { cpu: 1, memoryMiB: 64, diskGb: 0 } }] }, seq: 10 },
    { type: 'ClaimResized', data: { id, claim: { cpu: 2, memoryMiB: 64, diskGb: 0 }, basis: 5 }, seq: 11 },
  ];
  ledgerEvents.push({ type: 'ClaimsReleased', data: { ids: [id] }, seq: 12 });
  const ledgers = ledgerEvents.map((e) => {
    folds.applyLedgerEvent(ledger, e);
    return { seq: ledger.seq, claims: [...ledger.claims.values()], usage: [...ledger.usage.entries()] };
  });
  const json = JSON.stringify({ format: VIEW_FORMAT, states, ledgers, capsule: initialCapsuleState(id) });
  return createHash('sha256').update(json).digest('hex').slice(0, 32);
}

/**
 * The view as JSON chunks of at most `chunkBytes` bytes each (split at byte
 * offsets: decodeView joins the bytes before decoding, so a multi-byte
 * character may straddle two chunks). Made in slices of `sliceItems` claims
 * or consumers with a turn of the event loop between them, so that a large view does not stall
 * the process (a control plane's gateway shares it). The view is taken as it
 * is at the call (its maps are copied before the first await; the states in
 * them are never changed in place, only replaced), so folding may go on.
 */
export function encodeViewSliced(v: ViewState, chunkBytes = DEFAULT_CHUNK_BYTES, sliceItems = 1000): Promise<Buffer[]> {
  const cut = {
    lastSeq: v.lastSeq,
    ledgerSeq: v.ledger.seq,
    claims: [...v.ledger.claims.values()],
    usage: [...v.ledger.usage.entries()],
    containers: [...v.containers.values()],
    capsules: [...v.capsules.values()],
    deleted: [...v.deleted],
  };
  return encodeCut(cut, chunkBytes, sliceItems);
}

async function encodeCut(cut: Encoded, chunkBytes: number, sliceItems: number): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  const text = (t: string) => parts.push(Buffer.from(t, 'utf8'));
  const list = async (items: readonly unknown[]) => {
    text('[');
    for (let i = 0; i < items.length; i += sliceItems) {
      text((i > 0 ? ',' : '') + items.slice(i, i + sliceItems).map((x) => JSON.stringify(x)).join(','));
      await new Promise<void>((r) => setImmediate(r));
    }
    text(']');
  };
  text(`{"lastSeq":${JSON.stringify(cut.lastSeq)},"ledgerSeq":${JSON.stringify(cut.ledgerSeq)},"claims":`);
  await list(cut.claims);
  text(`,"usage":${JSON.stringify(cut.usage)},"containers":`);
  await list(cut.containers);
  text(',"capsules":');
  await list(cut.capsules);
  text(`,"deleted":${JSON.stringify(cut.deleted)}}`);
  const all = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += chunkBytes) chunks.push(all.subarray(i, Math.min(all.length, i + chunkBytes)));
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

/** The inverse of encodeViewSliced: throws on anything malformed. */
export function decodeView(chunks: readonly Uint8Array[]): ViewState {
  const body = JSON.parse(Buffer.concat(chunks.map((c) => Buffer.from(c))).toString('utf8')) as Encoded;
  if (typeof body.lastSeq !== 'number' || !Array.isArray(body.claims) || !Array.isArray(body.containers)) throw new Error('not a placement view');
  return {
    lastSeq: body.lastSeq,
    ledger: { seq: body.ledgerSeq, claims: new Map(body.claims.map((c) => [c.id, c])), usage: new Map(body.usage.map(([h, u]) => [h, u])) },
    containers: new Map(body.containers.map((c) => [c.uuid, c])),
    capsules: new Map(body.capsules.map((c) => [c.uuid, c])),
    deleted: new Set(body.deleted),
  };
}

export interface ViewSnapshots {
  /** Writes a view encoded by encodeViewSliced, folded up to `seq`. Returns the bytes written. */
  write(seq: number, chunks: readonly Buffer[]): Promise<number>;
  /** The latest valid snapshot, or null (none, another fold's, or a torn read). */
  read(): Promise<ViewState | null>;
  /** The stream sequence of the latest snapshot of this fold (0 when none): another standby may have written it. */
  latestSeq(): Promise<number>;
}

export function createViewSnapshots(o: {
  nc: NatsConnection;
  domain: string;
  streamName?: string | undefined;
  replicas?: number;
}): ViewSnapshots {
  const dom = encodeToken(o.domain);
  const streamName = o.streamName ?? STREAM_NAME;
  /** The stream's identity now (asked each time: the stream may have been made again since). */
  const streamId = async (): Promise<{ id: string; lastSeq: number }> => {
    const info = await (await jetstreamManager(o.nc)).streams.info(streamName);
    return { id: `${streamName}@${info.created}`, lastSeq: info.state.last_seq };
  };
  const manifestKey = `${dom}.m`;
  const chunkKey = (slot: string, i: number) => `${dom}.c.${slot}.${i}`;
  let bucket: Promise<KV> | null = null;
  const kv = (): Promise<KV> => {
    bucket ??= new Kvm(o.nc).create(VIEW_SNAPSHOT_BUCKET, { history: 1, replicas: o.replicas ?? 1 }).catch((err: unknown) => {
      bucket = null;
      throw err;
    });
    return bucket;
  };
  /** The manifest, if it is of this fold and this stream, and not ahead of the stream. */
  const manifestOf = async (k: KV): Promise<Manifest | null> => {
    const e = await k.get(manifestKey);
    if (!e || e.operation !== 'PUT') return null;
    const m = JSON.parse(new TextDecoder().decode(e.value)) as Manifest;
    if (m.format !== VIEW_FORMAT || m.fingerprint !== foldFingerprint()) return null;
    const s = await streamId();
    return m.stream === s.id && m.seq <= s.lastSeq ? m : null;
  };

  return {
    async write(seq, chunks) {
      const k = await kv();
      const stream = (await streamId()).id;
      // The slot the current manifest does not name: a reader of that one is not disturbed.
      const slot = (await manifestOf(k).catch(() => null))?.slot === 'a' ? 'b' : 'a';
      const revisions: number[] = [];
      for (let i = 0; i < chunks.length; i++) revisions.push(await k.put(chunkKey(slot, i), chunks[i]!));
      const bytes = chunks.reduce((n, c) => n + c.length, 0);
      const manifest: Manifest = { format: VIEW_FORMAT, fingerprint: foldFingerprint(), stream, slot, seq, revisions, bytes };
      await k.put(manifestKey, JSON.stringify(manifest));
      // Chunks of this slot beyond this snapshot's count (a larger one before) go; the keys stay bounded.
      const extra: string[] = [];
      for await (const key of await k.keys(`${dom}.c.${slot}.>`)) {
        if (Number(key.slice(key.lastIndexOf('.') + 1)) >= chunks.length) extra.push(key);
      }
      for (const key of extra) await k.delete(key).catch(() => {});
      return bytes;
    },
    async read() {
      const k = await kv();
      const m = await manifestOf(k);
      if (!m) return null;
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < m.revisions.length; i++) {
        const e = await k.get(chunkKey(m.slot, i));
        if (!e || e.operation !== 'PUT' || e.revision !== m.revisions[i]) return null; // rewritten meanwhile
        chunks.push(e.value);
      }
      const v = decodeView(chunks);
      return v.lastSeq === m.seq ? v : null;
    },
    async latestSeq() {
      return (await manifestOf(await kv()))?.seq ?? 0;
    },
  };
}
