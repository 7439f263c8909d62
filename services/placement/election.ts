/**
 * Leader election for placement through etcd (etcd3's Election/Campaign, the
 * Go client's concurrency.Election): one leader per election name; the
 * others wait in line on their own lease.
 *
 * A term begins when the campaign is elected and ends, with its AbortSignal,
 * when the campaign fails (lease lost), when we resign, or when this process
 * has not heard a keepalive answer for a whole TTL: past that point etcd may
 * already have handed the lead to a standby, so the term is given up without
 * waiting for etcd3 to notice (which it does only after 2 x TTL). A new
 * campaign follows after a short pause, until stop().
 *
 * Leadership is an optimisation, not a fence: two terms can overlap for a
 * moment. Safety comes from the fenced ledger append.
 */
import { EventEmitter } from 'node:events';
import type { Campaign, Etcd3 } from 'etcd3';
import type { Logger } from '../platform/log.js';

export interface LeaderTerm {
  /** 1, 2, ... within this process. */
  readonly number: number;
  /** Aborted when the term ends. */
  readonly signal: AbortSignal;
}

export interface Election {
  /** Campaigns until stop(); `onElected` is called at the start of every term. */
  start(onElected: (term: LeaderTerm) => void): void;
  /** Ends the current term and stops campaigning; `resign` lets a standby take over at once. */
  stop(opts?: { resign?: boolean }): Promise<void>;
  isLeader(): boolean;
}

export interface EtcdElectionOptions {
  readonly etcd: Etcd3;
  readonly name: string;
  readonly instanceId: string;
  readonly ttlSeconds: number;
  readonly log: Logger;
  /** Pause before campaigning again after a failed campaign (default 500 ms). */
  readonly retryMs?: number;
  /** Clock for the keepalive watchdog (ms). */
  readonly now?: () => number;
}

/** The campaign's lease, which etcd3 keeps private; read only for its keepalive events. */
function leaseOf(c: Campaign): EventEmitter | null {
  const l = (c as unknown as { lease?: unknown }).lease;
  return l instanceof EventEmitter ? l : null;
}

export function createEtcdElection(o: EtcdElectionOptions): Election {
  const log = o.log.child({ component: 'election', election: o.name, instance: o.instanceId });
  const now = o.now ?? Date.now;
  const election = o.etcd.election(o.name, o.ttlSeconds);
  let campaign: Campaign | null = null;
  let term: { number: number; ctrl: AbortController } | null = null;
  let terms = 0;
  let stopped = true;
  let retryTimer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let lastKeepalive = 0;

  function endTerm(reason: string): void {
    clearInterval(watchdog);
    if (!term) return;
    log.warn({ term: term.number, reason }, 'leadership lost');
    term.ctrl.abort(new Error(`leadership lost: ${reason}`));
    term = null;
  }

  function campaignAgain(onElected: (t: LeaderTerm) => void, delay: number): void {
    clearTimeout(retryTimer);
    if (stopped) return;
    retryTimer = setTimeout(() => run(onElected), delay);
  }

  function run(onElected: (t: LeaderTerm) => void): void {
    if (stopped) return;
    const c = election.campaign(o.instanceId);
    campaign = c;
    lastKeepalive = now();
    leaseOf(c)?.on('keepaliveSucceeded', () => {
      if (campaign === c) lastKeepalive = now();
    });
    c.on('elected', () => {
      if (campaign !== c || stopped) return;
      const ctrl = new AbortController();
      term = { number: ++terms, ctrl };
      lastKeepalive = now();
      log.info({ term: term.number }, 'elected leader');
      // No keepalive answer for a whole TTL: a standby may lead already.
      watchdog = setInterval(() => {
        if (campaign === c && now() - lastKeepalive > o.ttlSeconds * 1000) {
          endTerm('no keepalive answer for a TTL');
          campaign = null;
          c.resign().catch(() => {});
          campaignAgain(onElected, o.retryMs ?? 500);
        }
      }, Math.max(100, (o.ttlSeconds * 1000) / 10));
      watchdog.unref();
      onElected({ number: term.number, signal: ctrl.signal });
    });
    c.on('error', (err: Error) => {
      if (campaign !== c) return;
      log.warn({ err: err.message }, 'campaign failed; campaigning again');
      endTerm(err.message);
      campaign = null;
      c.resign().catch(() => {});
      campaignAgain(onElected, o.retryMs ?? 500);
    });
  }

  return {
    start(onElected) {
      if (!stopped) return;
      stopped = false;
      run(onElected);
    },
    async stop(opts = {}) {
      stopped = true;
      clearTimeout(retryTimer);
      endTerm('stopped');
      const c = campaign;
      campaign = null;
      if (!c) return;
      if (opts.resign ?? true) {
        await c.resign().catch((err: Error) => log.warn({ err: err.message }, 'resign failed; the lease lapses with its TTL'));
      } else {
        // Stop the keepalive without revoking: the lead passes on when the TTL runs out, as on a crash.
        const l = leaseOf(c) as unknown as { release?: () => void } | null;
        l?.release?.();
      }
    },
    isLeader: () => term !== null,
  };
}
