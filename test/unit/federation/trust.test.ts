// The trust model and the limits as plan() applies them: each guard has a case that fails without it.
import { expect } from "chai";
import { type Network, parseNetwork } from "../../../src/federation/addresses.ts";
import { admitFairly, DEFAULT_LIMITS, type Limits } from "../../../src/federation/limits.ts";
import { plan } from "../../../src/federation/plan.ts";
import type { ClusterState, PlanOptions, ServiceShard } from "../../../src/federation/state.ts";
import type { ClusterPolicy } from "../../../src/federation/trust.ts";
import { cluster, federation, OPTIONS, summary, svc, warningKinds, zonal } from "./fixtures.ts";

const X = "198.51.100.1";
const Y = "198.51.100.2";

function withPolicy(clusters: Record<string, ClusterPolicy>, limits: Partial<Limits> = {}): PlanOptions {
  return {
    ...OPTIONS,
    policy: { clusters: new Map(Object.entries(clusters)), limits: { ...DEFAULT_LIMITS, ...limits } },
  };
}

function nets(...texts: string[]): Network[] {
  return texts.map((text) => parseNetwork(text)!);
}

describe("federation/trust: what a member cluster may say", () => {
  it("special-purpose addresses are never published, whatever the cluster says; documentation ones are", () => {
    const state = federation(
      zonal("c1", "z1", "r1", [
        svc({
          ips: [
            X,
            "0.0.0.0",
            "127.0.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "ff02::1",
            "fe80::1",
          ],
        }),
      ]),
    );
    const result = plan(state, OPTIONS);
    expect(summary(result)).to.deep.equal([
      "@ A 198.51.100.1 c1",
      "@.r1 A 198.51.100.1 c1",
      "@.z1.r1 A 198.51.100.1 c1",
    ]);
    expect(warningKinds(result).filter((w) => w.startsWith("address-refused"))).to.have.length(8);
  });

  it("a shard with only refused addresses is not healthy: another cluster's addresses answer alone", () => {
    const state = federation(
      zonal("c1", "z1", "r1", [svc({ ips: ["127.0.0.1"] })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })]),
    );
    const lines = summary(plan(state, OPTIONS));
    expect(lines.filter((line) => line.includes("A "))).to.deep.equal([
      "@ A 198.51.100.2 c2",
      "@.r2 A 198.51.100.2 c2",
      "@.z2.r2 A 198.51.100.2 c2",
    ]);
  });

  it("private addresses need the cluster's allowedNetworks; an allow-list restricts the cluster to it", () => {
    const state = federation(
      zonal("c1", "z1", "r1", [svc({ ips: ["10.0.0.1", X] })]),
      zonal("c2", "z2", "r2", [svc({ ips: ["10.0.0.2", Y] })]),
    );
    const open = plan(state, OPTIONS);
    expect(summary(open).filter((l) => l.startsWith("@ "))).to.deep.equal([
      "@ A 198.51.100.1 c1",
      "@ A 198.51.100.2 c2",
    ]);
    const result = plan(state, withPolicy({ c1: { allowedNetworks: nets("10.0.0.0/8") } }));
    expect(summary(result).filter((l) => l.startsWith("@ "))).to.deep.equal(["@ A 10.0.0.1 c1", "@ A 198.51.100.2 c2"]);
    expect(warningKinds(result)).to.include.members([
      "address-refused c1 default/nginx",
      "address-refused c2 default/nginx",
    ]);
  });

  it("namespaces: a cluster federates only the namespaces its policy lists (default all)", () => {
    const state = federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X] }), svc({ namespace: "payments", name: "api", ips: [X] })]),
      zonal("c2", "z2", "r2", [svc({ namespace: "payments", name: "api", ips: [Y] })]),
    );
    const result = plan(state, withPolicy({ c1: { namespaces: ["default"] } }));
    expect(summary(result, "payments/api").filter((l) => l.includes(" A "))).to.deep.equal([
      "api.payments.myfed.svc A 198.51.100.2 c2",
      "api.payments.myfed.svc.r2 A 198.51.100.2 c2",
      "api.payments.myfed.svc.z2.r2 A 198.51.100.2 c2",
    ]);
    expect(summary(result)).to.include("@ A 198.51.100.1 c1");
    expect(warningKinds(result)).to.include("namespace-refused c1 payments/api");
  });

  it("zones: a zone listed in another cluster's policy is refused to a cluster without a list", () => {
    const state = federation(
      zonal("owner", "z1", "r1", [svc({ ips: [X] })]),
      zonal("intruder", "z1", "r1", [svc({ ips: [Y] })]),
    );
    const result = plan(state, withPolicy({ owner: { zones: ["z1"] } }));
    const lines = summary(result);
    expect(lines).to.include("@.z1.r1 A 198.51.100.1 c1".replace("c1", "owner"));
    expect(lines).to.not.include("@.z1.r1 A 198.51.100.2 intruder");
    // The region is still the intruder's to claim (no policy lists it).
    expect(lines).to.include("@.r1 A 198.51.100.2 intruder");
    expect(warningKinds(result)).to.include("location-refused intruder -");
  });

  it("zones and regions: a cluster with a list claims only what it lists, from nodes and endpoints", () => {
    const state = federation(
      cluster("c1", {
        nodes: { a: { zone: "z1", region: "r1" }, b: { zone: "z9", region: "r1" }, c: { zone: "z8", region: "r8" } },
        services: [
          svc({
            ips: [X],
            endpoints: [
              { ready: true, nodeName: "b" },
              { ready: true, zone: "z9" },
              { ready: true, nodeName: "c" },
            ],
          }),
        ],
      }),
      zonal("c2", "z9", "r1", []),
    );
    const result = plan(state, withPolicy({ c1: { zones: ["z1"], regions: ["r1"] } }));
    const lines = summary(result);
    expect(lines).to.include("@.r1 A 198.51.100.1 c1");
    expect(lines).to.not.include("@.z9.r1 A 198.51.100.1 c1");
    expect(lines.some((l) => l.includes(".r8"))).to.equal(false);
    expect(lines).to.include("@.z1.r1 CNAME @.r1");
    // c1 lists r1, so c2 (no list of its own) cannot claim it: no z9.r1 at all.
    expect(lines.some((l) => l.includes("z9"))).to.equal(false);
    expect(warningKinds(result)).to.include("location-refused c2 -");
  });

  it("TTL: the cluster's floor and ceiling bound its annotation, so it cannot force the shortest TTL on everyone", () => {
    const ttl = (value: string) => ({ "fedns.io/ttl": value });
    const state = federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X], annotations: ttl("5") })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y], annotations: ttl("120") })]),
    );
    expect(plan(state, OPTIONS).services.get("default/nginx")!.values().next().value!.ttl).to.equal(5);
    const result = plan(state, withPolicy({ c1: { ttl: { min: 60, max: 600 } } }));
    const ttls = new Set([...result.services.get("default/nginx")!.values()].map((r) => r.ttl));
    expect([...ttls]).to.deep.equal([60]);
    expect(warningKinds(result)).to.include("ttl-refused c1 default/nginx");
    const ceiling = plan(state, withPolicy({ c2: { ttl: { max: 10 } } }));
    expect(new Set([...ceiling.services.get("default/nginx")!.values()].map((r) => r.ttl))).to.deep.equal(new Set([5]));
    expect(warningKinds(ceiling)).to.include("ttl-refused c2 default/nginx");
  });
});

