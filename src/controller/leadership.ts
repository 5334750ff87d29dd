// Leadership: one replica of a federation writes. Campaigns through the backend's election until stopped;
// while elected the controller writes, on loss (lease gone, or a write fenced out by another leader) it stops
// writing and campaigns again. Without election (single replica) it leads at once.
import { electionOf } from "../federation/keys.ts";
import { logger } from "../obs/log.ts";
import type { KvBackend, LeaderCampaign, TxnCompare } from "../store/kv.ts";

export interface LeadershipOptions {
  backend: KvBackend;
  federation: string;
  /** This replica's name in the election. */
  candidate: string;
  /** Election through the backend (default on, 10 s lease); off: this replica leads at once. */
  election: { enabled: boolean; leaseSeconds: number };
  /** Called on every change: true when this replica starts leading, false when it stops. */
  onChange(leader: boolean): void;
}

export class Leadership {
  private readonly options: LeadershipOptions;
  private readonly log = logger("controller");
  private leader = false;
  private campaign: LeaderCampaign | undefined;
  /** Ends the current term early: etcd refused a write because another candidate holds the leader key. */
  private deposed: ((reason: Error) => void) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private signalStopped: () => void = () => {};
  private readonly stoppedSignal = new Promise<void>((resolve) => {
    this.signalStopped = resolve;
  });

  constructor(options: LeadershipOptions) {
    this.options = options;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** The compare every write carries while leading (a deposed leader's writes fail in etcd). */
  fence(): TxnCompare | undefined {
    return this.campaign?.fence();
  }

  start(): void {
    if (this.options.election.enabled) this.loop = this.lead(this.options.election.leaseSeconds);
    else this.set(true);
  }

  /** A write was fenced out: another candidate leads. Ends this term (campaigning again). */
  depose(reason: Error): void {
    this.deposed?.(reason);
  }

  /** Resigns at once (a standby takes over without waiting for the lease), then stops campaigning. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.signalStopped();
    await this.campaign?.resign().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, "resigning leadership failed");
    });
    this.campaign = undefined;
    this.set(false);
    await this.loop;
  }

  private set(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.options.onChange(leader);
  }

  /** Campaigns until stopped; while elected, leads; on loss, stops leading and campaigns again. */
  private async lead(leaseSeconds: number): Promise<void> {
    const electionName = electionOf(this.options.federation);
    while (!this.stopped) {
      const campaign = this.options.backend.campaign(electionName, this.options.candidate, leaseSeconds);
      this.campaign = campaign;
      const lost = new Promise<Error>((resolve) => campaign.onLost(resolve));
      await Promise.race([campaign.elected, this.stoppedSignal]);
      if (this.stopped) break;
      this.set(true);
      const deposed = new Promise<Error>((resolve) => {
        this.deposed = resolve;
      });
      const reason = await Promise.race([lost, deposed, this.stoppedSignal]);
      this.deposed = undefined;
      this.set(false);
      if (this.stopped || reason === undefined) break;
      this.log.warn({ err: reason.message }, "leadership lost: stopped writing; campaigning again");
      await campaign.resign().catch(() => undefined);
    }
  }
}
