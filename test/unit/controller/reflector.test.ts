import { expect } from "chai";
import { pino } from "pino";
import { ClusterWatch } from "../../../src/controller/cluster-watch.ts";
import { reduceEndpointSlice, reduceNode, reduceService } from "../../../src/controller/kube-objects.ts";
import type { ClusterPhase } from "../../../src/controller/lifecycle.ts";
import { ControllerMetrics } from "../../../src/controller/metrics.ts";
import { type ListPage, Reflector, type ResourceClient } from "../../../src/controller/reflector.ts";
import { logger } from "../../../src/obs/log.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { FakeTimers, flush } from "./fake-timers.ts";

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
  /** Every list and watch fails with this while set. */
  failAll: unknown;

  async list(): Promise<ListPage> {
    this.listCalls += 1;
    if (this.failAll !== undefined) throw this.failAll;
    const page = this.lists.shift();
    if (page === undefined) throw new Error("no list prepared");
    return page;
  }

  async watch(resourceVersion: string, onEvent: OpenWatch["onEvent"], onDone: OpenWatch["onDone"]) {
    if (this.failAll !== undefined) {
      onDone(this.failAll);
      return { abort: () => {} };
    }
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

const service = (name: string, rv: string) => ({
  metadata: { name, namespace: "default", resourceVersion: rv },
  spec: { type: "LoadBalancer", ports: [{ port: 80 }] },
  status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } },
});

const slice = (name: string, service: string, rv: string) => ({
  metadata: {
    name,
    namespace: "default",
    resourceVersion: rv,
    labels: { "kubernetes.io/service-name": service },
  },
  endpoints: [{ addresses: ["10.0.0.1"], conditions: { ready: true } }],
});

/** What the API server answers with: client-node's ApiException (lists) or its watch error. */
const answered = (status: number) =>
  Object.assign(new Error(`HTTP-Code: ${status}\nMessage: Unknown API Status Code!`), {
    code: status,
    body: { kind: "Status", code: status, message: `status ${status}` },
  });
const watchAnswered = (status: number) => Object.assign(new Error("Forbidden"), { statusCode: status });
const refused = () =>
  Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
  });

