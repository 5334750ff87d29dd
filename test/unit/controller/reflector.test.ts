import { expect } from "chai";
import { reduceEndpointSlice, reduceNode, reduceService } from "../../../src/controller/kube-objects.ts";
import { type ListPage, Reflector, type ResourceClient } from "../../../src/controller/reflector.ts";
import { logger } from "../../../src/obs/log.ts";
import { flush } from "./fake-timers.ts";

interface OpenWatch {
  resourceVersion: string;
  onEvent: (type: string, object: unknown) => void;
  onDone: (error: unknown) => void;
}

class FakeClient implements ResourceClient {
  lists: ListPage[] = [];
  listCalls = 0;
  watches: OpenWatch[] = [];
  failWatch: unknown;

  async list(): Promise<ListPage> {
    this.listCalls += 1;
    const page = this.lists.shift();
    if (page === undefined) throw new Error("no list prepared");
    return page;
  }

  async watch(resourceVersion: string, onEvent: OpenWatch["onEvent"], onDone: OpenWatch["onDone"]) {
    if (this.failWatch !== undefined) {
      const error = this.failWatch;
      this.failWatch = undefined;
      onDone(error);
      return { abort: () => {} };
    }
    this.watches.push({ resourceVersion, onEvent, onDone });
    return { abort: () => {} };
  }
}

const node = (name: string, zone: string, rv: string) => ({
  metadata: {
    name,
    resourceVersion: rv,
    labels: { "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "r" },
  },
});

describe("Reflector", () => {
  it("lists, then applies watch events from the list's resource version; relists when it expired", async () => {
    const client = new FakeClient();
    const store = new Map<string, unknown>();
    const log: string[] = [];
    client.lists.push({ items: [node("n1", "z1", "5"), { bad: true }], resourceVersion: "7" });
    const reflector = new Reflector({
      resource: "nodes",
      client,
      reduce: reduceNode,
      log: logger("test"),
      backoff: { initialMs: 1, maxMs: 5 },
      sink: {
        replace: (items) => {
          store.clear();
          for (const [key, item] of items) store.set(key, item);
          log.push("replace");
        },
        upsert: (key, item) => store.set(key, item),
        remove: (key) => store.delete(key),
        contact: () => {},
        failure: (error) => log.push(`failure:${error.message}`),
        invalid: () => log.push("invalid"),
      },
    });
    reflector.start();
    await flush();
    expect(log).to.deep.equal(["invalid", "replace"]);
    expect(client.watches[0]?.resourceVersion).to.equal("7");
    client.watches[0]!.onEvent("ADDED", node("n2", "z2", "8"));
    client.watches[0]!.onEvent("DELETED", node("n1", "z1", "9"));
    expect([...store.keys()]).to.deep.equal(["n2"]);
    // History gone: the watch reports 410 and ends; the reflector lists again and replaces everything.
    client.lists.push({ items: [node("n3", "z3", "20")], resourceVersion: "20" });
    client.watches[0]!.onEvent("ERROR", { kind: "Status", code: 410 });
    client.watches[0]!.onDone(null);
    await flush();
    expect([...store.keys()]).to.deep.equal(["n3"]);
    expect(client.watches[1]?.resourceVersion).to.equal("20");
    // A failed watch is reported and retried from the same version (no relist).
    client.failWatch = Object.assign(new Error("connect ECONNREFUSED"), {});
    client.watches[1]!.onDone(new Error("socket hang up"));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(log.filter((line) => line.startsWith("failure"))).to.have.length.greaterThan(0);
    expect(client.listCalls).to.equal(2);
    expect(client.watches.at(-1)?.resourceVersion).to.equal("20");
    await reflector.stop();
  });
});

describe("Reflector watch renewal", () => {
  function reflectorWith(client: FakeClient, clock: { now: number }) {
    client.lists.push({ items: [], resourceVersion: "1" });
    return new Reflector({
      resource: "nodes",
      client,
      reduce: reduceNode,
      log: logger("test"),
      backoff: { initialMs: 200, maxMs: 200 },
      now: () => clock.now,
      sink: {
        replace: () => {},
        upsert: () => {},
        remove: () => {},
        contact: () => {},
        failure: () => {},
        invalid: () => {},
      },
    });
  }

  it("renews at once a watch that ran its course without events (server timeout, idle cluster)", async () => {
    const client = new FakeClient();
    const clock = { now: 0 };
    const reflector = reflectorWith(client, clock);
    reflector.start();
    await flush();
    for (let i = 0; i < 4; i++) {
      clock.now += 300_000;
      client.watches.at(-1)!.onDone(null);
      await flush();
    }
    expect(client.watches).to.have.length(5);
    await reflector.stop();
  });

  it("backs off when the server keeps closing new watches at once", async () => {
    const client = new FakeClient();
    const clock = { now: 0 };
    const reflector = reflectorWith(client, clock);
    reflector.start();
    await flush();
    for (let i = 0; i < 2; i++) {
      client.watches.at(-1)!.onDone(null);
      await flush();
    }
    // The first quick close is renewed at once, the second waits for the backoff (200 ms ± jitter).
    expect(client.watches).to.have.length(2);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(client.watches).to.have.length(3);
    await reflector.stop();
  });
});

describe("kube-objects", () => {
  it("keeps only what the record rules need from a Service", () => {
    const service = reduceService({
      metadata: {
        name: "web",
        namespace: "default",
        resourceVersion: "3",
        annotations: { "fedns.io/ttl": "60", "kubectl.kubernetes.io/last-applied-configuration": "{...}" },
        managedFields: [{}],
      },
      spec: { type: "LoadBalancer", ports: [{ name: "http", port: 80, protocol: "TCP" }, { port: "bad" }] },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }, { hostname: "lb.example" }, {}] } },
    });
    expect(service).to.deep.equal({
      namespace: "default",
      name: "web",
      type: "LoadBalancer",
      annotations: { "fedns.io/ttl": "60" },
      labels: {},
      ports: [{ name: "http", protocol: "TCP", port: 80 }],
      ingress: [{ ip: "192.0.2.1" }, { hostname: "lb.example" }],
    });
    expect(reduceService({ metadata: { name: "x" } })).to.equal(undefined);
    expect(reduceService("garbage")).to.equal(undefined);
  });

  it("reads endpoint readiness, zone and node from an EndpointSlice", () => {
    const slice = reduceEndpointSlice({
      metadata: { name: "web-abc", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
      endpoints: [
        { addresses: ["10.0.0.1"], conditions: { ready: false }, zone: "z1", nodeName: "n1" },
        { addresses: ["10.0.0.2"], conditions: {} },
      ],
    });
    expect(slice).to.deep.equal({
      namespace: "default",
      name: "web-abc",
      service: "default/web",
      endpoints: [{ ready: false, zone: "z1", nodeName: "n1" }, { ready: undefined }],
    });
  });

  it("reads a node's zone and region, with the beta labels as fallback", () => {
    expect(
      reduceNode({
        metadata: {
          name: "n1",
          labels: { "failure-domain.beta.kubernetes.io/zone": "z", "failure-domain.beta.kubernetes.io/region": "r" },
        },
      }),
    ).to.deep.equal({ name: "n1", location: { zone: "z", region: "r" } });
  });
});
