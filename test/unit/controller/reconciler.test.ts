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

  it("fingerprints no unit in a new term's first pass (nothing applied to compare with), and each from its next plan on", async () => {
    const encoded: string[] = [];
    reconciler = new Reconciler({
      plan,
      units: () => desired.keys(),
      encode: (service) => {
        encoded.push(service.host);
        return JSON.stringify(service);
      },
      writer,
      batchMs: 30,
      timers,
    });
    reconciler.enable();
    await timers.advance(30);
    await reconciler.whenIdle();
    expect(encoded).to.deep.equal([]);
    expect(writer.writes.map((w) => w.unit).sort()).to.deep.equal(["default/a", "default/b"]);
    // Next pass: fingerprinted, compared with nothing, handed to the writer's diff once more; then skipped.
    writer.writes = [];
    reconciler.markDirty("all");
    await timers.advance(30);
    await reconciler.whenIdle();
    expect(encoded.sort()).to.deep.equal(["192.0.2.1", "192.0.2.2"]);
    expect(writer.writes.map((w) => w.unit).sort()).to.deep.equal(["default/a", "default/b"]);
    writer.writes = [];
    reconciler.markDirty("all");
    await timers.advance(30);
    await reconciler.whenIdle();
    expect(writer.writes).to.deep.equal([]);
  });

  describe("memo: a unit whose inputs are unchanged is not planned again", () => {
    let inputs: Map<string, object>;
    const bump = (unit: string) => inputs.set(unit, {});

    beforeEach(() => {
      inputs = new Map([...desired.keys()].map((unit) => [unit, {}]));
      reconciler = new Reconciler({
        plan,
        units: () => desired.keys(),
        signature: (unit) => [inputs.get(unit)],
        writer,
        batchMs: 30,
        timers,
      });
      reconciler.enable();
    });

    const fullPass = async (): Promise<void> => {
      planCalls = [];
      writer.writes = [];
      reconciler.markDirty("all");
      await timers.advance(30);
      await reconciler.whenIdle();
    };

    it("skips units whose signature is the same as when they were written", async () => {
      await timers.advance(30);
      await reconciler.whenIdle();
      expect(writer.writes.map((w) => w.unit).sort()).to.deep.equal(["default/a", "default/b"]);
      await fullPass();
      expect(planCalls).to.deep.equal([]);
      expect(writer.writes).to.deep.equal([]);
    });

    it("replans and writes a unit whose input changed (a stale memo would keep the old records)", async () => {
      await timers.advance(30);
      await reconciler.whenIdle();
      desired.set("default/a", new Map([["/skydns/a/2", record("192.0.2.9")]]));
      bump("default/a");
      await fullPass();
      expect(planCalls).to.deep.equal([["default/a"]]);
      expect(writer.writes).to.deep.equal([{ unit: "default/a", keys: ["/skydns/a/2"] }]);
      // The same change marked incrementally, and a change that leaves the records as they are.
      desired.set("default/b", new Map([["/skydns/b/3", record("192.0.2.3")]]));
      bump("default/b");
      planCalls = [];
      writer.writes = [];
      reconciler.markDirty(["default/b"]);
      await timers.advance(30);
      await reconciler.whenIdle();
      expect(writer.writes).to.deep.equal([{ unit: "default/b", keys: ["/skydns/b/3"] }]);
      bump("default/a");
      await fullPass();
      expect(planCalls).to.deep.equal([["default/a"]]);
      expect(writer.writes).to.deep.equal([]);
      await fullPass();
      expect(planCalls).to.deep.equal([]);
    });

    it("forgets everything on a new term of leadership and after drift", async () => {
      await timers.advance(30);
      await reconciler.whenIdle();
      reconciler.disable();
      planCalls = [];
      reconciler.enable();
      await timers.advance(30);
      await reconciler.whenIdle();
      expect(planCalls.flat().sort()).to.deep.equal(["default/a", "default/b"]);
      planCalls = [];
      reconciler.invalidate(["default/b"]);
      await timers.advance(30);
      await reconciler.whenIdle();
      expect(planCalls).to.deep.equal([["default/b"]]);
    });

    it("keeps reporting a skipped unit's warnings in full passes", async () => {
      const warned: string[] = [];
      const registryless = new Reconciler({
        plan: (only) => {
          const result = plan(only);
          if (only?.has("default/a")) result.warnings.push({ kind: "bad-ttl", service: "default/a", message: "x" });
          return result;
        },
        units: () => desired.keys(),
        signature: (unit) => [inputs.get(unit)],
        writer,
        batchMs: 30,
        timers,
      });
      const report = Reflect.get(registryless, "report") as (w: { message: string }[], full: boolean) => void;
      Reflect.set(registryless, "report", (warnings: { message: string }[], full: boolean) => {
        warned.push(`${full}:${warnings.length}`);
        report.call(registryless, warnings, full);
      });
      registryless.enable();
      await timers.advance(30);
      await registryless.whenIdle();
      registryless.markDirty("all");
      await timers.advance(30);
      await registryless.whenIdle();
      expect(warned).to.deep.equal(["true:1", "true:1"]);
    });
  });

  describe("turn budget", () => {
    /** A work clock that the plan and the writer advance, as if each call cost `cost` ms of CPU. */
    let workNow: number;
    let turns: number;
    let stopTicking = false;
    const tick = (): void => {
      turns += 1;
      if (!stopTicking) setImmediate(tick);
    };

    beforeEach(() => {
      workNow = 0;
      turns = 0;
      stopTicking = false;
      setImmediate(tick);
      for (let i = 0; i < 400; i++) desired.set(`ns/s${i}`, new Map([[`/skydns/s${i}/1`, record("192.0.2.5")]]));
    });
    afterEach(() => {
      stopTicking = true;
    });

    it("yields whenever a turn has used its budget, while planning and while diffing units already in place", async () => {
      const turnsAtPlan: number[] = [];
      const costly = (only: ReadonlySet<string> | undefined): Plan => {
        workNow += 10;
        turnsAtPlan.push(turns);
        return plan(only);
      };
      const turnsAtWrite: number[] = [];
      const inPlace = Object.create(writer) as FakeWriter;
      // Nothing to write (a restarted leader): each diff costs 1 ms and no I/O.
      inPlace.writeUnit = async () => {
        workNow += 1;
        turnsAtWrite.push(turns);
        return { puts: 0, deletes: 0 };
      };
      reconciler = new Reconciler({
        plan: costly,
        units: () => desired.keys(),
        writer: inPlace,
        batchMs: 30,
        timers,
        sliceUnits: 10,
        turnBudgetMs: 20,
        workClock: () => workNow,
      });
      reconciler.enable();
      await timers.advance(30);
      await reconciler.whenIdle();
      expect(turnsAtPlan).to.have.length(41);
      const perTurn = (at: number[]) =>
        Math.max(...[...new Set(at)].map((turn) => at.filter((t) => t === turn).length));
      // At most 2 plan calls (20 ms) per turn of the event loop; diffs: the budget (20), plus at most one more
      // for each of the 16 concurrent writers that passed the check before the turn ended.
      expect(perTurn(turnsAtPlan)).to.be.at.most(2);
      expect(turnsAtWrite).to.have.length(402);
      expect(perTurn(turnsAtWrite)).to.be.within(20, 36);
    });
  });
});
