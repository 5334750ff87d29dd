// Reflector memory caps (issue 10, controller.clusterCaps), through the simulated API server: a member
// cluster that grows past maxObjects or sends an object past maxObjectBytes is degraded
// (fedns_cluster_degraded, its status), what it sent is dropped so the controller never holds more than
// the cap, and its previous good state stays published for the grace period; once it fits it is back.
// A server paging a list past maxListPages (the simulated API server's setListPageLimit) is degraded too.
import { expect } from "chai";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { parseScenario, type SimCluster, type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { createMemoryBackend } from "../../../src/store/memory-kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { waitFor } from "../../support/sim.ts";
import { DOMAIN, eventually, FEDERATION, hostsOf, PREFIX, parseRecords, serviceName } from "./support.ts";

const MAX_OBJECTS = 30;
const SEEDED = 10;

function service(name: string, annotations: Record<string, string> = {}): Parameters<SimCluster["apply"]>[0] {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default", annotations },
    spec: { type: "LoadBalancer", ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: 80 }] },
    status: { loadBalancer: { ingress: [{ ip: "198.51.100.200" }] } },
  };
}

describe("controller: per-cluster caps on what a member's API server may make it hold (simulated API server + etcd)", function () {
  this.timeout(90_000);
  let etcd: EtcdProcess;
  let sim: Simulation;
  let reader: KvBackend;
  let backend: KvBackend;
  let controller: Controller;
  let registry: Registry;

  before(async () => {
    etcd = await startEtcd();
    reader = createEtcdBackend({ endpoints: [etcd.endpoint] });
    backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
    sim = await startSimulation({
      scenario: parseScenario({
        clusters: [
          {
            name: "big",
            nodes: [{ name: "node-a", zone: "us-east-1a", region: "us-east-1" }],
            services: Array.from({ length: SEEDED }, (_, i) => ({
              name: `svc-${i}`,
              ports: [{ name: "http", port: 80 }],
              ingress: [{ ip: `198.51.100.${i + 1}` }],
              // No EndpointSlices (each Service counts alone against its resource's cap), so healthy without.
              annotations: { "fedns.io/require-endpoints": "false" },
            })),
          },
        ],
      }),
    });
    registry = newRegistry();
    controller = await startController({
      federation: FEDERATION,
      domain: DOMAIN,
      prefix: PREFIX,
      backend,
      clusters: [{ name: "big", kubeconfig: sim.kubeconfigPath, context: "big" }],
      batchMs: 20,
      graceMs: 60_000,
      backoff: { initialMs: 50, maxMs: 300 },
      leaderElection: { enabled: false, leaseSeconds: 2 },
      registry,
      clusterCaps: { maxListPages: 100, maxObjects: MAX_OBJECTS, maxObjectBytes: 16 * 1024 },
    });
    await eventually(records, publishedSeeded, "the seeded services published", 30_000);
    expect(await degraded()).to.equal(0);
  });

  after(async () => {
    await controller?.stop();
    await backend?.close();
    await reader?.close();
    await sim?.stop().catch(() => undefined);
    await etcd?.destroy();
  });

  const records = async () => parseRecords((await reader.range(`${PREFIX}/`)).kvs);
  const big = () => controller.status().clusters.find((cluster) => cluster.name === "big")!;
  const degraded = async (): Promise<number | undefined> =>
    (await registry.getSingleMetric("fedns_cluster_degraded")?.get())?.values.find((v) => v.labels.cluster === "big")
      ?.value;
  const publishedSeeded = (rs: Awaited<ReturnType<typeof records>>) =>
    Array.from({ length: SEEDED }, (_, i) => hostsOf(rs, serviceName(`svc-${i}`)).length).every((n) => n === 1);

  it("degrades a cluster whose watch grows past maxObjects, holds no more than the cap, keeps its published state", async () => {
    const cluster = sim.cluster("big");
    for (let i = 0; i < 2 * MAX_OBJECTS; i++) cluster.apply(service(`extra-${i}`));
    await waitFor("big degraded", async () => (await degraded()) === 1, 20_000);
    expect(big().degraded).to.match(/more than 30 objects \(clusterCaps\.maxObjects\)/);
    // Relists keep being refused while it is too big; the controller never holds more than the cap.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(big().services).to.be.at.most(MAX_OBJECTS);
    expect(big().phase).to.equal("unreachable", "counts as failing: within the grace period its state stays");
    await controller.whenIdle();
    expect(publishedSeeded(await records())).to.equal(true);

    for (let i = 0; i < 2 * MAX_OBJECTS; i++) cluster.delete("Service", "default", `extra-${i}`);
    await waitFor("big within its caps again", async () => (await degraded()) === 0, 20_000);
    await waitFor("big active", () => big().phase === "active", 10_000);
    expect(big().degraded).to.equal(undefined);
    expect(big().services).to.equal(SEEDED);
  });

  it("degrades a cluster that sends an object past maxObjectBytes, and does not apply it", async () => {
    const cluster = sim.cluster("big");
    cluster.apply(service("svc-0", { "fedns.io/require-endpoints": "false", padding: "x".repeat(32 * 1024) }));
    await waitFor("big degraded", async () => (await degraded()) === 1, 20_000);
    expect(big().degraded).to.match(/default\/svc-0: larger than 16384 bytes/);
    await controller.whenIdle();
    expect(publishedSeeded(await records())).to.equal(true);
    cluster.apply(service("svc-0", { "fedns.io/require-endpoints": "false" }));
    await waitFor("big within its caps again", async () => (await degraded()) === 0, 20_000);
  });
});

