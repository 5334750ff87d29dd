// One member cluster cannot break the federation (issue 10): a simulated member whose nodes carry
// 1,000 distinct zone labels (real list/watch through the simulated API server) next to a well-behaved
// one, the controller in-process, a real etcd. What etcd (so every DNS index loaded from it) holds stays
// within the limits; the well-behaved cluster's names are untouched; the drop is counted for the hostile cluster.
import { expect } from "chai";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import { parseNetwork } from "../../../src/federation/addresses.ts";
import { DEFAULT_LIMITS } from "../../../src/federation/limits.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { parseScenario, type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import {
  DOMAIN,
  eventually,
  FEDERATION,
  hostsOf,
  PREFIX,
  parseRecords,
  type StoredRecord,
  serviceName,
} from "./support.ts";

const SERVICES = 20;
const HOSTILE_ZONES = 1000;
const ZONE_LIMIT = 24;

describe("controller: limits and trust against a hostile member cluster (simulated API server + etcd)", function () {
  this.timeout(120_000);
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
    const services = Array.from({ length: SERVICES }, (_, i) => ({
      name: `svc-${String(i).padStart(2, "0")}`,
      ports: [{ name: "http", port: 80 }],
      ingress: [{ ip: `198.51.100.${i + 1}` }],
      endpoints: [{ address: `10.1.0.${i + 1}`, node: "node-a" }],
    }));
    sim = await startSimulation({
      scenario: parseScenario({
        clusters: [
          { name: "good", nodes: [{ name: "node-a", zone: "us-east-1a", region: "us-east-1" }], services },
          {
            name: "hostile",
            nodes: Array.from({ length: HOSTILE_ZONES }, (_, i) => ({
              name: `n${i}`,
              zone: `aaa-${String(i).padStart(4, "0")}`,
              region: "us-east-1",
            })),
            services: [
              {
                name: "svc-00",
                ports: [{ name: "http", port: 80 }],
                // Special-purpose addresses and an address in a namespace it may federate: only the last is published.
                ingress: [{ ip: "127.0.0.1" }, { ip: "169.254.169.254" }, { ip: "203.0.113.9" }],
                endpoints: [{ address: "10.9.0.1", node: "n0" }],
              },
            ],
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
      clusters: sim.clusters.map((cluster) => ({
        name: cluster.name,
        kubeconfig: sim.kubeconfigPath,
        context: cluster.name,
      })),
      batchMs: 20,
      leaderElection: { enabled: false, leaseSeconds: 2 },
      registry,
      policy: {
        clusters: new Map([["hostile", { allowedNetworks: [parseNetwork("203.0.113.0/24")!] }]]),
        limits: { ...DEFAULT_LIMITS, zones: ZONE_LIMIT },
      },
    });
  });

  after(async () => {
    await controller?.stop();
    await backend?.close();
    await reader?.close();
    await sim?.stop().catch(() => undefined);
    await etcd?.destroy();
  });

  const records = async (): Promise<StoredRecord[]> => parseRecords((await reader.range(`${PREFIX}/`)).kvs);

  it("keeps etcd within the zone limit, the well-behaved cluster's zone whole, the hostile cluster's addresses filtered", async () => {
    const first = serviceName("svc-00");
    const all = await eventually(
      records,
      (rs) =>
        hostsOf(rs, first).length === 2 && hostsOf(rs, serviceName("svc-19", "us-east-1a", "us-east-1")).length === 1,
      "every service written",
      60_000,
    );
    await controller.whenIdle();
    const settled = await records();
    // Zone names: `svc.default.myfed.svc.<zone>.<region>.example.com`.
    const zones = new Set<string>();
    for (const record of settled) {
      const labels = record.key
        .slice(PREFIX.length + 1)
        .split("/")
        .reverse();
      // reversed key: [leaf, svc, default, myfed, svc, zone?, region?, example, com] read from the front.
      const name = labels.slice(1).join(".");
      const match = /^[^.]+\.default\.myfed\.svc\.(?:_[^.]+\._[^.]+\.)?([^.]+)\.us-east-1\.example\.com$/.exec(name);
      if (match !== null) zones.add(match[1]!);
    }
    expect(zones.size).to.equal(ZONE_LIMIT);
    expect(zones.has("us-east-1a")).to.equal(true, "the well-behaved cluster keeps its zone");
    // Per service: global, region and ZONE_LIMIT zones, each with an address set or a CNAME, plus one SRV each.
    const perService = 2 * (2 + ZONE_LIMIT) + 1;
    expect(settled.length).to.be.at.most(SERVICES * perService + 8);
    expect(settled.length).to.be.lessThan(SERVICES * HOSTILE_ZONES, "without the zone limit it would be ~20,000");
    expect(hostsOf(all, serviceName("svc-05", "us-east-1a", "us-east-1"))).to.deep.equal(["198.51.100.6"]);
    expect(hostsOf(all, first)).to.deep.equal(["198.51.100.1", "203.0.113.9"]);

    const refused = await registry.getSingleMetric("fedns_controller_refused_total")?.get();
    const count = (cluster: string, kind: string): number =>
      refused?.values.find((v) => v.labels.cluster === cluster && v.labels.kind === kind)?.value ?? 0;
    expect(count("hostile", "limit-zones")).to.equal(1);
    expect(count("good", "limit-zones")).to.equal(0);
    expect(count("hostile", "address-refused")).to.equal(2);
  });
});
