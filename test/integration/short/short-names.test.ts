// Short names end to end with real parts: simulated member clusters whose nodes have loopback addresses and
// pod CIDRs inside 127.0.0.0/8, a real etcd, the controller and the DNS server (as `fedns controller` and
// `fedns serve` wire them, from one config), and dig sending from addresses of different clusters and zones
// (`dig -b`: every 127.0.0.0/8 address is local), with EDNS Client Subnet (`+subnet=`), and through unbound
// forwarding the short zone from a member cluster's address.
import { expect } from "chai";
import { type Controlling, startControlling } from "../../../src/cli/controller.ts";
import { type Serving, startServing } from "../../../src/cli/serve.ts";
import { parseConfig } from "../../../src/config/load.ts";
import type { FednsConfig } from "../../../src/config/schema.ts";
import { configureLogging } from "../../../src/obs/log.ts";
import { parseScenario, type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { sliceObjects } from "../../../src/sim/seed.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import { type DigResult, dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { freePort } from "../../support/ports.ts";
import { startUnbound, type Unbound } from "../../support/unbound.ts";

const SHORT_ZONE = "myfed.svc.cluster.local";
const WEB = `web.default.${SHORT_ZONE}`;
const CART = `cart.shop.${SHORT_ZONE}`;
const GLOBAL = (service: string, namespace: string) => `${service}.${namespace}.myfed.svc.example.com`;
const ZONE = (service: string, namespace: string, zone: string, region: string) =>
  `${service}.${namespace}.myfed.svc.${zone}.${region}.example.com`;

/** Askers: a pod of east-a (its pod CIDR), east-a's node, a pod of east-b, west-a (config network), nobody. */
const EAST_A_POD = "127.1.1.5";
const EAST_A_NODE = "127.0.1.10";
const EAST_B_POD = "127.1.2.5";
const WEST_A_CLIENT = "127.0.30.7";
const UNKNOWN = "127.0.99.1";

interface Shard {
  namespace: string;
  name: string;
  clusterIPs: string[];
  lb: string;
  ready: boolean;
  node: string;
}

function scenario() {
  const node = (name: string, zone: string, region: string) => ({ name, zone, region });
  return parseScenario({
    clusters: [
      { name: "east-a", namespaces: ["shop"], nodes: [node("a1", "us-east-1a", "us-east-1")] },
      { name: "east-b", namespaces: ["shop"], nodes: [node("b1", "us-east-1b", "us-east-1")] },
      { name: "west-a", namespaces: ["shop"], nodes: [node("w1", "us-west-2a", "us-west-2")] },
    ],
  });
}

const SHARDS: Record<string, Shard[]> = {
  "east-a": [
    {
      namespace: "default",
      name: "web",
      clusterIPs: ["10.96.1.10", "fd00:96:1::10"],
      lb: "198.51.100.1",
      ready: true,
      node: "a1",
    },
    { namespace: "shop", name: "cart", clusterIPs: ["10.96.1.20"], lb: "198.51.100.11", ready: false, node: "a1" },
  ],
  "east-b": [
    { namespace: "default", name: "web", clusterIPs: ["10.96.2.10"], lb: "198.51.100.2", ready: true, node: "b1" },
    { namespace: "shop", name: "cart", clusterIPs: ["10.96.2.20"], lb: "198.51.100.12", ready: true, node: "b1" },
  ],
  "west-a": [
    { namespace: "default", name: "web", clusterIPs: ["10.96.3.10"], lb: "203.0.113.3", ready: true, node: "w1" },
  ],
};

const NODES: Record<string, { node: string; address: string; pods: string }> = {
  "east-a": { node: "a1", address: EAST_A_NODE, pods: "127.1.1.0/24" },
  "east-b": { node: "b1", address: "127.0.2.10", pods: "127.1.2.0/24" },
  "west-a": { node: "w1", address: "127.0.3.10", pods: "127.1.3.0/24" },
};

function rrs(result: DigResult): string[] {
  return result.answer.map((rr) => `${rr.name} ${rr.type} ${rr.data}`);
}

describe("short names: dig from pods of different clusters and zones (sim + etcd + controller + serve)", function () {
  this.timeout(120_000);
  let etcd: EtcdProcess;
  let sim: Simulation;
  let controlling: Controlling;
  let serving: Serving;
  let unbound: Unbound | undefined;

  const ask = (from: string, name: string, type = "A", extra: string[] = []) =>
    dig(serving.dnsAddress, name, type, { extra: ["-b", from, "+tries=3", ...extra] });

  /** Polls until the answer from `from` satisfies `check`. */
  async function until(from: string, name: string, check: (r: DigResult) => boolean, type = "A", extra: string[] = []) {
    const deadline = Date.now() + 15_000;
    let last = await ask(from, name, type, extra);
    while (!check(last)) {
      if (Date.now() > deadline) throw new Error(`timed out; last answer to ${name} from ${from}:\n${last.raw}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      last = await ask(from, name, type, extra);
    }
    return last;
  }

  const setReady = (cluster: string, shard: Shard, ready: boolean) => {
    for (const slice of sliceObjects({
      ...shardService(shard),
      endpoints: [{ address: "10.0.0.1", ready, node: shard.node }],
    })) {
      sim.cluster(cluster).apply(slice);
    }
  };

  before(async () => {
    configureLogging("warn");
    etcd = await startEtcd();
    sim = await startSimulation({ scenario: scenario(), bookmarkIntervalMs: 500 });
    for (const [cluster, shards] of Object.entries(SHARDS)) {
      const api = sim.cluster(cluster);
      const { node, address, pods } = NODES[cluster]!;
      api.patch("Node", undefined, node, { spec: { podCIDR: pods, podCIDRs: [pods] } });
      api.patchStatus("Node", undefined, node, { addresses: [{ type: "InternalIP", address }] });
      for (const shard of shards) {
        const service = shardService(shard);
        const dual = shard.clusterIPs.length > 1;
        api.apply({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: shard.name, namespace: shard.namespace },
          spec: {
            type: "LoadBalancer",
            clusterIP: shard.clusterIPs[0],
            clusterIPs: shard.clusterIPs,
            ipFamilies: dual ? ["IPv4", "IPv6"] : ["IPv4"],
            ipFamilyPolicy: dual ? "PreferDualStack" : "SingleStack",
            ports: service.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, targetPort: p.port })),
          },
        });
        api.patchStatus("Service", shard.namespace, shard.name, { loadBalancer: { ingress: [{ ip: shard.lb }] } });
        setReady(cluster, shard, shard.ready);
      }
    }
    const base = {
      federation: "myfed",
      domain: "example.com",
      log: { level: "warn" },
      etcd: { endpoints: [etcd.endpoint] },
      kubeconfig: sim.kubeconfigPath,
      clusters: [{ name: "west-a", clientNetworks: ["127.0.30.0/24"] }],
      controller: { batchMs: 10, gracePeriodSeconds: 5, leaderElection: { enabled: false } },
    };
    const controllerConfig: FednsConfig = parseConfig({
      ...base,
      metrics: { listen: `127.0.0.1:${await freePort()}` },
    });
    const serveConfig: FednsConfig = parseConfig({
      ...base,
      dns: { listen: "127.0.0.1:0" },
      metrics: { listen: `127.0.0.1:${await freePort()}` },
    });
    controlling = await startControlling(controllerConfig, createEtcdBackend({ endpoints: [etcd.endpoint] }));
    serving = await startServing(serveConfig, createEtcdBackend({ endpoints: [etcd.endpoint] }));
    await until(EAST_A_POD, WEB, (r) => r.status === "NOERROR" && r.answer.length > 0);
    // The records too (written apart from the short-name data): every healthy copy in the global names.
    const addresses = (r: DigResult) => r.answer.filter((rr) => rr.type === "A").length;
    await until(UNKNOWN, WEB, (r) => addresses(r) === 3);
    await until(UNKNOWN, CART, (r) => addresses(r) === 1);
    await until(EAST_A_POD, CART, (r) => r.answer.some((rr) => rr.data === "198.51.100.12"));
  });

  after(async () => {
    await unbound?.stop();
    await serving?.stop();
    await controlling?.stop();
    await sim?.stop().catch(() => undefined);
    await etcd?.destroy();
  });

  it("answers a pod with its own cluster's ClusterIPs (A and AAAA, dual-stack), authoritatively, with the records' TTL", async () => {
    const v4 = await ask(EAST_A_POD, WEB);
    expect(v4.status).to.equal("NOERROR");
    expect(v4.flags).to.include("aa");
    expect(rrs(v4)).to.deep.equal([`${WEB}. A 10.96.1.10`]);
    const global = await dig(serving.dnsAddress, GLOBAL("web", "default"));
    expect(v4.answer[0]!.ttl).to.equal(global.answer[0]!.ttl);
    expect(rrs(await ask(EAST_A_POD, WEB, "AAAA"))).to.deep.equal([`${WEB}. AAAA fd00:96:1::10`]);
    // A node's own address and another cluster's pods, each their own cluster's copy.
    expect(rrs(await ask(EAST_A_NODE, WEB))).to.deep.equal([`${WEB}. A 10.96.1.10`]);
    expect(rrs(await ask(EAST_B_POD, WEB))).to.deep.equal([`${WEB}. A 10.96.2.10`]);
    expect(rrs(await ask(WEST_A_CLIENT, WEB))).to.deep.equal([`${WEB}. A 10.96.3.10`]);
    // East-b has no IPv6 ClusterIP: NODATA with the short zone's SOA.
    const none = await ask(EAST_B_POD, WEB, "AAAA");
    expect(none.status).to.equal("NOERROR");
    expect(none.answer).to.deep.equal([]);
    expect(none.authority[0]?.type).to.equal("SOA");
    expect(none.authority[0]?.name).to.equal(`${SHORT_ZONE}.`);
  });

  it("answers SRV for a named port the same way: local ports and ClusterIPs as glue", async () => {
    const srv = await ask(EAST_A_POD, `_http._tcp.${WEB}`, "SRV");
    expect(rrs(srv)).to.deep.equal([`_http._tcp.${WEB}. SRV 10 100 80 ${WEB}.`]);
    expect(srv.additional.map((rr) => `${rr.type} ${rr.data}`).sort()).to.deep.equal([
      "A 10.96.1.10",
      "AAAA fd00:96:1::10",
    ]);
    // Unhealthy here: the SRV name of the asker's zone, with its chain.
    const cart = await ask(EAST_A_POD, `_http._tcp.${CART}`, "SRV");
    expect(cart.answer[0]).to.include({
      type: "CNAME",
      data: `_http._tcp.${ZONE("cart", "shop", "us-east-1a", "us-east-1")}.`,
    });
    expect(cart.answer.some((rr) => rr.type === "SRV")).to.equal(true);
  });

  it("sends a pod whose cluster has no healthy copy to its zone's name, with the chain ending in addresses", async () => {
    const cart = await ask(EAST_A_POD, CART);
    expect(cart.status).to.equal("NOERROR");
    expect(cart.answer[0]).to.deep.include({
      name: `${CART}.`,
      type: "CNAME",
      data: `${ZONE("cart", "shop", "us-east-1a", "us-east-1")}.`,
    });
    // Zone (no healthy copy in us-east-1a) -> region -> east-b's load balancer.
    expect(cart.answer.filter((rr) => rr.type === "A").map((rr) => rr.data)).to.deep.equal(["198.51.100.12"]);
    // East-b's pods have their own copy.
    expect(rrs(await ask(EAST_B_POD, CART))).to.deep.equal([`${CART}. A 10.96.2.20`]);
  });

  it("sends an asker it does not recognise to the global name, and counts it", async () => {
    const web = await ask(UNKNOWN, WEB);
    expect(web.answer[0]).to.deep.include({ type: "CNAME", data: `${GLOBAL("web", "default")}.` });
    expect(
      web.answer
        .filter((rr) => rr.type === "A")
        .map((rr) => rr.data)
        .sort(),
    ).to.deep.equal(["198.51.100.1", "198.51.100.2", "203.0.113.3"]);
    const metrics = await (await fetch(`http://${serving.opsAddress.host}:${serving.opsAddress.port}/metrics`)).text();
    expect(metrics).to.match(/fedns_dns_short_answers_total\{answer="unknown"\} [1-9]/);
  });

  it("answers NXDOMAIN with the short zone's SOA when no shard is healthy anywhere, or the name is no service", async () => {
    for (const name of [`nothing.default.${SHORT_ZONE}`, `a.b.c.d.${SHORT_ZONE}`]) {
      const result = await ask(EAST_A_POD, name);
      expect(result.status, name).to.equal("NXDOMAIN");
      expect(result.flags).to.include("aa");
      expect(result.authority[0]).to.include({ type: "SOA", name: `${SHORT_ZONE}.` });
    }
    const soa = await ask(EAST_A_POD, SHORT_ZONE, "SOA");
    expect(soa.answer[0]).to.include({ type: "SOA", name: `${SHORT_ZONE}.` });
    // The namespace exists (as its federation name does): NODATA, not NXDOMAIN.
    expect((await ask(EAST_A_POD, `default.${SHORT_ZONE}`)).status).to.equal("NOERROR");
  });

  it("uses the EDNS Client Subnet instead of the source address, and answers with the scope that decided", async () => {
    const r = await ask(UNKNOWN, WEB, "A", ["+subnet=127.1.2.0/24"]);
    expect(rrs(r)).to.deep.equal([`${WEB}. A 10.96.2.10`]);
    expect(r.raw).to.match(/CLIENT-SUBNET: 127\.1\.2\.0\/24\/24/);
    // A /8 covers askers of every cluster: the scope says more bits decide; the answer is the global one.
    const wide = await ask(EAST_A_POD, WEB, "A", ["+subnet=127.0.0.0/8"]);
    expect(wide.answer[0]).to.deep.include({ type: "CNAME", data: `${GLOBAL("web", "default")}.` });
    const scope = Number(/CLIENT-SUBNET: 127\.0\.0\.0\/8\/(\d+)/.exec(wide.raw)?.[1]);
    expect(scope).to.be.greaterThan(8);
    // Source prefix 0 (the client opted out): the answer for an unknown asker, valid for everyone (scope 0).
    const none = await ask(EAST_A_POD, WEB, "A", ["+subnet=0.0.0.0/0"]);
    expect(none.answer[0]).to.deep.include({ type: "CNAME", data: `${GLOBAL("web", "default")}.` });
    expect(none.raw).to.match(/CLIENT-SUBNET: 0\.0\.0\.0\/0\/0/);
  });

  it("moves a pod's answer when its cluster's copy turns unhealthy (local -> CNAME to its zone), and back", async () => {
    const web = SHARDS["east-a"]![0]!;
    setReady("east-a", web, false);
    // The short data and the records are written apart: the chain may show east-a's own address for a moment.
    const moved = await until(
      EAST_A_POD,
      WEB,
      (r) => r.answer[0]?.type === "CNAME" && r.answer.some((rr) => rr.type === "A" && rr.data === "198.51.100.2"),
    );
    expect(moved.answer[0]!.data).to.equal(`${ZONE("web", "default", "us-east-1a", "us-east-1")}.`);
    expect(moved.answer.filter((rr) => rr.type === "A").map((rr) => rr.data)).to.deep.equal(["198.51.100.2"]);
    setReady("east-a", web, true);
    await until(EAST_A_POD, WEB, (r) => rrs(r).join() === `${WEB}. A 10.96.1.10`);
  });

  it("follows a node relabelled to another zone", async () => {
    const api = sim.cluster("east-a");
    api.patch("Node", undefined, "a1", { metadata: { labels: { "topology.kubernetes.io/zone": "us-east-1b" } } });
    const moved = await until(EAST_A_NODE, CART, (r) => r.answer[0]?.data?.includes("us-east-1b") === true);
    expect(moved.answer[0]!.data).to.equal(`${ZONE("cart", "shop", "us-east-1b", "us-east-1")}.`);
    api.patch("Node", undefined, "a1", { metadata: { labels: { "topology.kubernetes.io/zone": "us-east-1a" } } });
    await until(EAST_A_NODE, CART, (r) => r.answer[0]?.data?.includes("us-east-1a") === true);
  });

  it("keeps answering from memory while etcd is away", async () => {
    await etcd.stop();
    try {
      expect(rrs(await ask(EAST_A_POD, WEB))).to.deep.equal([`${WEB}. A 10.96.1.10`]);
      expect((await ask(EAST_A_POD, CART)).answer[0]?.type).to.equal("CNAME");
    } finally {
      await etcd.start();
    }
  });

  it("answers through unbound forwarding the short zone from a member cluster's address", async () => {
    unbound = await startUnbound({
      zones: [SHORT_ZONE, "example.com"],
      upstream: serving.dnsAddress,
      mode: "forward",
      outgoingInterface: EAST_B_POD,
    });
    const via = { host: "127.0.0.1", port: unbound.port };
    const web = await dig(via, WEB, "A", { extra: ["+rec"] });
    expect(web.status).to.equal("NOERROR");
    expect(rrs(web)).to.deep.equal([`${WEB}. A 10.96.2.10`]);
    const cart = await dig(via, CART, "A", { extra: ["+rec"] });
    expect(rrs(cart)).to.deep.equal([`${CART}. A 10.96.2.20`]);
    const none = await dig(via, `nothing.default.${SHORT_ZONE}`, "A", { extra: ["+rec"] });
    expect(none.status).to.equal("NXDOMAIN");
  });
});

function shardService(shard: Shard) {
  return {
    name: shard.name,
    namespace: shard.namespace,
    type: "LoadBalancer" as const,
    labels: {},
    annotations: {},
    ports: [{ name: "http", port: 80, protocol: "TCP" as const }],
    ingress: [{ ip: shard.lb }],
    endpoints: [{ address: "10.0.0.1", ready: shard.ready, node: shard.node }],
  };
}
