import { expect } from "chai";
import { Leadership } from "../../../src/controller/leadership.ts";
import type { KvBackend, LeaderCampaign, TxnCompare } from "../../../src/store/kv.ts";
import { flush } from "../../support/fake-timers.ts";

/** A campaign the test elects, deposes and watches resign. */
class FakeCampaign implements LeaderCampaign {
  readonly elected: Promise<void>;
  resigned = 0;
  leading = false;
  private elect: () => void = () => {};
  private lost: ((reason: Error) => void)[] = [];

  readonly key: string;

  constructor(key: string) {
    this.key = key;
    this.elected = new Promise((resolve) => {
      this.elect = resolve;
    });
  }

  win(): void {
    this.leading = true;
    this.elect();
  }

  lose(reason: Error): void {
    this.leading = false;
    for (const listener of this.lost) listener(reason);
  }

  isLeader(): boolean {
    return this.leading;
  }

  onLost(listener: (reason: Error) => void): void {
    this.lost.push(listener);
  }

  fence(): TxnCompare | undefined {
    return this.leading ? { key: this.key, modRevision: 1 } : undefined;
  }

  async resign(): Promise<void> {
    this.resigned += 1;
    this.leading = false;
  }
}

describe("Leadership", () => {
  let campaigns: FakeCampaign[];
  let changes: boolean[];
  const backend = {
    campaign: (_election: string, candidate: string) => {
      const campaign = new FakeCampaign(`${candidate}-${campaigns.length}`);
      campaigns.push(campaign);
      return campaign;
    },
  } as unknown as KvBackend;
  const leadership = (enabled: boolean) =>
    new Leadership({
      backend,
      federation: "myfed",
      candidate: "c1",
      election: { enabled, leaseSeconds: 10 },
      onChange: (leader) => changes.push(leader),
    });

  beforeEach(() => {
    campaigns = [];
    changes = [];
  });

  it("without election leads at once and never campaigns", async () => {
    const single = leadership(false);
    single.start();
    expect(single.isLeader).to.equal(true);
    expect(single.fence()).to.equal(undefined);
    await single.stop();
    expect(changes).to.deep.equal([true, false]);
    expect(campaigns).to.have.length(0);
  });

  it("leads once elected, fences with the campaign's key, and campaigns again after losing the lease", async () => {
    const elected = leadership(true);
    elected.start();
    await flush();
    expect(elected.isLeader).to.equal(false);
    campaigns[0]!.win();
    await flush();
    expect(elected.isLeader).to.equal(true);
    expect(elected.fence()?.key).to.equal("c1-0");
    campaigns[0]!.lose(new Error("lease expired"));
    await flush();
    expect(elected.isLeader).to.equal(false);
    expect(campaigns[0]!.resigned).to.equal(1);
    expect(campaigns).to.have.length(2);
    campaigns[1]!.win();
    await flush();
    expect(changes).to.deep.equal([true, false, true]);
    await elected.stop();
    expect(campaigns[1]!.resigned).to.equal(1);
    expect(changes).to.deep.equal([true, false, true, false]);
  });

  it("ends the term when a write was fenced out (deposed), and resigns on stop without waiting for election", async () => {
    const deposed = leadership(true);
    deposed.start();
    campaigns[0]!.win();
    await flush();
    deposed.depose(new Error("the leader key is held by another candidate"));
    await flush();
    expect(deposed.isLeader).to.equal(false);
    expect(campaigns).to.have.length(2);
    // Stopped while campaigning: resigns the pending campaign and returns.
    await deposed.stop();
    expect(campaigns[1]!.resigned).to.equal(1);
    expect(changes).to.deep.equal([true, false]);
  });
});
