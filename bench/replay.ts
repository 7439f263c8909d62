/**
 * Replay benchmark: 20,000 containers x 10 events in a real JetStream stream.
 *
 * - pure fold: the fast fold (evolve) over events already in memory;
 * - verifying fold: every event through the XState machine;
 * - load-and-fold: read the whole stream from JetStream, decode, fold;
 * - projector rebuild: the real projector from sequence 1 until its durable
 *   consumer has acknowledged the whole stream (read models in NATS KV).
 * Targets on this 2-core machine: pure >= 1,000,000 events/s,
 * load-and-fold >= 150,000 events/s.
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { STREAM_NAME, aggregateSubject, encodeEvent, envelope, type ContainerEvent, type EventEnvelope, type RecordedEvent } from '../events/index.js';
import { evolveContainer, initialContainerState, type ContainerState } from '../domain/container.js';
import { verifyContainerFold } from '../state-machines/container.js';
import { ensureStream } from '../services/platform/stream.js';
import { createJetStreamEventStore, readBatches } from '../services/platform/jetstream-eventstore.js';
import { PROJECTOR_DURABLE, createProjector, openReadModelBuckets } from '../services/projector/projector.js';
import { createLogger } from '../services/platform/log.js';
import { readModelKey } from '../services/platform/readmodels.js';
import { startNats } from '../test/support/servers.js';
import { specOf } from '../test/support/container-gen.js';
import type { BenchResult, Progress } from './types.js';

/** A plausible ten-event life: create, place, run, stop, start again, pause. */
export function history(): ContainerEvent[] {
  return [
    { type: 'ContainerCreateRequested', data: { spec: specOf({ name: 'bench' }), run: true } },
    { type: 'ContainerScheduled', data: { host: 'host-1', claim: { cpu: 1, memoryMiB: 128, diskGb: 0 } } },
    { type: 'ContainerCreated', data: { dockerId: 'd'.repeat(64) } },
    { type: 'ContainerStarted', data: { dockerId: 'd'.repeat(64) } },
    { type: 'ContainerStopRequested', data: { timeout: 10 } },
    { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } },
    { type: 'ContainerStartRequested', data: {} },
    { type: 'ContainerStarted', data: { dockerId: 'd'.repeat(64) } },
    { type: 'ContainerPauseRequested', data: {} },
    { type: 'ContainerPaused', data: {} },
  ];
}