describe("federation/limits: past a limit the excess is dropped, deterministically", () => {
  function zoneFlood(name: string, zones: number, services: ServiceShard[] = []): ClusterState {
    const nodes: Record<string, { zone: string; region: string }> = {};
    for (let i = 0; i < zones; i++) nodes[`n${i}`] = { zone: `zone-${String(i).padStart(4, "0")}`, region: "flood" };
    return cluster(name, { nodes, services });
  }

  it("zones: a cluster with 1,000 zones takes only what the others leave; the others keep theirs", () => {
    const state = federation(
      zonal("a", "za", "ra", [svc({ ips: [X] })]),
      zoneFlood("hostile", 1000),
      zonal("z", "zz", "rz", [svc({ ips: [Y] })]),
    );
    const result = plan(state, withPolicy({}, { zones: 10 }));
    const names = new Set(summary(result).map((line) => line.split(" ")[0]!));
    const zoneNames = [...names].filter((name) => name.split(".").length === 3 && !name.startsWith("_"));
    expect(zoneNames).to.have.length(10);
    expect(zoneNames).to.include.members(["@.za.ra", "@.zz.rz"]);
    expect(warningKinds(result)).to.include("limit-zones hostile -");
    expect(warningKinds(result).some((w) => w.startsWith("limit-zones a") || w.startsWith("limit-zones z"))).to.equal(
      false,
    );
    // Default limit: 256 zones, whatever the cluster says.
    const unlimited = plan(
      federation(zonal("a", "za", "ra", [svc({ ips: [X] })]), zoneFlood("hostile", 1000)),
      OPTIONS,
    );
    expect(unlimited.services.get("default/nginx")!.size).to.be.at.most(2 + 256 + 1);
  });

  it("zones: the same zones are kept whatever the input order", () => {
    const forward = zoneFlood("hostile", 50);
    const reversed = cluster("hostile", { nodes: Object.fromEntries([...forward.nodes.entries()].reverse()) });
    const options = withPolicy({}, { zones: 7 });
    const a = plan(federation(zonal("a", "za", "ra", [svc({ ips: [X] })]), forward), options);
    const b = plan(federation(reversed, zonal("a", "za", "ra", [svc({ ips: [X] })])), options);
    expect(summary(a)).to.deep.equal(summary(b));
  });

  it("regions: past the limit a region and its zones are dropped", () => {
    const nodes: Record<string, { zone: string; region: string }> = {};
    for (let i = 0; i < 20; i++) nodes[`n${i}`] = { zone: `z${i}`, region: `r${String(i).padStart(2, "0")}` };
    const result = plan(
      federation(cluster("c1", { nodes, services: [svc({ ips: [X] })] })),
      withPolicy({}, { regions: 3 }),
    );
    const regions = new Set(
      summary(result)
        .map((l) => l.split(" ")[0]!.split(".")[1])
        .filter((r) => r !== undefined),
    );
    expect([...regions].sort()).to.deep.equal(
      ["r00", "r01", "r02", "z0", "z1", "z2"]
        .filter((r) => r.startsWith("r"))
        .concat(["z0", "z1", "z2"])
        .sort(),
    );
    expect(warningKinds(result)).to.include("limit-regions c1 -");
  });

  it("records per service: levels are kept whole, in order; deeper ones dropped", () => {
    const state = federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X, Y] })]),
      zonal("c2", "z2", "r2", [svc({ ips: ["203.0.113.1"] })]),
    );
    const all = plan(state, OPTIONS).services.get("default/nginx")!;
    expect(all.size).to.equal(3 + 2 + 2 + 1 + 1);
    const result = plan(state, withPolicy({}, { recordsPerService: 6 }));
    // global (3) + r1 (2); z1.r1 (2) would pass 6 and is dropped, with everything after it.
    expect(summary(result)).to.deep.equal([
      "@ A 198.51.100.1 c1",
      "@ A 198.51.100.2 c1",
      "@ A 203.0.113.1 c2",
      "@.r1 A 198.51.100.1 c1",
      "@.r1 A 198.51.100.2 c1",
    ]);
    expect(warningKinds(result)).to.include("limit-recordsPerService - default/nginx");
  });

  it("records per cluster: services past the cluster's budget are not federated from it, in key order, incremental plans agree", () => {
    const shards = ["a", "b", "c", "d"].map((name) => svc({ name, ips: [X, Y] }));
    const c1 = zonal("c1", "z1", "r1", shards);
    const c2 = zonal("c2", "z2", "r2", [svc({ name: "d", ips: ["203.0.113.9"] })]);
    const options = withPolicy({}, { recordsPerCluster: 5 });
    const full = plan(federation(c1, c2), options);
    expect(full.services.get("default/a")!.size).to.be.greaterThan(0);
    expect(full.services.get("default/b")!.size).to.be.greaterThan(0);
    expect(full.services.get("default/c")!.size).to.equal(0);
    expect(
      summary(full, "default/d")
        .filter((line) => line.includes(" A "))
        .every((line) => line.endsWith("c2")),
    ).to.equal(true);
    expect(summary(full, "default/d")).to.include("d.default.myfed.svc A 203.0.113.9 c2");
    expect(warningKinds(full)).to.include.members([
      "limit-recordsPerCluster c1 default/c",
      "limit-recordsPerCluster c1 default/d",
    ]);
    // An incremental plan of c alone sees the whole cluster through allServices: same answer.
    const only: ClusterState = {
      ...c1,
      services: new Map([["default/c", c1.services.get("default/c")!]]),
      allServices: c1.services,
    };
    expect(plan(federation(only, c2), options).services.get("default/c")!.size).to.equal(0);
  });

  it("ports per service: the first N distinct ports in (protocol, name, port) order get SRV records", () => {
    const ports = Array.from({ length: 10 }, (_, i) => ({ name: `p${i}`, protocol: "TCP", port: 1000 + i }));
    const state = federation(zonal("c1", "z1", "r1", [svc({ ips: [X], ports })]));
    const result = plan(state, withPolicy({}, { portsPerService: 3 }));
    const srv = summary(result).filter(
      (line) => line.startsWith("_") && line.includes("SRV") && line.split(" ")[0]!.endsWith("@"),
    );
    expect(srv).to.deep.equal(["_p0._tcp.@ SRV 1000 @", "_p1._tcp.@ SRV 1001 @", "_p2._tcp.@ SRV 1002 @"]);
    expect(warningKinds(result)).to.include("limit-portsPerService c1 default/nginx");
  });

  it("addresses per shard: the first N in address order", () => {
    const ips = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 10}`);
    const result = plan(federation(cluster("c1", { services: [svc({ ips })] })), OPTIONS);
    expect(summary(result)).to.have.length(DEFAULT_LIMITS.addressesPerShard);
    expect(summary(result)[0]).to.equal("@ A 198.51.100.10 c1");
    expect(warningKinds(result)).to.include("limit-addressesPerShard c1 default/nginx");
  });

  it("admitFairly shares a budget in rounds, a value proposed twice admitted once", () => {
    const admitted = admitFairly(
      new Map([
        ["big", ["a1", "a2", "a3", "a4", "a5", "shared"]],
        ["small", ["shared", "b1"]],
      ]),
      4,
    );
    expect([...admitted].sort()).to.deep.equal(["a1", "a2", "b1", "shared"]);
  });
});
