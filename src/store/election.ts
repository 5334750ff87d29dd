// campaignThroughEtcd(client, election, candidate, ttl): a LeaderCampaign over etcd3's Election (a lease-bound
// key per candidate; the oldest key leads). Retries until elected; reports a loss of leadership once.
import type { Campaign, Etcd3 } from "etcd3";
import { realTimers, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import type { LeaderCampaign, TxnCompare } from "./kv.ts";

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

interface LeaseEvents {
  on(event: "keepaliveSucceeded", listener: () => void): unknown;
}

export function campaignThroughEtcd(
  client: Etcd3,
  electionName: string,
  candidate: string,
  ttlSeconds: number,
  timers: Timers = realTimers,
): LeaderCampaign {
  return new EtcdCampaign(client, electionName, candidate, ttlSeconds, timers);
}

class EtcdCampaign implements LeaderCampaign {
  readonly elected: Promise<void>;
  private readonly client: Etcd3;
  private readonly electionName: string;
  private readonly candidate: string;
  private readonly ttlSeconds: number;
  private readonly log = logger("store.election");
  private readonly lostListeners: ((reason: Error) => void)[] = [];
  private resolveElected: () => void = () => {};
  private current: Campaign | undefined;
  private leader = false;
  /** This candidate's election key as it stood when elected; set while leader. */
  private leaderKey: TxnCompare | undefined;
  private finished = false;
  private attempts = 0;
  private retryTimer: { cancel(): void } | undefined;
  private leaseTimer: { cancel(): void } | undefined;
  private lastKeepalive = 0;
  private readonly timers: Timers;

  constructor(client: Etcd3, electionName: string, candidate: string, ttlSeconds: number, timers: Timers) {
    this.timers = timers;
    this.client = client;
    this.electionName = electionName;
    this.candidate = candidate;
    this.ttlSeconds = Math.max(1, Math.round(ttlSeconds));
    this.elected = new Promise((resolve) => {
      this.resolveElected = resolve;
    });
    this.start();
  }

  isLeader(): boolean {
    return this.leader;
  }

  fence(): TxnCompare | undefined {
    return this.leader ? this.leaderKey : undefined;
  }

  onLost(listener: (reason: Error) => void): void {
    this.lostListeners.push(listener);
  }

  async resign(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.leader = false;
    this.leaderKey = undefined;
    this.retryTimer?.cancel();
    this.leaseTimer?.cancel();
    const campaign = this.current;
    this.current = undefined;
    if (campaign !== undefined) await campaign.resign();
  }

  private start(): void {
    if (this.finished) return;
    const campaign = this.client.election(this.electionName, this.ttlSeconds).campaign(this.candidate);
    this.current = campaign;
    this.lastKeepalive = this.timers.now();
    // etcd3 keeps the lease private; its keepalive events let us notice an expired lease before etcd3 does
    // (it waits two TTLs), so a cut-off leader stops writing about when another candidate may take over.
    const lease = (campaign as unknown as { lease?: LeaseEvents }).lease;
    lease?.on("keepaliveSucceeded", () => {
      this.lastKeepalive = this.timers.now();
    });
    campaign.on("elected", () => {
      if (this.current !== campaign || this.finished) return;
      void this.readLeaderKey(campaign).then(
        (leaderKey) => this.becomeLeader(campaign, leaderKey),
        (err: Error) => this.failed(campaign, err),
      );
    });
    campaign.on("error", (err: Error) => this.failed(campaign, err));
  }

  /** The campaign's key and its mod revision, read back after winning (etcd3 keeps its revision private). */
  private async readLeaderKey(campaign: Campaign): Promise<TxnCompare> {
    const key = await campaign.getCampaignKey();
    const response = await this.client.get(key).exec();
    const kv = response.kvs[0];
    if (kv === undefined) throw new Error(`election key ${key} vanished right after winning`);
    return { key, modRevision: Number(kv.mod_revision) };
  }

  private becomeLeader(campaign: Campaign, leaderKey: TxnCompare): void {
    if (this.current !== campaign || this.finished) return;
    this.attempts = 0;
    this.leaderKey = leaderKey;
    this.leader = true;
    this.lastKeepalive = this.timers.now();
    this.log.info({ election: this.electionName, candidate: this.candidate, key: leaderKey.key }, "elected leader");
    this.watchLease(campaign);
    this.resolveElected();
  }

  private watchLease(campaign: Campaign): void {
    const ttlMs = this.ttlSeconds * 1000;
    const check = (): void => {
      this.leaseTimer = undefined;
      if (this.current !== campaign) return;
      const silent = this.timers.now() - this.lastKeepalive;
      if (silent > ttlMs) {
        this.failed(campaign, new Error(`no lease keepalive for ${silent} ms (TTL ${this.ttlSeconds} s)`));
        return;
      }
      this.leaseTimer = this.timers.setTimeout(check, Math.min(1000, ttlMs / 4));
    };
    this.leaseTimer = this.timers.setTimeout(check, Math.min(1000, ttlMs / 4));
  }

  private failed(campaign: Campaign, err: Error): void {
    if (this.current !== campaign || this.finished) return;
    this.current = undefined;
    this.leaseTimer?.cancel();
    campaign.resign().catch(() => undefined);
    if (this.leader) {
      // Leadership lost: this campaign is over; the owner decides whether to campaign again.
      this.leader = false;
      this.leaderKey = undefined;
      this.finished = true;
      this.log.warn({ err, election: this.electionName, candidate: this.candidate }, "leadership lost");
      for (const listener of this.lostListeners) listener(err);
      return;
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempts++);
    this.log.warn({ err, election: this.electionName, retryInMs: delay }, "campaign failed, retrying");
    this.retryTimer = this.timers.setTimeout(() => this.start(), delay);
  }
}
