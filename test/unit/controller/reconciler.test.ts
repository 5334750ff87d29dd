import { expect } from "chai";
import { Reconciler, type UnitWriter } from "../../../src/controller/reconciler.ts";
import type { HeldUnit, Plan } from "../../../src/federation/state.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import { NotLeaderError } from "../../../src/store/writer.ts";
import { FakeTimers, flush } from "../../support/fake-timers.ts";

class FakeWriter implements UnitWriter {
  loads = 0;
  owned: string[] = [];
  writes: { unit: string; keys: string[] }[] = [];
  failNext = 0;
  notLeader = false;
  /** Units whose every write fails (a rejected txn). */
  failing = new Set<string>();
  attempts: string[] = [];

  async ready(): Promise<void> {
    this.loads += 1;
  }

  ownedUnits(): string[] {
    return this.owned;
  }

  async writeUnit(
    unit: string,
    desired: ReadonlyMap<string, SkydnsService>,
  ): Promise<{ puts: number; deletes: number }> {
    this.attempts.push(unit);
    if (this.notLeader) throw new NotLeaderError("the leader key is held by another candidate");
    if (this.failing.has(unit)) throw new Error("etcdserver: request is too large");
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("etcd unavailable");
    }
    this.writes.push({ unit, keys: [...desired.keys()] });
    return { puts: desired.size, deletes: desired.size === 0 ? 1 : 0 };
  }
}

function record(host: string): SkydnsService {
  return { host, ttl: 30, owner: "fedns/f" };
}