export async function benchReplay({ quick, progress }: { quick: boolean; progress: Progress }): Promise<BenchResult> {
  const containers = quick ? 2_000 : 20_000;
  const perContainer = 10;
  const total = containers * perContainer;
  // The histories, in memory first: the pure and verifying folds are timed
  // before any server runs, so they measure the fold and nothing else.
  const ids = Array.from({ length: containers }, () => randomUUID());
  const shape = history();
  const envelopes: EventEnvelope[] = [];
  // Interleaved by step, so the stream looks like a real cluster's.
  for (let step = 0; step < perContainer; step++) {
    for (const id of ids) {
      envelopes.push(envelope(shape[step]!, { id: randomUUID(), aggregateKind: 'container', aggregateId: id }, {
        projectId: 'bench', userId: 'bench', requestId: `req-${id}`, correlationId: `req-${id}`, causationId: null,
        occurredAt: new Date(Date.UTC(2026, 0, 1) + step * 1000).toISOString(),
      }));
    }
  }
  // In memory, each container's history as a load returns it: its events
  // together, with the stream sequences they will have.
  const inMemory = new Map<string, RecordedEvent<ContainerEvent>[]>();
  ids.forEach((id, c) => {
    inMemory.set(
      id,
      Array.from({ length: perContainer }, (_, step) => {
        const i = step * containers + c;
        return { ...envelopes[i]!, seq: i + 1 } as RecordedEvent<ContainerEvent>;
      }),
    );
  });

  // Pure fold.
  const all = [...inMemory.values()];
  const pure = time(() => {
    let n = 0;
    for (const events of all) {
      let s: ContainerState = initialContainerState(events[0]!.aggregateId);
      for (const e of events) s = evolveContainer(s, e);
      if (s.status !== 'Paused') throw new Error(`fold ended in ${s.status}`);
      n += events.length;
    }
    return n;
  }, 5);
  progress(`pure fold: ${Math.round(pure).toLocaleString()} events/s`);

  // Verifying fold (through the machine), on a sample when the whole is slow.
  const sample = all.slice(0, quick ? 500 : 4_000);
  const verifying = time(() => {
    let n = 0;
    for (const events of sample) {
      const r = verifyContainerFold(events[0]!.aggregateId, events);
      if (r.violations.length) throw new Error(`violations: ${JSON.stringify(r.violations)}`);
      n += events.length;
    }
    return n;
  }, 1);
  progress(`verifying fold: ${Math.round(verifying).toLocaleString()} events/s (${sample.length} containers)`);

  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, {});
    const js = jetstream(nc);

    // Setup (untimed): the same events into a real stream.
    progress(`appending ${total.toLocaleString()} events for ${containers.toLocaleString()} containers`);
    let inflight: Promise<unknown>[] = [];
    for (const e of envelopes) {
      inflight.push(js.publish(aggregateSubject('container', e.aggregateId), encodeEvent(e)));
      if (inflight.length >= 2_000) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);

    // Load-and-fold from JetStream.
    const t0 = performance.now();
    const states = new Map<string, ContainerState>();
    let loaded = 0;
    // readBatches: the replay form of readAll, one await per batch rather than per event.
    for await (const batch of readBatches({ nc })) {
      for (const e of batch) {
        const s = states.get(e.aggregateId) ?? initialContainerState(e.aggregateId);
        states.set(e.aggregateId, evolveContainer(s, e as RecordedEvent<ContainerEvent>));
      }
      loaded += batch.length;
    }
    const loadSecs = (performance.now() - t0) / 1000;
    if (loaded !== total) throw new Error(`read ${loaded} events, expected ${total}`);
    for (const s of states.values()) if (s.status !== 'Paused') throw new Error(`load-and-fold ended in ${s.status}`);
    const loadRate = loaded / loadSecs;
    progress(`load-and-fold: ${Math.round(loadRate).toLocaleString()} events/s`);

    // Projector rebuild: the service's own code, from an empty read model.
    progress(`projector rebuild: ${total.toLocaleString()} events into the read models`);
    const t1 = performance.now();
    const projector = await createProjector({ nc, store: createJetStreamEventStore({ nc }), log: createLogger('projector', 'warn') });
    let rebuildSecs = 0;
    try {
      for (;;) {
        const c = await jsm.consumers.info(STREAM_NAME, PROJECTOR_DURABLE);
        if (c.ack_floor.stream_seq >= total) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      rebuildSecs = (performance.now() - t1) / 1000;
    } finally {
      await projector.stop();
    }
    const { containers: model } = await openReadModelBuckets(nc);
    const sampleState = (await model.get(readModelKey(ids[0]!)))?.json<ContainerState>();
    if (sampleState?.status !== 'Paused' || sampleState.seq !== inMemory.get(ids[0]!)!.at(-1)!.seq) throw new Error(`rebuilt read model: ${JSON.stringify(sampleState)}`);
    const rebuildRate = total / rebuildSecs;
    progress(`projector rebuild: ${Math.round(rebuildRate).toLocaleString()} events/s`);

    return {
      name: 'replay',
      metrics: {
        containers,
        events: total,
        pure_fold_events_per_s: pure,
        verifying_fold_events_per_s: verifying,
        load_and_fold_events_per_s: loadRate,
        load_and_fold_total_s: loadSecs,
        projector_rebuild_events_per_s: rebuildRate,
        projector_rebuild_total_s: rebuildSecs,
      },
      targets: [
        { metric: 'pure_fold_events_per_s', op: '>=', value: 1_000_000 },
        { metric: 'load_and_fold_events_per_s', op: '>=', value: 150_000 },
      ],
      notes:
        'verifying fold measured on a sample of containers; every event goes through XState transition(). ' +
        'projector rebuild: createProjector from an empty read model until its durable consumer has acked the whole stream (checked: a container read model holds the last state).',
    };
  } finally {
    await nc.close();
    await nats.stop();
  }
}

/** Best of `runs` runs of fn, as events per second. */
function time(fn: () => number, runs: number): number {
  let best = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const n = fn();
    best = Math.max(best, n / ((performance.now() - t0) / 1000));
  }
  return best;
}
