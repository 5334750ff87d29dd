// A member cluster that never syncs (down since before the controller started, or a standby that
// never reached it): what the store holds of it is left alone within the grace period, then
// withdrawn, except where it holds the last addresses of a service (SPEC §5).
import { KubeConfig } from "@kubernetes/client-node";
import { expect } from "chai";
import type { StoreWriter } from "../../../src/controller/controller.ts";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import { type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { createMemoryBackend } from "../../../src/store/memory-kv.ts";
import { FakeTimers } from "../../support/fake-timers.ts";
import { scenario } from "./support.ts";

/** Records of cluster "east-b" from an earlier run: web (which east-a also has) and solo (only east-b). */
const STORED = new Map<string, Map<string, SkydnsService>>([
  [
    "default/web",
    new Map([["/skydns/com/example/svc/myfed/default/web/east-b-1", { host: "198.51.100.2", cluster: "east-b" }]]),
  ],
  [
    "default/solo",
    new Map([["/skydns/com/example/svc/myfed/default/solo/east-b-1", { host: "198.51.100.9", cluster: "east-b" }]]),
  ],
]);

class RecordingWriter implements StoreWriter {
  written = new Map<string, string[]>();
  async ready(): Promise<void> {}
  ownedUnits(): string[] {
    return [...STORED.keys()];
  }
  storedClusters(unit: string): Set<string | undefined> {
    return new Set([...(STORED.get(unit)?.values() ?? [])].map((record) => record.cluster));
  }
  async writeUnit(
    unit: string,
    desired: ReadonlyMap<string, SkydnsService>,
  ): Promise<{ puts: number; deletes: number }> {
    // The clusters whose addresses the unit's records carry (CNAME and SRV records carry none).
    const clusters = [...desired.values()].flatMap((record) => (record.cluster === undefined ? [] : [record.cluster]));
    this.written.set(unit, [...new Set(clusters)].sort());
    return { puts: desired.size, deletes: 0 };
  }
}

describe("controller with a member cluster that never syncs", function () {
  this.timeout(30_000);
  let sim: Simulation;
  let controller: Controller | undefined;

  before(async () => {
    sim = await startSimulation({ scenario: scenario() });
  });
  after(async () => {
    await controller?.stop();
    await sim?.stop();
  });

  it("holds its records for the grace period, then withdraws them except the last addresses", async () => {
    const unreachable = new KubeConfig();
    unreachable.loadFromOptions({
      clusters: [{ name: "gone", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "gone", cluster: "gone", user: "u" }],
      currentContext: "gone",
    });
    const writer = new RecordingWriter();
    const timers = new FakeTimers();
    controller = await startController({
      federation: "myfed",
      domain: "example.com",
      backend: createMemoryBackend(),
      writer,
      clusters: [
        { name: "east-a", kubeconfig: sim.kubeconfigPath, context: "east-a" },
        { name: "east-b", kubeConfig: unreachable },
      ],
      startupSyncTimeoutMs: 300,
      graceMs: 2000,
      batchMs: 10,
      backoff: { initialMs: 50, maxMs: 200 },
      leaderElection: { enabled: false, leaseSeconds: 2 },
      lookup: async () => ({ addresses: [] }),
      // Every timer of the controller on a fake clock: the grace period passes when the test says so.
      timers,
    });
    // east-a syncs through real I/O; the clock stands still meanwhile.
    const deadline = Date.now() + 10_000;
    while (controller.status().clusters.find((c) => c.name === "east-a")?.phase !== "active") {
      if (Date.now() > deadline) throw new Error("east-a did not sync");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The start-up deadline passes without east-b; the first reconcile runs after the batching delay.
    await timers.advance(300);
    await timers.advance(10);
    await controller.whenIdle();
    // Within the grace period: east-a's services are written, nothing that holds east-b records is.
    expect(writer.written.has("default/dual")).to.equal(true);
    expect(writer.written.has("default/web")).to.equal(false);
    expect(writer.written.has("default/solo")).to.equal(false);

    await timers.advance(1600);
    await controller.whenIdle();
    expect(writer.written.has("default/web")).to.equal(false);
    // The grace period (2 s from the start) ends: the controller plans again at that moment (plan.recheckAt).
    await timers.advance(100);
    await timers.advance(10);
    await controller.whenIdle();
    // Past it: web is rewritten from east-a alone; solo keeps east-b's address, its last one.
    expect(writer.written.get("default/web")).to.deep.equal(["east-a"]);
    expect(writer.written.has("default/solo")).to.equal(false);
  });
});
