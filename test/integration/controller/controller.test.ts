// The controller end to end on etcd content: simulated member clusters (real HTTPS list/watch),
// a real etcd, the controller in-process. Each test changes the clusters and waits for etcd to
// show the records SPEC §1–3 ask for, then puts the clusters back.
import { expect } from "chai";
import type { MemberCluster } from "../../../src/config/members.ts";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { serviceObject, sliceObjects } from "../../../src/sim/seed.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import {
  DOMAIN,
  eventually,
  FEDERATION,
  hostsOf,
  leavesOf,
  OWNER,
  PREFIX,
  parseRecords,
  type StoredRecord,
  scenario,
  serviceName,
} from "./support.ts";

describe("controller (simulated clusters + etcd)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let sim: Simulation;
  let reader: KvBackend;
  const backends: KvBackend[] = [];
  let controller: Controller;
  const lookups = new Map<string, string[]>([["lb-1.elb.test", ["203.0.113.7"]]]);

  const members = (names?: string[]): MemberCluster[] =>
    sim.clusters
      .filter((cluster) => names === undefined || names.includes(cluster.name))
      .map((cluster) => ({ name: cluster.name, kubeconfig: sim.kubeconfigPath, context: cluster.name }));

  const start = async (
    clusters: MemberCluster[],
    extra: { leaderElection?: { enabled: boolean; leaseSeconds: number } } = {},
  ): Promise<Controller> => {
    const backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
    backends.push(backend);
    return startController({
      federation: FEDERATION,
      domain: DOMAIN,
      prefix: PREFIX,
      backend,
      clusters,
      graceMs: 1500,
      batchMs: 20,
      probeIntervalMs: 200,
      probeTimeoutMs: 500,
      watchIdleMs: 3_000,
      backoff: { initialMs: 50, maxMs: 300 },
      hostnameRefreshMs: 200,
      lookup: async (hostname) => {
        const found = lookups.get(hostname);
        if (found === undefined) throw new Error(`ENOTFOUND ${hostname}`);
        return { addresses: found };
      },
      leaderElection: extra.leaderElection ?? { enabled: false, leaseSeconds: 2 },
      registry: newRegistry(),
    });
  };

  const records = async (): Promise<StoredRecord[]> => parseRecords((await reader.range(`${PREFIX}/`)).kvs);
  const until = (check: (all: StoredRecord[]) => boolean, what: string, timeoutMs?: number) =>
    eventually(records, check, what, timeoutMs);

  const sameHosts = (all: StoredRecord[], name: string, hosts: string[]): boolean =>
    JSON.stringify(hostsOf(all, name)) === JSON.stringify([...hosts].sort());

  const web = {
    global: serviceName("web"),
    east: serviceName("web", "us-east-1"),
    west: serviceName("web", "us-west-2"),
    east1a: serviceName("web", "us-east-1a", "us-east-1"),
    east1b: serviceName("web", "us-east-1b", "us-east-1"),
    west2a: serviceName("web", "us-west-2a", "us-west-2"),
  };

  const healthyWeb = (all: StoredRecord[]): boolean =>
    sameHosts(all, web.global, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) &&
    sameHosts(all, web.east, ["198.51.100.1", "198.51.100.2"]) &&
    sameHosts(all, web.west, ["198.51.100.3"]) &&
    sameHosts(all, web.east1a, ["198.51.100.1"]) &&
    sameHosts(all, web.east1b, ["198.51.100.2"]) &&
    sameHosts(all, web.west2a, ["198.51.100.3"]);

  const setWebReady = (cluster: string, node: string, ready: boolean): void => {
    sim.cluster(cluster).patch("EndpointSlice", "default", "web-ipv4", {
      endpoints: [{ addresses: ["10.1.0.1"], conditions: { ready }, nodeName: node }],
    });
  };

  before(async () => {
    etcd = await startEtcd();
    reader = createEtcdBackend({ endpoints: [etcd.endpoint] });
    // Bookmarks well within the watch idle limit (3 s): only a hang leaves a watch silent that long.
    sim = await startSimulation({ scenario: scenario(), bookmarkIntervalMs: 500 });
    controller = await start(members());
  });

  /** Undoes a test's outage of a cluster if the test failed before it did so itself. */
  let restore: (() => unknown) | undefined;
  afterEach(async () => {
    await restore?.();
    restore = undefined;
  });

  after(async () => {
    await controller?.stop();
    await Promise.all(backends.map((backend) => backend.close()));
    await reader?.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sim?.stop().catch(() => undefined);
    await etcd?.destroy();
  });

  it("writes the global, region and zone names of a healthy service, with SRV for named ports", async () => {
    const all = await until(healthyWeb, "web at every level");
    const globalLeaves = leavesOf(all, web.global);
    expect(globalLeaves.map((record) => record.cluster).sort()).to.deep.equal(["east-a", "east-b", "west-a"]);
    for (const record of all) expect(record.owner).to.equal(OWNER);
    expect(globalLeaves.map((record) => record.key)).to.include(
      `${PREFIX}/com/example/svc/myfed/default/web/${globalLeaves
        .find((r) => r.cluster === "east-a")!
        .key.split("/")
        .pop()}`,
    );
    const srv = leavesOf(all, `_http._tcp.${web.east1a}`);
    expect(srv).to.have.length(1);
    expect(srv[0]).to.include({ host: web.east1a, port: 80 });
    // Zone names exist for every zone of the federation, even where the service has no shard.
    // (solo is another unit, written in its own transaction: wait for it rather than race it.)
    const solo = await until(
      (now) =>
        hostsOf(now, serviceName("solo", "us-west-2a", "us-west-2")).length > 0 &&
        hostsOf(now, serviceName("solo", "us-west-2")).length > 0,
      "solo's zone and region names",
    );
    expect(hostsOf(solo, serviceName("solo", "us-west-2a", "us-west-2"))).to.deep.equal([
      serviceName("solo", "us-west-2"),
    ]);
    expect(hostsOf(solo, serviceName("solo", "us-west-2"))).to.deep.equal([serviceName("solo")]);
  });

  it("publishes IPv4 and IPv6 of a dual-stack load balancer", async () => {
    const all = await until((records) => hostsOf(records, serviceName("dual")).length === 2, "dual-stack addresses");
    expect(hostsOf(all, serviceName("dual"))).to.deep.equal(["198.51.100.11", "2001:db8::11"]);
    expect(hostsOf(all, serviceName("dual", "us-east-1a", "us-east-1"))).to.deep.equal([
      "198.51.100.11",
      "2001:db8::11",
    ]);
  });

  it("resolves hostname-only load balancers and follows their changes", async () => {
    const name = serviceName("cloudlb");
    await until((all) => sameHosts(all, name, ["203.0.113.7"]), "hostname resolved");
    lookups.set("lb-1.elb.test", ["203.0.113.8", "2001:db8::8"]);
    await until((all) => sameHosts(all, name, ["203.0.113.8", "2001:db8::8"]), "hostname re-resolved");
    expect(hostsOf(await records(), serviceName("cloudlb", "us-east-1b", "us-east-1"))).to.deep.equal([
      "2001:db8::8",
      "203.0.113.8",
    ]);
  });

  it("falls back by CNAME when a cluster's endpoints go unready, and returns when they are ready", async () => {
    await until(healthyWeb, "web healthy");
    setWebReady("west-a", "node-w", false);
    const all = await until(
      (records) =>
        sameHosts(records, web.global, ["198.51.100.1", "198.51.100.2"]) &&
        sameHosts(records, web.west, [web.global]) &&
        sameHosts(records, web.west2a, [web.west]),
      "west falls back",
    );
    expect(leavesOf(all, web.west2a).map((record) => record.key.split("/").pop())).to.deep.equal(["cname"]);
    expect(sameHosts(all, web.east1a, ["198.51.100.1"])).to.equal(true);
    setWebReady("west-a", "node-w", true);
    await until(healthyWeb, "web healthy again");
  });

  it("follows a load balancer address change", async () => {
    await until(healthyWeb, "web healthy");
    sim
      .cluster("east-a")
      .patchStatus("Service", "default", "web", { loadBalancer: { ingress: [{ ip: "198.51.100.101" }] } });
    await until(
      (all) =>
        sameHosts(all, web.global, ["198.51.100.101", "198.51.100.2", "198.51.100.3"]) &&
        sameHosts(all, web.east1a, ["198.51.100.101"]),
      "new address",
    );
    sim
      .cluster("east-a")
      .patchStatus("Service", "default", "web", { loadBalancer: { ingress: [{ ip: "198.51.100.1" }] } });
    await until(healthyWeb, "address back");
  });

  it("withdraws a service deleted in one cluster, and leaves no key when deleted in all", async () => {
    await until(healthyWeb, "web healthy");
    sim.cluster("west-a").delete("Service", "default", "web");
    await until(
      (all) => sameHosts(all, web.global, ["198.51.100.1", "198.51.100.2"]) && sameHosts(all, web.west, [web.global]),
      "west shard gone",
    );
    sim.cluster("east-a").delete("Service", "default", "web");
    sim.cluster("east-b").delete("Service", "default", "web");
    await until((all) => all.every((record) => !record.key.includes("/default/web/")), "no key of web");
    const raw = await etcd.etcdctl(["get", "--prefix", "--keys-only", `${PREFIX}/`]);
    expect(raw).to.not.include("/default/web/");
    // Put web back as it was.
    const spec = scenario();
    for (const cluster of spec.clusters) {
      const service = cluster.services.find((candidate) => candidate.name === "web")!;
      sim.cluster(cluster.name).apply(serviceObject(service));
      for (const slice of sliceObjects(service)) sim.cluster(cluster.name).apply(slice);
    }
    await until(healthyWeb, "web recreated");
  });

  it("keeps an unreachable cluster's records through the grace period, then withdraws all but last addresses", async () => {
    await until(healthyWeb, "web healthy");
    await until((all) => sameHosts(all, serviceName("solo"), ["198.51.100.22"]), "solo present");
    const cluster = sim.cluster("east-b");
    // Watches are ended first (same tick): the simulator cannot TCP-reset TLS sockets.
    cluster.closeWatches("clean");
    await cluster.setReachable(false);
    // Whatever fails below, the next tests get east-b back.
    restore = () => cluster.setReachable(true);
    const lostAt = Date.now();
    const all = await until(
      (records) => sameHosts(records, web.global, ["198.51.100.1", "198.51.100.3"]),
      "east-b withdrawn from web",
      10_000,
    );
    // Not before the grace period (1.5 s) has passed.
    expect(Date.now() - lostAt).to.be.greaterThan(1400);
    expect(sameHosts(all, web.east1b, [web.east])).to.equal(true);
    // solo exists only in east-b: its last addresses stay.
    expect(hostsOf(all, serviceName("solo"))).to.deep.equal(["198.51.100.22"]);
    await eventually(
      async () => controller.status().clusters.find((c) => c.name === "east-b")?.phase,
      (phase) => phase === "stale",
      "east-b stale",
      5_000,
    );
    await cluster.setReachable(true);
    await until(healthyWeb, "east-b back after recovery", 10_000);
    expect(controller.status().clusters.find((c) => c.name === "east-b")?.phase).to.equal("active");
  });

  it("takes a cluster whose API server hangs (accepts, never answers) as unreachable, and withdraws it after grace", async () => {
    await until(healthyWeb, "web healthy");
    await until((all) => sameHosts(all, serviceName("solo"), ["198.51.100.22"]), "solo present");
    const cluster = sim.cluster("east-b");
    // Connections still open and watches stay up, but nothing is answered any more (no events, no bookmarks).
    cluster.setHanging(true);
    restore = () => cluster.setHanging(false);
    const hungAt = Date.now();
    await eventually(
      async () => controller.status().clusters.find((c) => c.name === "east-b")?.phase,
      (phase) => phase === "unreachable",
      "east-b unreachable",
      5_000,
    );
    const all = await until(
      (records) => sameHosts(records, web.global, ["198.51.100.1", "198.51.100.3"]),
      "hanging east-b withdrawn from web",
      10_000,
    );
    // Not before the grace period (1.5 s), and through the same withdrawal as an unreachable cluster.
    expect(Date.now() - hungAt).to.be.greaterThan(1400);
    expect(sameHosts(all, web.east1b, [web.east])).to.equal(true);
    expect(hostsOf(all, serviceName("solo"))).to.deep.equal(["198.51.100.22"]);
    await eventually(
      async () => controller.status().clusters.find((c) => c.name === "east-b")?.phase,
      (phase) => phase === "stale",
      "east-b stale",
      5_000,
    );
    cluster.setHanging(false);
    await until(healthyWeb, "east-b back after the hang", 10_000);
    expect(controller.status().clusters.find((c) => c.name === "east-b")?.phase).to.equal("active");
  });

  it("withdraws a cluster removed from the config, and watches it again when added back", async () => {
    await until(healthyWeb, "web healthy");
    await controller.updateClusters(members(["east-a", "west-a"]));
    const all = await until(
      (records) => sameHosts(records, web.global, ["198.51.100.1", "198.51.100.3"]),
      "east-b withdrawn",
    );
    expect(all.some((record) => record.cluster === "east-b")).to.equal(false);
    expect(hostsOf(all, serviceName("solo"))).to.deep.equal([]);
    await controller.updateClusters(members());
    await until(healthyWeb, "east-b added back");
  });

  it("writes nothing when restarted with unchanged clusters", async () => {
    await until(healthyWeb, "web healthy");
    await controller.whenIdle();
    await controller.stop();
    const before = await etcd.revision();
    controller = await start(members());
    await eventually(
      async () => controller.status(),
      (status) => status.ready && status.clusters.every((c) => c.phase === "active"),
      "restarted controller synced",
    );
    // Let a full reconcile run (and a few batching periods) before comparing.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await controller.whenIdle();
    expect(await etcd.revision()).to.equal(before);
    // And it still reacts.
    setWebReady("west-a", "node-w", false);
    await until((all) => sameHosts(all, web.west, [web.global]), "restarted controller writes changes");
    setWebReady("west-a", "node-w", true);
    await until(healthyWeb, "web healthy");
  });

  it("leaves keys of other owners alone", async () => {
    const foreignKey = `${PREFIX}/com/example/svc/myfed/default/web/manual`;
    await reader.txn(
      [],
      [{ type: "put", key: foreignKey, value: JSON.stringify({ host: "192.0.2.99", owner: "someone" }) }],
    );
    setWebReady("west-a", "node-w", false);
    await until((all) => sameHosts(all, web.west, [web.global]), "change written");
    setWebReady("west-a", "node-w", true);
    await until(
      (all) => hostsOf(all, web.global).length === 4 && sameHosts(all, web.west, ["198.51.100.3"]),
      "web healthy",
    );
    expect((await records()).find((record) => record.key === foreignKey)?.host).to.equal("192.0.2.99");
    await reader.txn([], [{ type: "delete", key: foreignKey }]);
  });
});