describe("controller: a member API server that pages a list past clusterCaps.maxListPages (simulated API server)", function () {
  this.timeout(60_000);
  const SERVICES = 40;
  let sim: Simulation;
  let controller: Controller;
  let registry: Registry;

  before(async () => {
    sim = await startSimulation({
      scenario: parseScenario({
        clusters: [
          {
            name: "pager",
            nodes: [{ name: "node-a", zone: "us-east-1a", region: "us-east-1" }],
            services: Array.from({ length: SERVICES }, (_, i) => ({
              name: `svc-${i}`,
              ports: [{ name: "http", port: 80 }],
              ingress: [{ ip: "198.51.100.1" }],
            })),
          },
        ],
      }),
    });
    // Two objects per page: the Services list takes 20 pages, past the cap of 5.
    sim.cluster("pager").setListPageLimit(2);
    registry = newRegistry();
    controller = await startController({
      federation: FEDERATION,
      domain: DOMAIN,
      prefix: PREFIX,
      backend: createMemoryBackend(),
      clusters: [{ name: "pager", kubeconfig: sim.kubeconfigPath, context: "pager" }],
      batchMs: 20,
      startupSyncTimeoutMs: 60_000,
      backoff: { initialMs: 50, maxMs: 300 },
      leaderElection: { enabled: false, leaseSeconds: 2 },
      registry,
      clusterCaps: { maxListPages: 5, maxObjects: 1000, maxObjectBytes: 64 * 1024 },
    });
  });

  after(async () => {
    await controller?.stop();
    await sim?.stop().catch(() => undefined);
  });

  const pager = () => controller.status().clusters.find((cluster) => cluster.name === "pager")!;
  const degraded = async (): Promise<number | undefined> =>
    (await registry.getSingleMetric("fedns_cluster_degraded")?.get())?.values.find((v) => v.labels.cluster === "pager")
      ?.value;

  it("is degraded and never synced while its lists take more pages than the cap; syncs once they fit", async () => {
    await waitFor("pager degraded", async () => (await degraded()) === 1, 20_000);
    expect(pager().degraded).to.match(/list services: more than 5 pages \(clusterCaps\.maxListPages\)/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(pager().phase).to.equal("syncing");
    expect(pager().services).to.equal(0);
    // Ten per page: four pages, within the cap (the continue tokens of real paging).
    sim.cluster("pager").setListPageLimit(10);
    await waitFor("pager synced", () => pager().phase === "active", 20_000);
    expect(pager().services).to.equal(SERVICES);
    expect(await degraded()).to.equal(0);
  });
});
