// Load-balancer hostnames under the trust model (issue 10), end to end: a member cluster (simulated API
// server) whose Services have hostname-only load balancers, a real DNS server (knotd on loopback)
// serving their names, the controller resolving them through controller.resolver-style settings
// (dnsLookup with that server), a real etcd. A resolvable name is published; `localhost`, a single
// label and a name whose address is loopback, link-local or private are not, and each is counted.
import { expect } from "chai";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import { dnsLookup } from "../../../src/controller/hostnames.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { parseScenario, type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { type Knot, startKnot } from "../../support/knot.ts";
import { DOMAIN, eventually, FEDERATION, hostsOf, PREFIX, parseRecords, serviceName } from "./support.ts";

const ZONE_FILE = [
  "$ORIGIN example.net.",
  "@ 30 IN SOA ns.example.net. hostmaster.example.net. 1 7200 1800 86400 30",
  "@ 30 IN NS ns.example.net.",
  "ns 30 IN A 192.0.2.53",
  "lb 2 IN A 203.0.113.77",
  "lb 2 IN AAAA 2001:db8::77",
  "loop 30 IN A 127.0.0.1",
  "meta 30 IN A 169.254.169.254",
  "internal 30 IN A 10.1.2.3",
  "",
].join("\n");

describe("controller: LB hostnames resolved through the configured resolver (knotd + simulated API server + etcd)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let knot: Knot;
  let sim: Simulation;
  let reader: KvBackend;
  let backend: KvBackend;
  let controller: Controller;
  let registry: Registry;
  let lookup: ReturnType<typeof dnsLookup>;

  const service = (name: string, hostname: string) => ({
    name,
    ports: [{ name: "http", port: 80 }],
    ingress: [{ hostname }],
    endpoints: [{ address: "10.1.0.1", node: "node-a" }],
  });

  before(async () => {
    [etcd, knot] = await Promise.all([startEtcd(), startKnot({ zone: "example.net", zoneFile: ZONE_FILE })]);
    reader = createEtcdBackend({ endpoints: [etcd.endpoint] });
    backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
    sim = await startSimulation({
      scenario: parseScenario({
        clusters: [
          {
            name: "member",
            nodes: [{ name: "node-a", zone: "us-east-1a", region: "us-east-1" }],
            services: [
              service("web", "lb.example.net"),
              service("local", "localhost"),
              service("single", "fedns-etcd-0"),
              service("loop", "loop.example.net"),
              service("meta", "meta.example.net"),
              service("internal", "internal.example.net"),
              service("missing", "nothing.example.net"),
            ],
          },
        ],
      }),
    });
    registry = newRegistry();
    lookup = dnsLookup({ servers: [`${knot.dns.host}:${knot.dns.port}`], timeoutMs: 500, tries: 1 });
    controller = await startController({
      federation: FEDERATION,
      domain: DOMAIN,
      prefix: PREFIX,
      backend,
      clusters: [{ name: "member", kubeconfig: sim.kubeconfigPath, context: "member" }],
      batchMs: 20,
      leaderElection: { enabled: false, leaseSeconds: 2 },
      registry,
      lookup: lookup.lookup,
      hostnameMinRefreshMs: 200,
      hostnameRefreshMs: 1000,
    });
  });

  after(async () => {
    await controller?.stop();
    lookup?.cancel();
    await backend?.close();
    await reader?.close();
    await sim?.stop().catch(() => undefined);
    await knot?.stop();
    await etcd?.destroy();
  });

  const records = async () => parseRecords((await reader.range(`${PREFIX}/`)).kvs);

  it("publishes a resolvable hostname's A and AAAA records", async () => {
    await eventually(
      records,
      (rs) => hostsOf(rs, serviceName("web")).join(",") === "2001:db8::77,203.0.113.77",
      "web published from its hostname",
      20_000,
    );
  });

  it("refuses localhost, a single-label name and names resolving to loopback, link-local or private addresses", async () => {
    await controller.whenIdle();
    const all = await records();
    for (const name of ["local", "single", "loop", "meta", "internal", "missing"]) {
      expect(hostsOf(all, serviceName(name)), name).to.deep.equal([]);
    }
    const refused = await registry.getSingleMetric("fedns_controller_refused_total")?.get();
    const count = (kind: string): number =>
      refused?.values.find((v) => v.labels.cluster === "member" && v.labels.kind === kind)?.value ?? 0;
    expect(count("hostname-refused")).to.equal(2, "localhost (special-use) and the single label");
    expect(count("address-refused")).to.equal(3, "127.0.0.1, 169.254.169.254, 10.1.2.3");
    const lookups = await registry.getSingleMetric("fedns_controller_hostname_lookups_total")?.get();
    const byResult = (result: string): number => lookups?.values.find((v) => v.labels.result === result)?.value ?? 0;
    expect(byResult("ok")).to.be.at.least(4);
    expect(byResult("empty")).to.be.at.least(1, "nothing.example.net is NXDOMAIN");
  });
});
