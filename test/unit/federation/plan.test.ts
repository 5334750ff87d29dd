import { createHash } from "node:crypto";
import { expect } from "chai";
import { plan } from "../../../src/federation/plan.ts";
import type { FederationState, Plan, PlanOptions } from "../../../src/federation/state.ts";
import { pathOfName } from "../../../src/records/name.ts";
import { decodeService, encodeService, hostType } from "../../../src/records/service.ts";
import { cluster, federation, OPTIONS, summary, svc, warningKinds, zonal } from "./fixtures.ts";

const X = "198.51.100.1";
const Y = "198.51.100.2";
const V6 = "2001:db8::1";
const HTTP = { name: "http", protocol: "TCP", port: 80 };

/** `at(["@", "@.r1"], "A 1.2.3.4 c1")` -> one summary line per level. */
function at(levels: string[], rest: string): string[] {
  return levels.map((level) => `${level} ${rest}`);
}

interface Case {
  title: string;
  state: FederationState;
  options?: Partial<PlanOptions>;
  records: string[];
  /** `kind cluster service` lines; default none. */
  warnings?: string[];
}

const CASES: Case[] = [
  {
    title: "Federation v1: healthy c1 in foozone/fooregion, c2 in barzone/barregion without ready endpoints",
    state: federation(
      zonal("c1", "foozone", "fooregion", [svc({ ips: [X] })]),
      zonal("c2", "barzone", "barregion", [svc({ ips: [Y], endpoints: [] })]),
    ),
    records: [
      ...at(["@", "@.fooregion", "@.foozone.fooregion"], `A ${X} c1`),
      "@.barregion CNAME @",
      "@.barzone.barregion CNAME @.barregion",
    ],
  },
  {
    title: "dual-stack: A and AAAA at every level, IPv6 normalized, IPv4-mapped IPv6 served as A",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X, "2001:DB8:0:0::1", "::ffff:198.51.100.7"] })])),
    records: [
      ...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
      ...at(["@", "@.r1", "@.z1.r1"], "A 198.51.100.7 c1"),
      ...at(["@", "@.r1", "@.z1.r1"], `AAAA ${V6} c1`),
    ],
  },
  {
    title: "a level with addresses of one family only holds them and gets no CNAME",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [V6] })]), zonal("c2", "z2", "r2", [svc({ ips: [Y] })])),
    records: [...at(["@", "@.r1", "@.z1.r1"], `AAAA ${V6} c1`), ...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`)],
  },
  {
    title: "hostname ingress: the addresses the controller resolved it to",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ingress: [{ hostname: "lb-1.elb.example.net" }] })], {
        resolved: { "lb-1.elb.example.net": ["198.51.100.10", V6] },
      }),
    ),
    records: [...at(["@", "@.r1", "@.z1.r1"], "A 198.51.100.10 c1"), ...at(["@", "@.r1", "@.z1.r1"], `AAAA ${V6} c1`)],
  },
  {
    title: "hostname ingress not resolved yet: no addresses, so the shard is not healthy",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ingress: [{ hostname: "lb-1.elb.example.net" }] })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })]),
    ),
    records: [...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`), "@.r1 CNAME @", "@.z1.r1 CNAME @.r1"],
  },
  {
    title: "an ingress with both ip and hostname uses the ip",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ingress: [{ ip: X, hostname: "lb-1.elb.example.net" }] })], {
        resolved: { "lb-1.elb.example.net": ["198.51.100.10"] },
      }),
    ),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
  },
  {
    title: "invalid addresses are skipped with a warning",
    state: federation(
      zonal(
        "c1",
        "z1",
        "r1",
        [
          svc({
            ingress: [
              ...[X, "not-an-ip", "300.1.1.1", "fe80::1%eth0"].map((ip) => ({ ip })),
              { hostname: "lb.example.net" },
            ],
          }),
        ],
        { resolved: { "lb.example.net": ["bogus"] } },
      ),
    ),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
    warnings: [
      "invalid-address c1 default/nginx",
      "invalid-address c1 default/nginx",
      "invalid-address c1 default/nginx",
      "invalid-address c1 default/nginx",
    ],
  },
  {
    title: "a shard whose only address is invalid is not healthy",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: ["999.0.0.1"] })])),
    records: [],
    warnings: ["invalid-address c1 default/nginx"],
  },
  {
    title: "the same address twice in one cluster: one record per level",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X, X] })])),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
  },
  {
    title: "the same address in two clusters: one record per (cluster, address)",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X] })]), zonal("c2", "z1", "r1", [svc({ ips: [X] })])),
    records: [...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`), ...at(["@", "@.r1", "@.z1.r1"], `A ${X} c2`)],
  },
  {
    title:
      "zone and region names exist for every location known in the federation, clusters without the service included",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X] })]),
      zonal("c2", "z2", "r1", []),
      cluster("c3", { nodes: { a: { zone: "z3", region: "r3" }, b: { zone: "z4", region: "r3" } } }),
      cluster("c4", { config: { zone: "z5", region: "r5" } }),
    ),
    records: [
      ...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
      "@.z2.r1 CNAME @.r1",
      "@.r3 CNAME @",
      "@.z3.r3 CNAME @.r3",
      "@.z4.r3 CNAME @.r3",
      "@.r5 CNAME @",
      "@.z5.r5 CNAME @.r5",
    ],
  },
  // Location rules.
  {
    title: "location: the zones of ready endpoints (EndpointSlice zone)",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "z1", region: "r1" }, n2: { zone: "z2", region: "r1" } },
        services: [svc({ ips: [X], endpoints: [{ ready: true, zone: "z2" }] })],
      }),
    ),
    records: [...at(["@", "@.r1", "@.z2.r1"], `A ${X} c1`), "@.z1.r1 CNAME @.r1"],
  },
  {
    title: "location: endpoints without zone are located by their node",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "z1", region: "r1" }, n2: { zone: "z2", region: "r1" } },
        services: [svc({ ips: [X], endpoints: [{ ready: true, nodeName: "n2" }] })],
      }),
    ),
    records: [...at(["@", "@.r1", "@.z2.r1"], `A ${X} c1`), "@.z1.r1 CNAME @.r1"],
  },
  {
    title: "location: the EndpointSlice zone wins over the node's labels",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "z1", region: "r1" }, n2: { zone: "z2", region: "r1" } },
        services: [svc({ ips: [X], endpoints: [{ ready: true, zone: "z1", nodeName: "n2" }] })],
      }),
    ),
    records: [...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`), "@.z2.r1 CNAME @.r1"],
  },
  {
    title: "location: only ready endpoints (ready unset counts as ready) locate a shard",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "z1", region: "r1" }, n2: { zone: "z2", region: "r1" } },
        services: [
          svc({
            ips: [X],
            endpoints: [
              { ready: false, zone: "z1" },
              { ready: undefined, zone: "z2" },
            ],
          }),
        ],
      }),
    ),
    records: [...at(["@", "@.r1", "@.z2.r1"], `A ${X} c1`), "@.z1.r1 CNAME @.r1"],
  },
  {
    title: "location: endpoints spread over zones of two regions place the shard in all of them",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "z1", region: "r1" }, n2: { zone: "z2", region: "r2" }, n3: { zone: "z3", region: "r2" } },
        services: [
          svc({
            ips: [X],
            endpoints: [
              { ready: true, zone: "z1" },
              { ready: true, nodeName: "n2" },
            ],
          }),
        ],
      }),
    ),
    records: [...at(["@", "@.r1", "@.z1.r1", "@.r2", "@.z2.r2"], `A ${X} c1`), "@.z3.r2 CNAME @.r2"],
  },
  {
    title: "location: endpoints without location fall back to every zone of the cluster's nodes",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "z1", region: "r1" }, n2: { zone: "z2", region: "r1" } },
        services: [svc({ ips: [X], endpoints: [{ ready: true }] })],
      }),
    ),
    records: at(["@", "@.r1", "@.z1.r1", "@.z2.r1"], `A ${X} c1`),
  },
  {
    title: "location: an endpoint zone's region is found from another cluster's nodes",
    state: federation(
      cluster("c1", { services: [svc({ ips: [X], endpoints: [{ ready: true, zone: "z9" }] })] }),
      zonal("c2", "z9", "r9", []),
    ),
    records: at(["@", "@.r9", "@.z9.r9"], `A ${X} c1`),
  },
  {
    title: "location: an endpoint zone no node maps to a region falls back to the cluster's nodes, with a warning",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X], endpoints: [{ ready: true, zone: "z7" }] })])),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
    warnings: ["zone-without-region c1 default/nginx"],
  },
  {
    title: "location: the cluster config when nodes carry no labels",
    state: federation(
      cluster("c1", { config: { zone: "z1", region: "r1" }, nodes: { n1: {} }, services: [svc({ ips: [X] })] }),
    ),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
  },
  {
    title: "location: a region without zones gets a region name only",
    state: federation(
      cluster("c1", { config: { region: "r1" }, services: [svc({ ips: [X] })] }),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })]),
    ),
    records: [...at(["@", "@.r1"], `A ${X} c1`), ...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`)],
  },
  {
    title: "location: none at all -> the global name only, with a warning",
    state: federation(cluster("c1", { services: [svc({ ips: [X] })] }), zonal("c2", "z2", "r2", [svc({ ips: [Y] })])),
    records: [`@ A ${X} c1`, ...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`)],
    warnings: ["no-location c1 default/nginx"],
  },
  {
    title: "location: a node zone without a region is skipped with a warning",
    state: federation(cluster("c1", { nodes: { n1: { zone: "z1" } }, services: [svc({ ips: [X] })] })),
    records: [`@ A ${X} c1`],
    warnings: ["no-location c1 default/nginx", "zone-without-region c1 -"],
  },
  {
    title: "location: invalid zone and region labels are skipped with a warning",
    state: federation(
      cluster("c1", {
        nodes: { n1: { zone: "rack1.dc1", region: "r1" }, n2: { zone: "z2", region: "any" } },
        services: [svc({ ips: [X] })],
      }),
    ),
    records: at(["@", "@.r1"], `A ${X} c1`),
    warnings: ["invalid-label c1 -", "invalid-label c1 -", "zone-without-region c1 -"],
  },
  {
    title: "location: zone and region labels are lowercased",
    state: federation(zonal("c1", "US-East-1a", "US-East-1", [svc({ ips: [X] })])),
    records: at(["@", "@.us-east-1", "@.us-east-1a.us-east-1"], `A ${X} c1`),
  },
  // Which shards count.
  {
    title: "health: no endpoints at all -> not healthy -> no records",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X], endpoints: [] })])),
    records: [],
  },
  {
    title: "health: only not-ready endpoints -> not healthy",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X], endpoints: [{ ready: false, zone: "z1" }] })])),
    records: [],
  },
  {
    title: "health: no ingress address -> not healthy",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [] })])),
    records: [],
  },
  {
    title: "health: require-endpoints false makes addresses alone enough (located by the cluster's nodes)",
    state: federation(
      zonal("c1", "z1", "r1", [
        svc({ ips: [X], endpoints: [], annotations: { "fedns.io/require-endpoints": "false" } }),
      ]),
    ),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
  },
  {
    title: "health: require-endpoints false still needs an address",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [], annotations: { "fedns.io/require-endpoints": "false" } })]),
    ),
    records: [],
  },
  {
    title: "selection: only type LoadBalancer",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X], type: "ClusterIP" })])),
    records: [],
  },
  {
    title: "selection: fedns.io/federate false opts out",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X], annotations: { "fedns.io/federate": "false" } })])),
    records: [],
  },
  {
    title: "selection: opting out in one cluster withdraws only that shard",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X], annotations: { "fedns.io/federate": "False" } })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y], annotations: { "fedns.io/federate": "true" } })]),
    ),
    records: [...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`), "@.r1 CNAME @", "@.z1.r1 CNAME @.r1"],
  },
  {
    title: "selection: namespaces restrict what is federated",
    state: federation(zonal("c1", "z1", "r1", [svc({ ips: [X] })])),
    options: { namespaces: ["prod"] },
    records: [],
  },
  // Stale clusters.
  {
    title: "stale: a stale cluster's shards are withdrawn while an active cluster is healthy",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X] })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })], { status: "stale" }),
    ),
    records: [...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`), "@.r2 CNAME @", "@.z2.r2 CNAME @.r2"],
  },
  {
    title: "stale: the last addresses of a service are kept when no active shard is healthy",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X], endpoints: [] })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })], { status: "stale" }),
    ),
    records: [...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`), "@.r1 CNAME @", "@.z1.r1 CNAME @.r1"],
  },
  {
    title: "stale: every stale shard is kept when only stale clusters have the service",
    state: federation(
      zonal("c1", "z1", "r1", []),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })], { status: "stale" }),
      zonal("c3", "z3", "r3", [svc({ ips: [X] })], { status: "stale" }),
    ),
    records: [
      ...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`),
      ...at(["@", "@.r3", "@.z3.r3"], `A ${X} c3`),
      "@.r1 CNAME @",
      "@.z1.r1 CNAME @.r1",
    ],
  },
  {
    title: "stale: an unhealthy stale shard is not kept",
    state: federation(zonal("c2", "z2", "r2", [svc({ ips: [Y], endpoints: [] })], { status: "stale" })),
    records: [],
  },
  // SRV.
  {
    title: "SRV: one name per named port and protocol at every level; unnamed ports get none",
    state: federation(
      zonal("c1", "z1", "r1", [
        svc({
          ips: [X],
          ports: [HTTP, { protocol: "TCP", port: 9000 }, { name: "dns", protocol: "UDP", port: 53 }],
        }),
      ]),
    ),
    records: [
      ...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
      "_http._tcp.@ SRV 80 @",
      "_http._tcp.@.r1 SRV 80 @.r1",
      "_http._tcp.@.z1.r1 SRV 80 @.z1.r1",
      "_dns._udp.@ SRV 53 @",
      "_dns._udp.@.r1 SRV 53 @.r1",
      "_dns._udp.@.z1.r1 SRV 53 @.z1.r1",
    ],
  },
  {
    title: "SRV: ports that differ between shards get one record each; targets hold shards with the port",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X], ports: [HTTP, { name: "dns", protocol: "UDP", port: 53 }] })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y], ports: [{ name: "http", protocol: "TCP", port: 8080 }] })]),
    ),
    records: [
      ...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
      ...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`),
      "_http._tcp.@ SRV 80 @",
      "_http._tcp.@ SRV 8080 @",
      "_http._tcp.@.r1 SRV 80 @.r1",
      "_http._tcp.@.z1.r1 SRV 80 @.z1.r1",
      "_http._tcp.@.r2 SRV 8080 @.r2",
      "_http._tcp.@.z2.r2 SRV 8080 @.z2.r2",
      "_dns._udp.@ SRV 53 @",
      "_dns._udp.@.r1 SRV 53 @.r1",
      "_dns._udp.@.z1.r1 SRV 53 @.z1.r1",
      "_dns._udp.@.r2 SRV 53 @",
      "_dns._udp.@.z2.r2 SRV 53 @",
    ],
  },
  {
    title: "SRV: the target is never a CNAME name but the nearest level that holds addresses",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X], ports: [HTTP] })]),
      zonal("c2", "z2", "r1", []),
      zonal("c3", "z3", "r3", []),
    ),
    records: [
      ...at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
      "@.z2.r1 CNAME @.r1",
      "@.r3 CNAME @",
      "@.z3.r3 CNAME @.r3",
      "_http._tcp.@ SRV 80 @",
      "_http._tcp.@.r1 SRV 80 @.r1",
      "_http._tcp.@.z1.r1 SRV 80 @.z1.r1",
      "_http._tcp.@.z2.r1 SRV 80 @.r1",
      "_http._tcp.@.r3 SRV 80 @",
      "_http._tcp.@.z3.r3 SRV 80 @",
    ],
  },
  {
    title: "SRV: an invalid port name is skipped with a warning",
    state: federation(
      zonal("c1", "z1", "r1", [svc({ ips: [X], ports: [{ name: "bad.name", protocol: "TCP", port: 1 }] })]),
    ),
    records: at(["@", "@.r1", "@.z1.r1"], `A ${X} c1`),
    warnings: ["invalid-label c1 default/nginx"],
  },
  // Invalid names.
  {
    title: "a cluster name that cannot form a leaf is skipped with a warning",
    state: federation(
      zonal("bad.cluster", "z1", "r1", [svc({ ips: [X] })]),
      zonal("c2", "z2", "r2", [svc({ ips: [Y] })]),
    ),
    records: [...at(["@", "@.r2", "@.z2.r2"], `A ${Y} c2`), "@.r1 CNAME @", "@.z1.r1 CNAME @.r1"],
    warnings: ["invalid-label bad.cluster -"],
  },
];

/** Structural rules every plan must keep, whatever the state. */
function checkInvariants(result: Plan, options: PlanOptions): void {
  for (const [service, records] of result.services) {
    const groups = new Map<string, string[]>();
    for (const [key, value] of records) {
      expect(value.group, key).to.be.a("string");
      const group = value.group!;
      const base = `${pathOfName(options.prefix, group)}/`;
      expect(key.startsWith(base), `${key} lies under its group ${group}`).to.equal(true);
      expect(key.slice(base.length)).to.match(/^[a-z0-9][a-z0-9-]*$/, key);
      expect(value.owner).to.equal(options.owner);
      expect(value.text).to.equal(undefined);
      const decoded = decodeService(encodeService(value));
      expect(decoded.ok, `${service} ${key}`).to.equal(true);
      const kind = value.port !== undefined ? "SRV" : hostType(value.host).kind;
      expect(value.cluster !== undefined, `${key}: cluster only on address records`).to.equal(
        kind === "A" || kind === "AAAA",
      );
      groups.set(group, [...(groups.get(group) ?? []), kind]);
    }
    for (const [group, kinds] of groups) {
      if (kinds.includes("CNAME")) expect(kinds, `${group}: a CNAME stands alone`).to.deep.equal(["CNAME"]);
    }
    for (const value of records.values()) {
      if (value.port === undefined) continue;
      const targetKinds = groups.get(value.host) ?? [];
      expect(
        targetKinds.some((kind) => kind === "A" || kind === "AAAA"),
        `SRV ${value.group} -> ${value.host} holds addresses`,
      ).to.equal(true);
    }
  }
}

describe("federation plan()", () => {
  for (const c of CASES) {
    it(c.title, () => {
      const options = { ...OPTIONS, ...c.options };
      const result = plan(c.state, options);
      expect(summary(result)).to.deep.equal([...c.records].sort());
      expect(warningKinds(result)).to.deep.equal([...(c.warnings ?? [])].sort());
      checkInvariants(result, options);
    });
  }

  it("writes the keys and values of SPEC §3 byte for byte", () => {
    const state = federation(zonal("east-a", "us-east-1a", "us-east-1", [svc({ ips: [X], ports: [HTTP] })]));
    const records = plan(state, OPTIONS).services.get("default/nginx")!;
    const hash = createHash("sha256").update(X).digest("hex").slice(0, 8);
    const zoneName = "nginx.default.myfed.svc.us-east-1a.us-east-1.example.com";
    const zoneKey = `/skydns/com/example/us-east-1/us-east-1a/svc/myfed/default/nginx/east-a-${hash}`;
    expect(encodeService(records.get(zoneKey)!)).to.equal(
      `{"host":"${X}","ttl":30,"group":"${zoneName}","owner":"fedns/myfed","cluster":"east-a"}`,
    );
    const srvKey = "/skydns/com/example/us-east-1/svc/myfed/default/nginx/_tcp/_http/p80";
    expect(encodeService(records.get(srvKey)!)).to.equal(
      '{"host":"nginx.default.myfed.svc.us-east-1.example.com","port":80,"priority":10,"weight":100,"ttl":30,' +
        '"group":"_http._tcp.nginx.default.myfed.svc.us-east-1.example.com","owner":"fedns/myfed"}',
    );
    expect([...records.keys()]).to.deep.equal([...records.keys()].sort());
    expect([...records.keys()]).to.include.members([
      `/skydns/com/example/svc/myfed/default/nginx/east-a-${hash}`,
      `/skydns/com/example/us-east-1/svc/myfed/default/nginx/east-a-${hash}`,
      "/skydns/com/example/svc/myfed/default/nginx/_tcp/_http/p80",
      "/skydns/com/example/us-east-1/us-east-1a/svc/myfed/default/nginx/_tcp/_http/p80",
    ]);
  });

  it("writes a fallback CNAME under the leaf `cname`, without cluster", () => {
    const state = federation(zonal("c1", "z1", "r1", [svc({ ips: [X] })]), zonal("c2", "z2", "r2", []));
    const records = plan(state, OPTIONS).services.get("default/nginx")!;
    expect(encodeService(records.get("/skydns/com/example/r2/z2/svc/myfed/default/nginx/cname")!)).to.equal(
      '{"host":"nginx.default.myfed.svc.r2.example.com","ttl":30,"group":"nginx.default.myfed.svc.z2.r2.example.com","owner":"fedns/myfed"}',
    );
  });

  it("uses the prefix, federation, domain, owner and SRV priority/weight of the options", () => {
    const options: PlanOptions = {
      ...OPTIONS,
      federation: "fed2",
      domain: "Corp.Example.",
      prefix: "dns/",
      owner: "fedns/fed2",
      srv: { priority: 5, weight: 7 },
    };
    const state = federation(cluster("c1", { services: [svc({ ips: [X], ports: [HTTP] })] }));
    const records = plan(state, options).services.get("default/nginx")!;
    const hash = createHash("sha256").update(X).digest("hex").slice(0, 8);
    expect([...records.keys()]).to.deep.equal([
      "/dns/example/corp/svc/fed2/default/nginx/_tcp/_http/p80",
      `/dns/example/corp/svc/fed2/default/nginx/c1-${hash}`,
    ]);
    const srv = records.get("/dns/example/corp/svc/fed2/default/nginx/_tcp/_http/p80")!;
    expect(srv).to.deep.include({ host: "nginx.default.fed2.svc.corp.example", priority: 5, weight: 7, port: 80 });
    expect(srv.owner).to.equal("fedns/fed2");
  });

  describe("which services appear in the plan", () => {
    it("maps a service with no healthy shard to an empty map, and leaves out services no cluster has", () => {
      const state = federation(
        zonal("c1", "z1", "r1", [svc({ ips: [X], endpoints: [] }), svc({ name: "web", ips: [Y] })]),
      );
      const result = plan(state, OPTIONS);
      expect([...result.services.keys()]).to.deep.equal(["default/nginx", "default/web"]);
      expect(result.services.get("default/nginx")!.size).to.equal(0);
      expect(result.services.get("default/web")!.size).to.equal(3);
      expect(result.services.has("default/gone")).to.equal(false);
    });

    it("federates only the configured namespaces", () => {
      const state = federation(zonal("c1", "z1", "r1", [svc({ ips: [X] }), svc({ namespace: "prod", ips: [Y] })]));
      const result = plan(state, { ...OPTIONS, namespaces: ["prod"] });
      expect(result.services.get("default/nginx")!.size).to.equal(0);
      expect(summary(result, "prod/nginx")).to.deep.equal([
        `nginx.prod.myfed.svc A ${Y} c1`,
        `nginx.prod.myfed.svc.r1 A ${Y} c1`,
        `nginx.prod.myfed.svc.z1.r1 A ${Y} c1`,
      ]);
    });
  });

  describe("TTL", () => {
    const table: [string | undefined, number, boolean][] = [
      [undefined, 30, false],
      ["60", 60, false],
      [" 45 ", 45, false],
      ["1", 5, false],
      ["0", 5, false],
      ["-3", 5, false],
      ["99999", 3600, false],
      ["abc", 30, true],
      ["1.5", 30, true],
      ["30s", 30, true],
      ["", 30, true],
    ];
    for (const [annotation, ttl, warned] of table) {
      it(`fedns.io/ttl ${JSON.stringify(annotation)} -> ${ttl}${warned ? " with a warning" : ""}`, () => {
        const annotations: Record<string, string> = annotation === undefined ? {} : { "fedns.io/ttl": annotation };
        const state = federation(
          zonal("c1", "z1", "r1", [svc({ ips: [X], annotations, ports: [HTTP] })]),
          zonal("c2", "z2", "r2", []),
        );
        const result = plan(state, OPTIONS);
        const records = [...result.services.get("default/nginx")!.values()];
        expect(records.length).to.be.greaterThan(0);
        expect(new Set(records.map((record) => record.ttl))).to.deep.equal(new Set([ttl]));
        expect(warningKinds(result)).to.deep.equal(warned ? ["bad-ttl c1 default/nginx"] : []);
      });
    }

    it("uses the configured default", () => {
      const state = federation(zonal("c1", "z1", "r1", [svc({ ips: [X] })]));
      const records = [...plan(state, { ...OPTIONS, ttl: { default: 120, min: 5, max: 3600 } }).services.values()];
      expect([...records[0]!.values()].map((record) => record.ttl)).to.deep.equal([120, 120, 120]);
    });

    it("gives every record of a service the shortest TTL of its shards (one TTL per RRset)", () => {
      const state = federation(
        zonal("c1", "z1", "r1", [svc({ ips: [X], annotations: { "fedns.io/ttl": "120" } })]),
        zonal("c2", "z2", "r2", [svc({ ips: [Y], annotations: { "fedns.io/ttl": "15" } })]),
      );
      const records = [...plan(state, OPTIONS).services.get("default/nginx")!.values()];
      expect(new Set(records.map((record) => record.ttl))).to.deep.equal(new Set([15]));
    });
  });

  describe("invalid names", () => {
    it("skips a service whose name is not a DNS label", () => {
      const state = federation(zonal("c1", "z1", "r1", [svc({ name: "x".repeat(64), ips: [X] })]));
      const result = plan(state, OPTIONS);
      expect(result.services.get(`default/${"x".repeat(64)}`)!.size).to.equal(0);
      expect(warningKinds(result)).to.deep.equal([`invalid-label - default/${"x".repeat(64)}`]);
    });

    it("skips a namespace that would be read as a wildcard", () => {
      const state = federation(zonal("c1", "z1", "r1", [svc({ namespace: "any", ips: [X] })]));
      const result = plan(state, OPTIONS);
      expect(result.services.get("any/nginx")!.size).to.equal(0);
      expect(warningKinds(result)).to.deep.equal(["invalid-label - any/nginx"]);
    });

    // name(63) + namespace(63) + "myfed.svc" + dots = 138 characters before the domain.
    const name = "n".repeat(63);
    const namespace = "s".repeat(63);
    const key = `${namespace}/${name}`;
    const domainOf = (length: number): string => `${"a".repeat(60)}.${"b".repeat(length - 65)}.com`;

    it("skips a service whose global name is longer than 253 characters", () => {
      const state = federation(zonal("c1", "z1", "r1", [svc({ name, namespace, ips: [X] })]));
      const result = plan(state, { ...OPTIONS, domain: domainOf(116) });
      expect(result.services.get(key)!.size).to.equal(0);
      expect(warningKinds(result)).to.deep.equal([`invalid-name - ${key}`]);
    });

    it("skips only the names that are too long (a long zone, SRV names) and keeps the others", () => {
      const state = federation(zonal("c1", "zone-abc", "r1", [svc({ name, namespace, ips: [X], ports: [HTTP] })]));
      const options = { ...OPTIONS, domain: domainOf(107) };
      const result = plan(state, options);
      const groups = [...result.services.get(key)!.values()].map((record) => record.group!.length).sort();
      // global (245) and region (248) are written; the zone (257) and every SRV name (256+) are not.
      expect(groups).to.deep.equal([245, 248]);
      expect(warningKinds(result)).to.deep.equal([
        `invalid-name - ${key}`,
        `invalid-name - ${key}`,
        `invalid-name - ${key}`,
      ]);
    });
  });

  describe("determinism", () => {
    function shuffled<T>(items: T[], seed: number): T[] {
      const copy = [...items];
      let state = seed;
      for (let i = copy.length - 1; i > 0; i--) {
        state = (state * 1103515245 + 12345) % 2147483648;
        const j = state % (i + 1);
        [copy[i], copy[j]] = [copy[j]!, copy[i]!];
      }
      return copy;
    }

    function bigState(seed: number): FederationState {
      const order = <T>(items: T[]): T[] => (seed === 0 ? items : shuffled(items, seed));
      const shards = (cluster: number) =>
        order(
          ["nginx", "web", "api", "db"].map((name, i) =>
            svc({
              name,
              ingress: order([{ ip: `198.51.100.${cluster * 10 + i}` }, { ip: `2001:db8::${cluster}:${i}` }]),
              ports: order([HTTP, { name: "grpc", protocol: "TCP", port: 9000 + cluster }]),
              endpoints: order([
                { ready: true, zone: `z${cluster}` },
                { ready: true, nodeName: `n${(cluster + 1) % 4}` },
                { ready: false, zone: "z0" },
              ]),
              annotations: i === 3 ? { "fedns.io/ttl": "bogus" } : {},
            }),
          ),
        );
      const nodes = order([0, 1, 2, 3].map((n) => [`n${n}`, { zone: `z${n}`, region: `r${n % 2}` }] as const));
      const clusters = order([0, 1, 2, 3]).map((c) =>
        cluster(`c${c}`, {
          status: c === 3 ? "stale" : "active",
          nodes: Object.fromEntries(order(nodes)),
          services: shards(c),
        }),
      );
      return federation(...clusters);
    }

    function encoded(result: Plan): [string, [string, string][]][] {
      return [...result.services].map(([service, records]) => [
        service,
        [...records].map(([key, value]) => [key, encodeService(value)] as [string, string]),
      ]);
    }

    it("gives byte-identical keys and values (and the same warnings) whatever the input order", () => {
      const reference = plan(bigState(0), OPTIONS);
      expect(reference.services.get("default/nginx")!.size).to.be.greaterThan(20);
      for (const seed of [1, 7, 42, 1234, 99991]) {
        const result = plan(bigState(seed), OPTIONS);
        expect(encoded(result), `seed ${seed}`).to.deep.equal(encoded(reference));
        expect(result.warnings, `seed ${seed}`).to.deep.equal(reference.warnings);
      }
    });

    it("gives the same plan twice for the same state and does not modify the state", () => {
      const state = bigState(3);
      const before = JSON.stringify([...state.clusters.values()].map((c) => [...c.services.values()]));
      const first = plan(state, OPTIONS);
      const second = plan(state, OPTIONS);
      expect(encoded(second)).to.deep.equal(encoded(first));
      expect(JSON.stringify([...state.clusters.values()].map((c) => [...c.services.values()]))).to.equal(before);
      checkInvariants(first, OPTIONS);
    });
  });
});
