import { expect } from "chai";
import { buildClusterState, ClusterObjects, type ListedObjects } from "../../../src/controller/cluster-state.ts";
import {
  keyOf,
  metaOf,
  type NodeInfo,
  reduceEndpointSlice,
  reduceNode,
  reduceService,
  type ServiceInfo,
  type SliceInfo,
} from "../../../src/controller/kube-objects.ts";

const service = (name: string, port = 80) =>
  reduceService({
    metadata: { namespace: "default", name },
    spec: { type: "LoadBalancer", ports: [{ name: "http", protocol: "TCP", port }] },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } },
  })!;
const slice = (name: string, of: string, nodes: string[]) =>
  reduceEndpointSlice({
    metadata: { namespace: "default", name, labels: { "kubernetes.io/service-name": of } },
    endpoints: nodes.map((nodeName) => ({ conditions: { ready: true }, nodeName })),
  })!;
const node = (name: string, zone: string) =>
  reduceNode({
    metadata: {
      name,
      labels: { "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "r" },
    },
  })!;

function keyed<T extends { namespace?: string; name: string }>(items: T[]): Map<string, T> {
  return new Map(items.map((item) => [keyOf(metaOf({ metadata: item })!), item]));
}

const context = { name: "east", status: "active" as const, configLocation: {}, resolvedHostnames: new Map() };

describe("cluster-state: the one cluster reader", () => {
  it("assembles each shard from its Service and all its slices in slice-name order", () => {
    const listed: ListedObjects = {
      services: keyed<ServiceInfo>([service("web"), service("api")]),
      endpointSlices: keyed<SliceInfo>([
        slice("web-b", "web", ["n2"]),
        slice("web-a", "web", ["n1"]),
        slice("orphan", "gone", ["n1"]),
      ]),
      nodes: keyed<NodeInfo>([node("n1", "z1"), node("n2", "z2")]),
    };
    const state = buildClusterState(listed, context);
    expect([...state.services.keys()].sort()).to.deep.equal(["default/api", "default/web"]);
    expect(state.services.get("default/web")!.endpoints.map((e) => e.nodeName)).to.deep.equal(["n1", "n2"]);
    expect(state.services.get("default/api")!.endpoints).to.deep.equal([]);
    expect(state.nodes.get("n2")).to.deep.equal({ zone: "z2", region: "r" });
    expect(state.allServices).to.equal(undefined);
  });

  it("kept current event by event, it equals the state built from a listing of the end result", () => {
    const objects = new ClusterObjects();
    objects.replaceServices(keyed([service("web")]));
    objects.replaceSlices(keyed([slice("web-a", "web", ["n1"])]));
    objects.replaceNodes(keyed([node("n1", "z1")]));
    expect(objects.setService("default/api", service("api", 8080))).to.deep.equal(["default/api"]);
    expect(objects.setSlice("default/api-a", slice("api-a", "api", ["n2"]))).to.deep.equal(["default/api"]);
    // A slice moved from web to api touches both.
    expect(objects.setSlice("default/web-a", slice("web-a", "api", ["n1"])).sort()).to.deep.equal([
      "default/api",
      "default/web",
    ]);
    expect(objects.setNode("n2", node("n2", "z2"))).to.equal(true);
    expect(objects.setNode("n2", node("n2", "z2"))).to.equal(false);
    expect(objects.setNode("n1", undefined)).to.equal(true);

    const built = buildClusterState(
      {
        services: keyed([service("web"), service("api", 8080)]),
        endpointSlices: keyed([slice("api-a", "api", ["n2"]), slice("web-a", "api", ["n1"])]),
        nodes: keyed([node("n2", "z2")]),
      },
      context,
    );
    const kept = objects.state(context);
    const sorted = <T>(map: ReadonlyMap<string, T>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
    expect(sorted(kept.services)).to.deep.equal(sorted(built.services));
    expect([...kept.nodes.entries()]).to.deep.equal([...built.nodes.entries()]);
  });

  it("restricted to some keys, it carries every shard for the per-cluster limits", () => {
    const objects = new ClusterObjects();
    objects.replaceServices(keyed([service("web"), service("api")]));
    const state = objects.state(context, ["default/web", "default/none"]);
    expect([...state.services.keys()]).to.deep.equal(["default/web"]);
    expect(state.allServices?.size).to.equal(2);
  });
});
