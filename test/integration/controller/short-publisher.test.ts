// The controller's short-name half on a real etcd: simulated member clusters (real HTTPS list/watch), the
// controller in-process with short names on. What it publishes under /fedns-short/<F>/ is read back with a
// plain range (as etcdctl would): client networks per cluster (config, node addresses, pod CIDRs, with the
// node's zone and region), healthy shards' ClusterIPs; each change follows the clusters, and keys changed by
// somebody else are repaired.
import { expect } from "chai";
import type { MemberCluster } from "../../../src/config/members.ts";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { DOMAIN, eventually, FEDERATION, OWNER, PREFIX, scenario } from "./support.ts";

const SHORT = "/fedns-short";
const BASE = `${SHORT}/${FEDERATION}/`;

type Stored = Record<string, Record<string, unknown>>;

describe("controller: short-name keys (simulated clusters + etcd)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let sim: Simulation;
  let reader: KvBackend;
  let backend: KvBackend;
  let controller: Controller;

  const stored = async (): Promise<Stored> => {
    const out: Stored = {};
    for (const kv of (await reader.range(BASE)).kvs) {
      out[kv.key.slice(BASE.length)] = JSON.parse(kv.value) as Record<string, unknown>;
    }
    return out;
  };
  const until = (check: (all: Stored) => boolean, what: string) => eventually(stored, check, what);

  before(async () => {
    etcd = await startEtcd();
    reader = createEtcdBackend({ endpoints: [etcd.endpoint] });
    backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
    sim = await startSimulation({ scenario: scenario(), bookmarkIntervalMs: 500 });
    // Loopback node addresses and a pod CIDR inside 127.0.0.0/8, as the DNS tests use them.
    sim.cluster("east-a").patch("Node", undefined, "node-a", {
      spec: { podCIDR: "127.1.0.0/24", podCIDRs: ["127.1.0.0/24"] },
    });
    sim.cluster("east-a").patchStatus("Node", undefined, "node-a", {
      addresses: [{ type: "InternalIP", address: "127.0.1.10" }],
    });
    const members: MemberCluster[] = sim.clusters.map((cluster) => ({
      name: cluster.name,
      kubeconfig: sim.kubeconfigPath,
      context: cluster.name,
      ...(cluster.name === "west-a" ? { clientNetworks: ["127.0.3.0/24"] } : {}),
    }));
    controller = await startController({
      federation: FEDERATION,
      domain: DOMAIN,
      prefix: PREFIX,
      backend,
      clusters: members,
      graceMs: 1500,
      batchMs: 20,
      probeIntervalMs: 200,
      backoff: { initialMs: 50, maxMs: 300 },
      leaderElection: { enabled: false, leaseSeconds: 2 },
      registry: newRegistry(),
      resyncMs: 500,
      shortNames: { prefix: SHORT },
    });
  });

  after(async () => {
    await controller?.stop();
    await backend?.close();
    await reader?.close();
    await sim?.stop().catch(() => undefined);
    await etcd?.destroy();
  });

  it("publishes each cluster's client networks and its healthy shards' ClusterIPs, with owner and cluster", async () => {
    const all = await until(
      (all) => all["clients/east-a/127.0.1.10_32"] !== undefined && all["services/east-a/default/web"] !== undefined,
      "east-a's networks and web",
    );
    expect(all["clients/east-a/127.0.1.10_32"]).to.deep.equal({
      network: "127.0.1.10/32",
      source: "node",
      zone: "us-east-1a",
      region: "us-east-1",
      owner: OWNER,
      cluster: "east-a",
    });
    expect(all["clients/east-a/127.1.0.0_24"]).to.include({ source: "pod", zone: "us-east-1a", cluster: "east-a" });
    expect(all["clients/west-a/127.0.3.0_24"]).to.include({
      source: "config",
      zone: "us-west-2a",
      region: "us-west-2",
    });
    const spec = sim.cluster("east-a").get("Service", "default", "web")?.spec as { clusterIP?: string } | undefined;
    const clusterIP = spec?.clusterIP;
    expect(all["services/east-a/default/web"]).to.deep.equal({
      addresses: [clusterIP],
      ports: [{ name: "http", protocol: "tcp", port: 80 }],
      owner: OWNER,
      cluster: "east-a",
    });
    for (const value of Object.values(all)) expect(value.owner).to.equal(OWNER);
  });

  it("follows a node's addresses, its zone label, and a shard's health", async () => {
    const east = sim.cluster("east-a");
    east.patch("Node", undefined, "node-a", { metadata: { labels: { "topology.kubernetes.io/zone": "us-east-1b" } } });
    east.patchStatus("Node", undefined, "node-a", { addresses: [{ type: "InternalIP", address: "127.0.1.11" }] });
    await until(
      (all) =>
        all["clients/east-a/127.0.1.10_32"] === undefined &&
        all["clients/east-a/127.0.1.11_32"]?.zone === "us-east-1b" &&
        all["clients/east-a/127.1.0.0_24"]?.zone === "us-east-1b",
      "the node's new address and zone",
    );
    east.patch("EndpointSlice", "default", "web-ipv4", {
      endpoints: [{ addresses: ["10.1.0.1"], conditions: { ready: false }, nodeName: "node-a" }],
    });
    await until((all) => all["services/east-a/default/web"] === undefined, "web withdrawn from east-a");
    east.patch("EndpointSlice", "default", "web-ipv4", {
      endpoints: [{ addresses: ["10.1.0.1"], conditions: { ready: true }, nodeName: "node-a" }],
    });
    east.patch("Node", undefined, "node-a", { metadata: { labels: { "topology.kubernetes.io/zone": "us-east-1a" } } });
    await until(
      (all) =>
        all["services/east-a/default/web"] !== undefined && all["clients/east-a/127.0.1.11_32"]?.zone === "us-east-1a",
      "web back in east-a, node back in us-east-1a",
    );
  });

  it("repairs keys changed by somebody else and leaves foreign keys alone", async () => {
    await until((all) => all["services/east-a/default/web"] !== undefined, "web in east-a");
    await reader.txn(
      [],
      [
        { type: "delete", key: `${BASE}services/east-a/default/web` },
        {
          type: "put",
          key: `${BASE}clients/east-b/127.9.9.9_32`,
          value: '{"network":"127.9.9.9/32","source":"config","owner":"someone"}',
        },
      ],
    );
    const all = await until((all) => all["services/east-a/default/web"] !== undefined, "web restored");
    expect(all["clients/east-b/127.9.9.9_32"]?.owner).to.equal("someone");
    await reader.txn([], [{ type: "delete", key: `${BASE}clients/east-b/127.9.9.9_32` }]);
  });

  it("withdraws a removed cluster's keys", async () => {
    await until((all) => Object.keys(all).some((key) => key.startsWith("clients/west-a/")), "west-a's networks");
    await controller.updateClusters(
      sim.clusters
        .filter((cluster) => cluster.name !== "west-a")
        .map((cluster) => ({ name: cluster.name, kubeconfig: sim.kubeconfigPath, context: cluster.name })),
    );
    await until((all) => !Object.keys(all).some((key) => key.includes("/west-a/")), "west-a's keys gone");
  });
});