describe("Reconciler", () => {
  let timers: FakeTimers;
  let writer: FakeWriter;
  let desired: Map<string, Map<string, SkydnsService>>;
  let planCalls: (string[] | "all")[];
  let held: Map<string, HeldUnit>;
  let reconciler: Reconciler;

  const plan = (only: ReadonlySet<string> | undefined): Plan => {
    planCalls.push(only === undefined ? "all" : [...only].sort());
    const services = new Map<string, Map<string, SkydnsService>>();
    for (const [service, records] of desired) {
      if (only === undefined || only.has(service)) services.set(service, records);
    }
    const heldHere = new Map([...held].filter(([unit]) => only === undefined || only.has(unit)));
    return { services, held: heldHere, warnings: [] };
  };

  beforeEach(() => {
    timers = new FakeTimers();
    writer = new FakeWriter();
    planCalls = [];
    held = new Map();
    desired = new Map([
      ["default/a", new Map([["/skydns/a/1", record("192.0.2.1")]])],
      ["default/b", new Map([["/skydns/b/1", record("192.0.2.2")]])],
    ]);
    reconciler = new Reconciler({ plan, writer, batchMs: 30, timers });
  });

  it("does nothing until enabled, then runs one full reconcile on the loaded view that removes owned leftovers", async () => {
    reconciler.markDirty(["default/a"]);
    await timers.advance(1000);
    expect(planCalls).to.deep.equal([]);
    writer.owned = ["default/a", "default/gone"];
    reconciler.enable();
    await timers.advance(30);
    expect(writer.loads).to.equal(1);
    expect(planCalls).to.deep.equal(["all"]);
    expect(writer.writes.map((w) => w.unit).sort()).to.deep.equal(["default/a", "default/b", "default/gone"]);
    expect(writer.writes.find((w) => w.unit === "default/gone")?.keys).to.deep.equal([]);
  });

  it("reports a write refused for lack of leadership instead of retrying it", async () => {
    const refused: Error[] = [];
    reconciler = new Reconciler({ plan, writer, batchMs: 30, timers, onNotLeader: (err) => refused.push(err) });
    writer.notLeader = true;
    reconciler.enable();
    await timers.advance(30);
    expect(refused.map((err) => err.name)).to.include("NotLeaderError");
    expect(writer.writes).to.deep.equal([]);
  });

  describe("with units plan() holds (clusters not synced, federation/grace.ts)", () => {
    beforeEach(() => {
      // The store holds a (also desired) and solo (a service only the unsynced cluster has).
      writer.owned = ["default/a", "default/solo"];
      held.set("default/a", { reason: "syncing", clusters: ["x"] });
      held.set("default/solo", { reason: "last-addresses", clusters: ["x"] });
      desired.delete("default/a");
    });

    it("neither writes nor deletes a held unit, even in the clean-up of owned leftovers", async () => {
      reconciler.enable();
      await timers.advance(30);
      expect(writer.writes.map((w) => w.unit)).to.deep.equal(["default/b"]);
      expect(reconciler.lastStats?.held).to.equal(2);
    });

    it("writes what was held once the plan no longer holds it", async () => {
      reconciler.enable();
      await timers.advance(30);
      writer.writes = [];
      held.clear();
      desired.set("default/a", new Map([["/skydns/a/y", record("192.0.2.1")]]));
      reconciler.markDirty("all");
      await timers.advance(30);
      expect(writer.writes.map((w) => w.unit).sort()).to.deep.equal(["default/a", "default/solo"]);
      expect(writer.writes.find((w) => w.unit === "default/solo")?.keys).to.deep.equal([]);
    });
  });

  it("batches events within the batching delay into one incremental reconcile", async () => {
    reconciler.enable();
    await timers.advance(30);
    writer.writes = [];
    planCalls = [];
    desired.set("default/a", new Map([["/skydns/a/2", record("192.0.2.9")]]));
    reconciler.markDirty(["default/a"]);
    await timers.advance(10);
    reconciler.markDirty(["default/b"]);
    await timers.advance(10);
    expect(planCalls).to.deep.equal([]);
    await timers.advance(10);
    expect(planCalls).to.deep.equal([["default/a", "default/b"]]);
    // b did not change: only a is written.
    expect(writer.writes).to.deep.equal([{ unit: "default/a", keys: ["/skydns/a/2"] }]);
  });

  it("skips services whose desired records did not change, and deletes services that left the plan", async () => {
    reconciler.enable();
    await timers.advance(30);
    writer.writes = [];
    reconciler.markDirty("all");
    await timers.advance(30);
    expect(writer.writes).to.deep.equal([]);
    desired.delete("default/b");
    reconciler.markDirty("all");
    await timers.advance(30);
    expect(writer.writes).to.deep.equal([{ unit: "default/b", keys: [] }]);
  });

  it("deletes a dirty service that is absent from an incremental plan", async () => {
    reconciler.enable();
    await timers.advance(30);
    writer.writes = [];
    desired.delete("default/a");
    reconciler.markDirty(["default/a"]);
    await timers.advance(30);
    expect(writer.writes).to.deep.equal([{ unit: "default/a", keys: [] }]);
  });

  it("retries a failed write later", async () => {
    reconciler.enable();
    await timers.advance(30);
    writer.writes = [];
    desired.set("default/a", new Map([["/skydns/a/3", record("192.0.2.3")]]));
    writer.failNext = 1;
    reconciler.markDirty(["default/a"]);
    await timers.advance(30);
    expect(writer.writes).to.deep.equal([]);
    await timers.advance(1000);
    expect(writer.writes).to.deep.equal([{ unit: "default/a", keys: ["/skydns/a/3"] }]);
  });

  it("stops writing when disabled and resolves whenIdle", async () => {
    reconciler.enable();
    await timers.advance(30);
    reconciler.disable();
    writer.writes = [];
    desired.set("default/a", new Map());
    reconciler.markDirty(["default/a"]);
    await timers.advance(1000);
    await flush();
    expect(writer.writes).to.deep.equal([]);
    await reconciler.whenIdle();
  });

  it("backs a persistently failing unit off alone: another unit's change is written within the batching delay", async () => {
    reconciler = new Reconciler({ plan, writer, batchMs: 30, timers, retry: { initialMs: 500, maxMs: 8000 } });
    reconciler.enable();
    await timers.advance(30);
    writer.failing.add("default/a");
    desired.set("default/a", new Map([["/skydns/a/9", record("192.0.2.99")]]));
    reconciler.markDirty(["default/a"]);
    await timers.advance(30);
    // Let a fail several times; its retries space out (500, 1000, 2000, 4000, then the 8 s cap, with jitter).
    await timers.advance(20_000);
    const failures = writer.attempts.filter((unit) => unit === "default/a").length;
    expect(failures).to.be.within(4, 7);
    writer.writes = [];
    desired.set("default/b", new Map([["/skydns/b/2", record("192.0.2.22")]]));
    reconciler.markDirty(["default/b"]);
    await timers.advance(30);
    expect(writer.writes).to.deep.equal([{ unit: "default/b", keys: ["/skydns/b/2"] }]);
    // Once a's writes work again it is written at its next retry and its backoff is forgotten.
    writer.failing.clear();
    await timers.advance(8000 * 1.2);
    expect(writer.writes.map((w) => w.unit)).to.include("default/a");
  });

  it("plans a full reconcile in slices of a bounded number of units, yielding in between", async () => {
    for (let i = 0; i < 1000; i++) desired.set(`ns/s${i}`, new Map([[`/skydns/s${i}/1`, record("192.0.2.5")]]));
    const slices: number[] = [];
    reconciler = new Reconciler({
      plan,
      units: () => desired.keys(),
      writer,
      batchMs: 30,
      timers,
      sliceUnits: 100,
      onSlice: (units) => slices.push(units),
    });
    reconciler.enable();
    await timers.advance(30);
    await reconciler.whenIdle();
    expect(Math.max(...slices)).to.equal(100);
    expect(slices.reduce((a, b) => a + b, 0)).to.equal(1002);
    expect(planCalls.every((call) => call !== "all" && call.length <= 100)).to.equal(true);
    expect(new Set(writer.writes.map((w) => w.unit)).size).to.equal(1002);
  });
});
