import { expect } from "chai";
import { ClusterLifecycle, type ClusterPhase } from "../../../src/controller/lifecycle.ts";
import { FakeTimers } from "../../support/fake-timers.ts";

describe("ClusterLifecycle", () => {
  let timers: FakeTimers;
  let changes: ClusterPhase[];
  let lifecycle: ClusterLifecycle;

  beforeEach(() => {
    timers = new FakeTimers();
    changes = [];
    lifecycle = new ClusterLifecycle({ graceMs: 60_000, timers, onPhaseChange: (phase) => changes.push(phase) });
  });

  it("is left out of the plan until synced", () => {
    expect(lifecycle.phase).to.equal("syncing");
    expect(lifecycle.status).to.equal(undefined);
    lifecycle.contactFailed();
    expect(lifecycle.phase).to.equal("syncing");
    lifecycle.contactOk();
    lifecycle.synced();
    expect(lifecycle.phase).to.equal("active");
    expect(lifecycle.status).to.equal("active");
  });

  it("keeps an unreachable cluster active through the grace period, then makes it stale", async () => {
    lifecycle.synced();
    lifecycle.contactFailed();
    expect(lifecycle.phase).to.equal("unreachable");
    expect(lifecycle.status).to.equal("active");
    await timers.advance(59_999);
    expect(lifecycle.phase).to.equal("unreachable");
    lifecycle.contactFailed();
    await timers.advance(1);
    expect(lifecycle.phase).to.equal("stale");
    expect(lifecycle.status).to.equal("stale");
    expect(changes).to.deep.equal(["active", "unreachable", "stale"]);
  });

  it("makes an unreachable cluster stale even when its grace timer fires before the clock says the period is over", async () => {
    // As Node's timers do after a long turn: they run on the loop's cached time, behind Date.now().
    class EarlyTimers extends FakeTimers {
      override setTimeout(callback: () => void, ms: number): { cancel(): void } {
        return super.setTimeout(callback, Math.max(1, ms - 5));
      }
    }
    const early = new EarlyTimers();
    const seen: ClusterPhase[] = [];
    const cluster = new ClusterLifecycle({
      graceMs: 60_000,
      timers: early,
      onPhaseChange: (phase) => seen.push(phase),
    });
    cluster.synced();
    cluster.contactFailed();
    await early.advance(59_999);
    expect(cluster.phase).to.equal("unreachable");
    await early.advance(1);
    expect(cluster.phase).to.equal("stale");
    expect(seen).to.deep.equal(["active", "unreachable", "stale"]);
  });

  it("returns to active without a resync when contact comes back within grace", async () => {
    lifecycle.synced();
    lifecycle.contactFailed();
    await timers.advance(30_000);
    expect(lifecycle.contactOk()).to.equal("recovered");
    expect(lifecycle.phase).to.equal("active");
    await timers.advance(60_000);
    expect(lifecycle.phase).to.equal("active");
  });

  it("asks for a complete resync after being stale, and counts again only once synced", async () => {
    lifecycle.synced();
    lifecycle.contactFailed();
    await timers.advance(60_000);
    expect(lifecycle.contactOk()).to.equal("resync");
    expect(lifecycle.phase).to.equal("resyncing");
    expect(lifecycle.status).to.equal("stale");
    lifecycle.contactFailed();
    expect(lifecycle.phase).to.equal("stale");
    expect(lifecycle.contactOk()).to.equal("resync");
    lifecycle.synced();
    expect(lifecycle.phase).to.equal("active");
    expect(lifecycle.contactOk()).to.equal("ok");
  });
});
