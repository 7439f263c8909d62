/**
 * Records the histories in this directory: `npx tsx test/histories/record.ts [name...]`.
 *
 * For each scenario (scenarios.ts): a throwaway nats-server, the real
 * JetStream event store, the real command path; then `zunctl export`'s
 * exporter writes `<name>.jsonl`, and `<name>.expected.json` keeps what the
 * real store loads at the end (loadContainer / loadCapsule, the ledger) and
 * at each checkpoint. test/property/recorded-histories.test.ts replays them.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { PlacementEvent, RecordedEvent } from '../../events/index.js';
import { foldLedger } from '../../domain/placement.js';
import { connectNats } from '../../services/platform/nats.js';
import { ensureStream } from '../../services/platform/stream.js';
import { createJetStreamEventStore } from '../../services/platform/jetstream-eventstore.js';
import { loadCapsule, loadContainer } from '../../services/platform/commands.js';
import { exportEvents } from '../../services/zunctl/eventlog.js';
import { startNats } from '../support/servers.js';
import { SCENARIOS } from './scenarios.js';

const DIR = import.meta.dirname;

export async function record(name: keyof typeof SCENARIOS): Promise<{ events: number }> {
  const nats = await startNats();
  const nc = await connectNats({ servers: nats.url, name: `record-${name}` });
  try {
    await ensureStream(await jetstreamManager(nc));
    const store = createJetStreamEventStore({ nc });
    const run = await SCENARIOS[name](store);
    const out = createWriteStream(join(DIR, `${name}.jsonl`));
    const exported = await exportEvents({ nc, out });
    out.end();
    await finished(out);
    const containers = Object.fromEntries(await Promise.all(run.containers.map(async (id) => [id, await loadContainer(store, id)] as const)));
    const capsules = Object.fromEntries(await Promise.all(run.capsules.map(async (id) => [id, await loadCapsule(store, id)] as const)));
    const ledger = foldLedger((await store.load('placement', 'default')) as RecordedEvent<PlacementEvent>[]);
    const expected = {
      comment: `Recorded by test/histories/record.ts (scenario "${name}") against a real nats-server; states as loadContainer/loadCapsule returned them.`,
      events: exported.events,
      lastSeq: exported.lastSeq,
      containers,
      capsules,
      ledgers: { default: { seq: ledger.seq, claims: [...ledger.claims.values()].sort((a, b) => a.id.localeCompare(b.id)) } },
      checkpoints: run.checkpoints,
    };
    await writeFile(join(DIR, `${name}.expected.json`), JSON.stringify(expected, null, 1) + '\n');
    return { events: exported.events };
  } finally {
    await nc.close();
    await nats.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = (process.argv.length > 2 ? process.argv.slice(2) : Object.keys(SCENARIOS)) as (keyof typeof SCENARIOS)[];
  for (const name of names) {
    if (!(name in SCENARIOS)) throw new Error(`no scenario ${name}; have ${Object.keys(SCENARIOS).join(', ')}`);
    const t = performance.now();
    const r = await record(name);
    console.log(`${name}: ${r.events} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}
