import { expect } from "chai";
import { loadScenario, parseScenario } from "../../../src/sim/scenario.ts";
import { seedObjects } from "../../../src/sim/seed.ts";
import { DEV_SCENARIO } from "../../support/sim.ts";

describe("sim scenario", () => {
  it("loads the dev scenario: three clusters, two regions, three zones", async () => {
    const scenario = await loadScenario(DEV_SCENARIO);
    expect(scenario.clusters.map((c) => c.name)).to.deep.equal(["east-a", "east-b", "west-a"]);
    const nodes = scenario.clusters.flatMap((c) => c.nodes);
    expect(new Set(nodes.map((n) => n.region)).size).to.equal(2);
    expect(new Set(nodes.map((n) => n.zone)).size).to.equal(3);
    const services = scenario.clusters.flatMap((c) => c.services);
    expect(services.some((s) => s.ingress.some((i) => i.ip?.includes(":")))).to.equal(true);
    expect(services.some((s) => s.ingress.length > 0 && s.ingress.every((i) => i.hostname !== undefined))).to.equal(
      true,
    );
    expect(services.some((s) => s.type === "ClusterIP")).to.equal(true);
    expect(services.some((s) => s.endpoints?.length && s.endpoints.every((e) => !e.ready))).to.equal(true);
  });

  it("names the bad field", () => {
    const bad = {
      clusters: [{ name: "a", services: [{ name: "web", ports: [{ name: "http", port: 70000 }] }] }],
    };
    expect(() => parseScenario(bad, "x.yaml")).to.throw(/clusters\[0\]\.services\[0\]\.ports\[0\]\.port/);
    expect(() => parseScenario({ clusters: [{ name: "Bad_Name" }] })).to.throw(/clusters\[0\]\.name/);
    expect(() => parseScenario({ clusters: [{ name: "a", extra: 1 }] })).to.throw(/extra/);
    const unknownNode = {
      clusters: [
        {
          name: "a",
          services: [{ name: "w", ports: [{ port: 80 }], endpoints: [{ address: "10.0.0.1", node: "n" }] }],
        },
      ],
    };
    expect(() => parseScenario(unknownNode)).to.throw(/clusters\[0\]\.services\[0\]\.endpoints\[0\]\.node/);
  });

  it("turns endpoints into EndpointSlices labelled with the service name, one per family", () => {
    const scenario = parseScenario({
      clusters: [
        {
          name: "a",
          nodes: [{ name: "n1", zone: "z1", region: "r1" }],
          services: [
            {
              name: "web",
              ports: [{ name: "http", port: 80, targetPort: 8080 }],
              ingress: [{ ip: "198.51.100.1" }],
              endpoints: [
                { address: "10.0.0.1", zone: "z1", node: "n1" },
                { address: "2001:db8::1", ready: false },
              ],
            },
          ],
        },
      ],
    });
    const cluster = scenario.clusters[0];
    if (cluster === undefined) throw new Error("no cluster");
    const objects = seedObjects(cluster, 0);
    const slices = objects.filter((o) => o.kind === "EndpointSlice");
    expect(slices.map((s) => s.addressType)).to.deep.equal(["IPv4", "IPv6"]);
    expect(slices[0]?.metadata.labels?.["kubernetes.io/service-name"]).to.equal("web");
    expect(slices[0]?.endpoints).to.deep.equal([
      {
        addresses: ["10.0.0.1"],
        conditions: { ready: true, serving: true, terminating: false },
        zone: "z1",
        nodeName: "n1",
      },
    ]);
    expect(slices[0]?.ports).to.deep.equal([{ name: "http", port: 8080, protocol: "TCP" }]);
    const node = objects.find((o) => o.kind === "Node");
    expect(node?.metadata.labels).to.include({
      "topology.kubernetes.io/zone": "z1",
      "topology.kubernetes.io/region": "r1",
    });
  });
});
