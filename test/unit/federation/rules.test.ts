// The building blocks of plan(): names and leaves, shard selection and health, location.
import { expect } from "chai";
import { hasReadyEndpoint, isHealthy, isSelected, shardAddresses, ttlOf } from "../../../src/federation/health.ts";
import { buildLocationUniverse, shardPlaces } from "../../../src/federation/location.ts";
import { addressLeaf, labelProblem, serviceNames, srvLeaf, srvName } from "../../../src/federation/names.ts";
import type { PlanWarning } from "../../../src/federation/state.ts";
import { cluster, svc } from "./fixtures.ts";

describe("federation names", () => {
  it("composes the three levels, zone before region, lowercase", () => {
    const names = serviceNames("MyFed", "Example.COM.", "default", "nginx");
    expect(names.global).to.equal("nginx.default.myfed.svc.example.com");
    expect(names.region("us-east-1")).to.equal("nginx.default.myfed.svc.us-east-1.example.com");
    expect(names.zone("us-east-1a", "us-east-1")).to.equal("nginx.default.myfed.svc.us-east-1a.us-east-1.example.com");
  });

  it("names SRV records `_<port>._<proto>.<level>` with TCP as the default protocol", () => {
    expect(srvName("a.example.com", "TCP", "http")).to.equal("_http._tcp.a.example.com");
    expect(srvName("a.example.com", "SCTP", "Sig")).to.equal("_sig._sctp.a.example.com");
    expect(srvName("a.example.com", "", "http")).to.equal("_http._tcp.a.example.com");
    expect(srvLeaf(8080)).to.equal("p8080");
  });

  it("derives address leaves from a SHA-256 of the address, pinned so keys never churn across versions", () => {
    expect(addressLeaf("east-a", "198.51.100.1")).to.equal("east-a-7f60d869");
    expect(addressLeaf("East-A", "2001:db8::1")).to.equal("east-a-5afd19e8");
  });

  it("refuses labels that are not DNS labels or that CoreDNS reads as wildcards", () => {
    expect(labelProblem("us-east-1a")).to.equal(undefined);
    expect(labelProblem("US-East-1")).to.equal(undefined);
    for (const bad of ["*", "any", "ANY", "a.b", "-a", "a".repeat(64), "", "a b"]) {
      expect(labelProblem(bad), bad).to.be.a("string");
    }
  });
});

describe("federation health", () => {
  it("selects LoadBalancer Services in the selected namespaces that did not opt out", () => {
    expect(isSelected(svc(), [])).to.equal(true);
    expect(isSelected(svc({ type: "NodePort" }), [])).to.equal(false);
    expect(isSelected(svc({ annotations: { "fedns.io/federate": "false" } }), [])).to.equal(false);
    expect(isSelected(svc({ annotations: { "fedns.io/federate": "yes" } }), [])).to.equal(true);
    expect(isSelected(svc({ namespace: "prod" }), ["prod"])).to.equal(true);
    expect(isSelected(svc(), ["prod"])).to.equal(false);
  });

  it("normalizes, deduplicates and sorts addresses, and reports what is not an address", () => {
    const shard = svc({
      ingress: [
        { ip: "2001:DB8::0:1" },
        { ip: "198.51.100.9" },
        { ip: "::ffff:198.51.100.9" },
        { hostname: "lb.example.net" },
        { hostname: "unresolved.example.net" },
        { ip: "01.2.3.4" },
      ],
    });
    const result = shardAddresses(shard, new Map([["lb.example.net", ["198.51.100.1", "junk"]]]));
    expect(result.addresses).to.deep.equal([
      { address: "198.51.100.1", family: "A" },
      { address: "198.51.100.9", family: "A" },
      { address: "2001:db8::1", family: "AAAA" },
    ]);
    expect(result.invalid).to.deep.equal(["junk", "01.2.3.4"]);
  });

  it("is healthy with an address and a ready endpoint, or an address alone when endpoints are not required", () => {
    const address = [{ address: "198.51.100.1", family: "A" as const }];
    expect(isHealthy(svc({ endpoints: [{ ready: undefined }] }), address)).to.equal(true);
    expect(isHealthy(svc({ endpoints: [{ ready: false }] }), address)).to.equal(false);
    expect(isHealthy(svc({ endpoints: [{ ready: true }] }), [])).to.equal(false);
    const optional = svc({ endpoints: [], annotations: { "fedns.io/require-endpoints": "false" } });
    expect(isHealthy(optional, address)).to.equal(true);
    expect(hasReadyEndpoint(optional)).to.equal(false);
  });

  it("clamps the TTL annotation and explains a bad one", () => {
    const options = { default: 30, min: 10, max: 100 };
    expect(ttlOf(svc({ annotations: { "fedns.io/ttl": "50" } }), options)).to.deep.equal({ ttl: 50 });
    expect(ttlOf(svc({ annotations: { "fedns.io/ttl": "500" } }), options)).to.deep.equal({ ttl: 100 });
    const bad = ttlOf(svc({ annotations: { "fedns.io/ttl": "5m" } }), options);
    expect(bad.ttl).to.equal(30);
    expect("problem" in bad && bad.problem).to.contain('"5m"');
  });
});

describe("federation location", () => {
  it("collects every (zone, region) from nodes and config of every cluster", () => {
    const warnings: PlanWarning[] = [];
    const universe = buildLocationUniverse(
      [
        cluster("a", {
          nodes: { n1: { zone: "z1", region: "r1" }, n2: { region: "r2" } },
          config: { zone: "zc", region: "rc" },
        }),
        cluster("b", { config: { zone: "z3", region: "r1" } }),
        cluster("c", {}),
      ],
      (warning) => warnings.push(warning),
    );
    expect(
      Object.fromEntries([...universe.regions].map(([region, zones]) => [region, [...zones].sort()])),
    ).to.deep.equal({
      r1: ["z1", "z3"],
      r2: [],
      rc: ["zc"],
    });
    // Nodes win over config for where the cluster's own shards are.
    expect(universe.clusterPlaces.get("a")).to.deep.equal([{ region: "r2" }, { region: "r1", zone: "z1" }]);
    expect(universe.clusterPlaces.get("b")).to.deep.equal([{ region: "r1", zone: "z3" }]);
    expect(universe.clusterPlaces.get("c")).to.deep.equal([]);
    expect(warnings).to.deep.equal([]);
  });

  it("does not guess the region of an endpoint zone that several regions share", () => {
    const warnings: PlanWarning[] = [];
    const warn = (warning: PlanWarning): void => {
      warnings.push(warning);
    };
    const c1 = cluster("c1", { config: { region: "r0" }, services: [] });
    const clusters = [
      c1,
      cluster("c2", { nodes: { n: { zone: "shared", region: "r1" } } }),
      cluster("c3", { nodes: { n: { zone: "shared", region: "r2" } } }),
    ];
    const universe = buildLocationUniverse(clusters, warn);
    const shard = svc({ endpoints: [{ ready: true, zone: "shared" }] });
    expect(shardPlaces(shard, c1, universe, warn)).to.deep.equal([{ region: "r0" }]);
    expect(warnings.map((w) => w.kind)).to.deep.equal(["zone-without-region"]);
    // The cluster's own nodes settle it.
    const c2 = clusters[1]!;
    expect(shardPlaces(shard, c2, universe, warn)).to.deep.equal([{ region: "r1", zone: "shared" }]);
  });
});