describe("ClusterWatch", () => {
  let timers: FakeTimers;
  let clients: { services: FakeClient; endpointSlices: FakeClient; nodes: FakeClient };
  let probeError: unknown;
  let phases: ClusterPhase[];
  let warnings: string[];
  let metrics: ControllerMetrics;
  let watch: ClusterWatch;

  beforeEach(async () => {
    timers = new FakeTimers();
    clients = { services: new FakeClient(), endpointSlices: new FakeClient(), nodes: new FakeClient() };
    probeError = undefined;
    phases = [];
    warnings = [];
    metrics = new ControllerMetrics(newRegistry());
    clients.services.lists.push({ items: [service("web", "2"), service("api", "3")], resourceVersion: "10" });
    clients.endpointSlices.lists.push({
      items: [slice("web-a", "web", "4"), slice("web-b", "web", "5"), slice("api-a", "api", "6")],
      resourceVersion: "10",
    });
    clients.nodes.lists.push({ items: [node("n1", "z1", "7")], resourceVersion: "10" });
    const log = pino(
      { level: "debug" },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as { level: number; msg: string };
          if (entry.level === 40) warnings.push(entry.msg);
        },
      },
    );
    watch = new ClusterWatch({
      name: "east",
      clients: {
        ...clients,
        server: "https://east.invalid",
        probe: async () => {
          if (probeError !== undefined) throw probeError;
        },
      },
      graceMs: 60_000,
      probeIntervalMs: 5_000,
      backoff: { initialMs: 1, maxMs: 2 },
      timers,
      metrics,
      log,
      onChange: () => {},
      onPhaseChange: (phase) => phases.push(phase),
    });
    watch.start();
    await flush();
    expect(watch.lifecycle.phase).to.equal("active");
  });

  afterEach(async () => {
    await watch.stop();
  });

  async function errorCount(resource: string): Promise<number> {
    const values = (await metrics.kubeErrors.get()).values;
    return values.find((value) => value.labels.resource === resource)?.value ?? 0;
  }

  it("forgets a Service's slice index entry once the Service and its slices are gone", async () => {
    expect(watch.slicedServiceCount).to.equal(2);
    // The usual order: the Service is deleted first, then the endpoint slice controller removes its slices.
    clients.services.watches[0]!.onEvent("DELETED", service("web", "11"));
    clients.endpointSlices.watches[0]!.onEvent("DELETED", slice("web-a", "web", "12"));
    clients.endpointSlices.watches[0]!.onEvent("DELETED", slice("web-b", "web", "13"));
    expect(watch.slicedServiceCount).to.equal(1);
    // The other order, and a slice for a Service that never existed.
    clients.endpointSlices.watches[0]!.onEvent("DELETED", slice("api-a", "api", "14"));
    clients.services.watches[0]!.onEvent("DELETED", service("api", "15"));
    clients.endpointSlices.watches[0]!.onEvent("ADDED", slice("ghost-a", "ghost", "16"));
    clients.endpointSlices.watches[0]!.onEvent("DELETED", slice("ghost-a", "ghost", "17"));
    // A slice moved from one Service to another.
    clients.services.watches[0]!.onEvent("ADDED", service("new", "18"));
    clients.endpointSlices.watches[0]!.onEvent("ADDED", slice("new-a", "old", "19"));
    clients.endpointSlices.watches[0]!.onEvent("MODIFIED", slice("new-a", "new", "20"));
    expect(watch.slicedServiceCount).to.equal(1);
    expect(watch.shards.get("default/new")?.endpoints).to.have.length(1);
    clients.services.watches[0]!.onEvent("DELETED", service("new", "21"));
    clients.endpointSlices.watches[0]!.onEvent("DELETED", slice("new-a", "new", "22"));
    expect(watch.slicedServiceCount).to.equal(0);
    expect(watch.shards.size).to.equal(0);
  });

  it("keeps the phase when the API server answers with an error (403, 400, 410), and warns with backoff", async () => {
    // RBAC revoked on Services: every watch retry gets a 403; the probe keeps succeeding.
    clients.services.failAll = watchAnswered(403);
    clients.services.watches[0]!.onDone(null);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await timers.advance(5_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await errorCount("services")).to.be.greaterThan(2);
    expect(phases).to.deep.equal(["active"]);
    expect(watch.lifecycle.phase).to.equal("active");
    const forbidden = warnings.filter((msg) => msg.includes("HTTP 403"));
    expect(forbidden).to.have.length(1);
    // The warning repeats once the backoff interval has passed, not on every retry.
    await timers.advance(60_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(warnings.filter((msg) => msg.includes("HTTP 403"))).to.have.length(2);

    // A bad selector (400) and an expired list (410) on relists: same, no phase change.
    for (const status of [400, 410]) {
      const slices = clients.endpointSlices;
      slices.failAll = answered(status);
      slices.watches.at(-1)!.onEvent("ERROR", { kind: "Status", code: 410 });
      slices.watches.at(-1)!.onDone(null);
      await new Promise((resolve) => setTimeout(resolve, 30));
      await timers.advance(5_000);
      expect(warnings.filter((msg) => msg.includes(`HTTP ${status}`))).to.have.length(1);
      slices.failAll = undefined;
      slices.lists.push({ items: [], resourceVersion: "30" });
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    // The probe answered with a 403 too: still no phase change.
    probeError = answered(403);
    await timers.advance(5_000);
    expect(await errorCount("probe")).to.equal(1);
    expect(phases).to.deep.equal(["active"]);

    // No answer at all (connection refused) does make the cluster unreachable; the probe brings it back.
    clients.nodes.failAll = refused();
    clients.nodes.watches.at(-1)!.onDone(new Error("socket hang up"));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(watch.lifecycle.phase).to.equal("unreachable");
    clients.nodes.failAll = undefined;
    probeError = undefined;
    await timers.advance(5_000);
    expect(phases).to.deep.equal(["active", "unreachable", "active"]);
  });
});
