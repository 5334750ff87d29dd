import { ApiException } from "@kubernetes/client-node";
import { expect } from "chai";
import { pino } from "pino";
import { jsonSizeOver, type ReflectorCaps } from "../../../src/controller/caps.ts";
import { ClusterWatch } from "../../../src/controller/cluster-watch.ts";
import { type KubeError, kubeErrorOf } from "../../../src/controller/kube-errors.ts";
import { reduceEndpointSlice, reduceNode, reduceService } from "../../../src/controller/kube-objects.ts";
import type { ClusterPhase } from "../../../src/controller/lifecycle.ts";
import { ControllerMetrics } from "../../../src/controller/metrics.ts";
import { type ListPage, Reflector, type ResourceClient } from "../../../src/controller/reflector.ts";
import { logger } from "../../../src/obs/log.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { FakeTimers, flush } from "../../support/fake-timers.ts";

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
    const timers = new FakeTimers();
    const reflector = new Reflector({
      resource: "nodes",
      client,
      reduce: reduceNode,
      log: logger("test"),
      timers,
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
    await timers.advance(30);
    expect(log.filter((line) => line.startsWith("failure"))).to.have.length.greaterThan(0);
    expect(client.listCalls).to.equal(2);
    expect(client.watches.at(-1)?.resourceVersion).to.equal("20");
    await reflector.stop();
  });
});

describe("Reflector watch renewal", () => {
  function reflectorWith(client: FakeClient, timers: FakeTimers, failures: KubeError[] = [], watchIdleMs = 600_000) {
    client.lists.push({ items: [], resourceVersion: "1" });
    return new Reflector({
      resource: "nodes",
      client,
      reduce: reduceNode,
      log: logger("test"),
      backoff: { initialMs: 200, maxMs: 200 },
      timers,
      watchIdleMs,
      sink: {
        replace: () => {},
        upsert: () => {},
        remove: () => {},
        contact: () => {},
        failure: (error) => failures.push(error),
        invalid: () => {},
      },
    });
  }

  it("renews at once a watch that ran its course without events (server timeout, idle cluster)", async () => {
    const client = new FakeClient();
    const timers = new FakeTimers();
    const reflector = reflectorWith(client, timers);
    reflector.start();
    await flush();
    for (let i = 0; i < 4; i++) {
      await timers.advance(300_000);
      client.watches.at(-1)!.onDone(null);
      await flush();
    }
    expect(client.watches).to.have.length(5);
    await reflector.stop();
  });

  it("backs off when the server keeps closing new watches at once", async () => {
    const client = new FakeClient();
    const timers = new FakeTimers();
    const reflector = reflectorWith(client, timers);
    reflector.start();
    await flush();
    for (let i = 0; i < 2; i++) {
      client.watches.at(-1)!.onDone(null);
      await flush();
    }
    // The first quick close is renewed at once, the second waits for the backoff (200 ms ± jitter).
    expect(client.watches).to.have.length(2);
    await timers.advance(150);
    expect(client.watches).to.have.length(2);
    await timers.advance(100);
    expect(client.watches).to.have.length(3);
    await reflector.stop();
  });

  it("cuts a watch that goes silent past the idle limit and reports a timeout; bookmarks keep it open", async () => {
    const client = new FakeClient();
    const timers = new FakeTimers();
    const failures: KubeError[] = [];
    const reflector = reflectorWith(client, timers, failures, 10_000);
    reflector.start();
    await flush();
    // Bookmarks (or any event) within the limit: the same watch stays open.
    for (let i = 0; i < 5; i++) {
      await timers.advance(6_000);
      client.watches[0]!.onEvent("BOOKMARK", { metadata: { resourceVersion: String(10 + i) } });
    }
    expect(client.watches).to.have.length(1);
    expect(failures).to.have.length(0);
    // Then silence: cut after 10 s, reported as a timeout (not as a close), retried after the backoff.
    await timers.advance(9_999);
    expect(failures).to.have.length(0);
    await timers.advance(1);
    expect(failures.map((f) => f.kind)).to.deep.equal(["timeout"]);
    await timers.advance(250);
    expect(client.watches).to.have.length(2);
    expect(client.watches[1]?.resourceVersion).to.equal("14");
    await reflector.stop();
  });

  it("times out a watch request the server never answers, and a list that hangs", async () => {
    const timers = new FakeTimers();
    const failures: KubeError[] = [];
    let lists = 0;
    const hanging: ResourceClient = {
      // Never answers; gives up only when aborted, with the abort's reason (as fetch does).
      list: ({ signal }) => {
        lists += 1;
        return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      },
      watch: () => new Promise(() => {}),
    };
    const reflector = new Reflector({
      resource: "nodes",
      client: hanging,
      reduce: reduceNode,
      log: logger("test"),
      backoff: { initialMs: 100, maxMs: 100 },
      timers,
      listTimeoutMs: 3_000,
      watchIdleMs: 10_000,
      sink: {
        replace: () => {},
        upsert: () => {},
        remove: () => {},
        contact: () => {},
        failure: (error) => failures.push(error),
        invalid: () => {},
      },
    });
    reflector.start();
    await flush();
    await timers.advance(3_000);
    expect(failures.map((f) => [f.kind, f.message])).to.deep.equal([["timeout", "list nodes: no answer in 3000 ms"]]);
    expect(lists).to.equal(1);
    await timers.advance(200);
    expect(lists).to.equal(2);
    await reflector.stop();

    const client = new FakeClient();
    const silent = new Reflector({
      resource: "nodes",
      client: { list: () => client.list(), watch: () => new Promise(() => {}) },
      reduce: reduceNode,
      log: logger("test"),
      timers,
      watchIdleMs: 10_000,
      sink: {
        replace: () => {},
        upsert: () => {},
        remove: () => {},
        contact: () => {},
        failure: (error) => failures.push(error),
        invalid: () => {},
      },
    });
    client.lists.push({ items: [], resourceVersion: "3" });
    silent.start();
    await flush();
    await timers.advance(10_000);
    expect(failures.at(-1)?.kind).to.equal("timeout");
    expect(failures.at(-1)?.message).to.match(/watch nodes: no event or bookmark/);
    await silent.stop();
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
      clusterIPs: [],
    });
    expect(reduceService({ metadata: { name: "x" } })).to.equal(undefined);
    // ClusterIPs (short names answer with them): both families, "None" (headless) dropped, at most two.
    const clusterIPs = (spec: Record<string, unknown>) =>
      reduceService({ metadata: { name: "a", namespace: "b" }, spec })?.clusterIPs;
    expect(clusterIPs({ clusterIP: "10.96.0.1", clusterIPs: ["10.96.0.1", "fd00::1"] })).to.deep.equal([
      "10.96.0.1",
      "fd00::1",
    ]);
    expect(clusterIPs({ clusterIP: "10.96.0.2" })).to.deep.equal(["10.96.0.2"]);
    expect(clusterIPs({ clusterIP: "None", clusterIPs: ["None"] })).to.deep.equal([]);
    expect(clusterIPs({ clusterIPs: ["10.0.0.1", "10.0.0.2", "10.0.0.3", 7] })).to.deep.equal(["10.0.0.1", "10.0.0.2"]);
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
    ).to.deep.equal({ name: "n1", location: { zone: "z", region: "r" }, networks: { addresses: [], podCIDRs: [] } });
  });

  it("reads where a node's pods ask from: InternalIP/ExternalIP addresses and pod CIDRs, bounded", () => {
    const node = reduceNode({
      metadata: { name: "n1" },
      spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24", "fd00:244:1::/64"] },
      status: {
        addresses: [
          { type: "InternalIP", address: "127.0.1.10" },
          { type: "ExternalIP", address: "192.0.2.9" },
          { type: "Hostname", address: "n1" },
          { type: "InternalIP" },
        ],
      },
    });
    expect(node?.networks).to.deep.equal({
      addresses: ["127.0.1.10", "192.0.2.9"],
      podCIDRs: ["10.244.1.0/24", "fd00:244:1::/64"],
    });
    expect(
      reduceNode({ metadata: { name: "n2" }, spec: { podCIDR: "10.244.2.0/24" } })?.networks.podCIDRs,
    ).to.deep.equal(["10.244.2.0/24"]);
    const many = Array.from({ length: 40 }, (_, i) => ({ type: "InternalIP", address: `10.0.0.${i}` }));
    expect(reduceNode({ metadata: { name: "n3" }, status: { addresses: many } })?.networks.addresses).to.have.length(
      16,
    );
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

/** What the API server answers with: client-node's ApiException (lists) or its watch error, classified as kube-client.ts does. */
const answered = (status: number) =>
  new ApiException(
    status,
    "Unknown API Status Code!",
    { kind: "Status", code: status, message: `status ${status}` },
    {},
  );
const watchAnswered = (status: number) =>
  kubeErrorOf(Object.assign(new Error("Forbidden"), { statusCode: status }), "watch services", "watch");
const refused = () =>
  Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
  });

describe("ClusterWatch", () => {
  let timers: FakeTimers;
  let clients: { services: FakeClient; endpointSlices: FakeClient; nodes: FakeClient };
  let probeError: unknown;
  let probeHangs: boolean;
  let phases: ClusterPhase[];
  let warnings: string[];
  let metrics: ControllerMetrics;
  let watch: ClusterWatch;

  beforeEach(async () => {
    timers = new FakeTimers();
    clients = { services: new FakeClient(), endpointSlices: new FakeClient(), nodes: new FakeClient() };
    probeError = undefined;
    probeHangs = false;
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
        probe: async (signal) => {
          if (probeHangs) {
            // Accepts the request and never answers: only the caller's abort ends it (as fetch does).
            await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
          }
          if (probeError !== undefined) throw probeError;
        },
      },
      graceMs: 60_000,
      probeIntervalMs: 5_000,
      probeTimeoutMs: 2_000,
      backoff: { initialMs: 1_000, maxMs: 1_000 },
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
    await flush();
    await timers.advance(5_000);
    await flush();
    expect(await errorCount("services")).to.be.greaterThan(2);
    expect(phases).to.deep.equal(["active"]);
    expect(watch.lifecycle.phase).to.equal("active");
    const forbidden = warnings.filter((msg) => msg.includes("HTTP 403"));
    expect(forbidden).to.have.length(1);
    // The warning repeats once the backoff interval has passed, not on every retry.
    await timers.advance(60_000);
    await flush();
    expect(warnings.filter((msg) => msg.includes("HTTP 403"))).to.have.length(2);

    // A bad selector (400) and an expired list (410) on relists: same, no phase change.
    for (const status of [400, 410]) {
      const slices = clients.endpointSlices;
      slices.failAll = answered(status);
      slices.watches.at(-1)!.onEvent("ERROR", { kind: "Status", code: 410 });
      slices.watches.at(-1)!.onDone(null);
      await flush();
      await timers.advance(5_000);
      expect(warnings.filter((msg) => msg.includes(`HTTP ${status}`))).to.have.length(1);
      slices.failAll = undefined;
      slices.lists.push({ items: [], resourceVersion: "30" });
      await timers.advance(1_500);
    }
    // The probe answered with a 403 too: still no phase change.
    probeError = answered(403);
    await timers.advance(5_000);
    expect(await errorCount("probe")).to.equal(1);
    expect(phases).to.deep.equal(["active"]);

    // No answer at all (connection refused) does make the cluster unreachable; the probe brings it back.
    clients.nodes.failAll = refused();
    clients.nodes.watches.at(-1)!.onDone(new Error("socket hang up"));
    await flush();
    expect(watch.lifecycle.phase).to.equal("unreachable");
    clients.nodes.failAll = undefined;
    probeError = undefined;
    await timers.advance(5_000);
    expect(phases).to.deep.equal(["active", "unreachable", "active"]);
  });

  it("takes a hanging API server (probe never answered) as unreachable, then withdraws it after the grace period", async () => {
    probeHangs = true;
    // Probe sent at 5 s, no answer by its 2 s timeout: unreachable at 7 s, not before.
    await timers.advance(6_999);
    expect(watch.lifecycle.phase).to.equal("active");
    await timers.advance(1);
    expect(watch.lifecycle.phase).to.equal("unreachable");
    expect(await errorCount("probe")).to.equal(1);
    expect(warnings.some((msg) => msg.includes("HTTP"))).to.equal(false);
    // Still hanging: the grace period (60 s) runs out and the cluster's records go.
    await timers.advance(59_999);
    expect(watch.lifecycle.phase).to.equal("unreachable");
    await timers.advance(1);
    expect(watch.lifecycle.phase).to.equal("stale");
    expect(watch.state({}, new Map())?.status).to.equal("stale");
    // A timeout DOMException carries code 23 (TIMEOUT_ERR): it is not an HTTP status the server answered.
    probeHangs = false;
    probeError = new DOMException("The operation was aborted due to timeout", "TimeoutError");
    await timers.advance(7_000);
    expect(watch.lifecycle.phase).to.equal("stale");
    expect(warnings.some((msg) => msg.includes("HTTP 23"))).to.equal(false);
    expect(phases).to.deep.equal(["active", "unreachable", "stale"]);
  });
});

describe("Reflector caps (controller.clusterCaps)", () => {
  function capped(client: FakeClient, caps: ReflectorCaps, timers = new FakeTimers()) {
    const store = new Map<string, unknown>();
    const events: string[] = [];
    const reflector = new Reflector({
      resource: "nodes",
      client,
      reduce: reduceNode,
      log: logger("test"),
      backoff: { initialMs: 10, maxMs: 1000 },
      timers,
      sink: {
        replace: (items) => {
          store.clear();
          for (const [key, item] of items) store.set(key, item);
          events.push(`replace:${items.size}`);
        },
        upsert: (key, item) => store.set(key, item),
        remove: (key) => store.delete(key),
        contact: () => {},
        failure: (error) => events.push(`failure:${error.message}`),
        invalid: () => events.push("invalid"),
      },
      guard: {
        caps,
        size: () => store.size,
        has: (key) => store.has(key),
        exceeded: (problem) => events.push(`exceeded:${problem}`),
        fits: () => events.push("fits"),
      },
    });
    return { reflector, store, events, timers };
  }
  const caps = { maxListPages: 3, maxObjects: 5, maxObjectBytes: 2000 };

  it("stops a list that pages past maxListPages, keeping nothing of it, and retries at the slowest pace", async () => {
    // A hostile server: one node per page and a continue token forever.
    let served = 0;
    const client = new FakeClient();
    client.list = async () => {
      client.listCalls += 1;
      served += 1;
      return { items: [node(`n${served}`, "z", String(served))], resourceVersion: "1", continueToken: `c${served}` };
    };
    const { reflector, store, events, timers } = capped(client, { ...caps, maxObjects: 1000 });
    reflector.start();
    await flush();
    expect(client.listCalls).to.equal(3);
    expect(events).to.deep.equal(["exceeded:list nodes: more than 3 pages (clusterCaps.maxListPages)"]);
    expect(store.size).to.equal(0);
    await timers.advance(500);
    expect(client.listCalls).to.equal(3, "not retried within the fast backoff");
    await timers.advance(1000);
    expect(client.listCalls).to.equal(6);
    await reflector.stop();
  });

  it("refuses a list with more than maxObjects, then accepts it once it fits", async () => {
    const client = new FakeClient();
    const nodes = (n: number, rv: string) => Array.from({ length: n }, (_, i) => node(`n${i}`, "z", rv));
    client.lists.push({ items: nodes(6, "1"), resourceVersion: "1" });
    client.lists.push({ items: nodes(5, "2"), resourceVersion: "2" });
    const { reflector, store, events, timers } = capped(client, caps);
    reflector.start();
    await flush();
    expect(events).to.deep.equal(["exceeded:list nodes: more than 5 objects (clusterCaps.maxObjects)"]);
    expect(store.size).to.equal(0);
    await timers.advance(1500);
    expect(events.slice(1)).to.deep.equal(["replace:5", "fits"]);
    expect(store.size).to.equal(5);
    await reflector.stop();
  });

  it("never grows past maxObjects from watch events, and refuses an object past maxObjectBytes", async () => {
    const client = new FakeClient();
    client.lists.push({ items: [node("n0", "z", "1")], resourceVersion: "1" });
    const { reflector, store, events } = capped(client, caps);
    reflector.start();
    await flush();
    const watch = client.watches[0]!;
    for (let i = 1; i < 10; i++) watch.onEvent("ADDED", node(`n${i}`, "z", String(i + 1)));
    await flush();
    expect(store.size).to.equal(5);
    expect(events.at(-1)).to.equal("exceeded:watch nodes: more than 5 objects (clusterCaps.maxObjects)");
    await reflector.stop();

    // A modification of an object already held is fine; an oversized one is not applied.
    const second = new FakeClient();
    second.lists.push({ items: [node("n0", "z", "1")], resourceVersion: "1" });
    const run = capped(second, caps);
    run.reflector.start();
    await flush();
    second.watches[0]!.onEvent("MODIFIED", node("n0", "z2", "2"));
    expect(run.store.get("n0")).to.deep.include({ location: { zone: "z2", region: "r" } });
    const huge = { ...node("n0", "z3", "3"), status: { images: [{ names: ["x".repeat(5000)] }] } };
    second.watches[0]!.onEvent("MODIFIED", huge);
    await flush();
    expect(run.store.get("n0")).to.deep.include({ location: { zone: "z2", region: "r" } });
    expect(run.events.at(-1)).to.equal("exceeded:nodes n0: larger than 2000 bytes (clusterCaps.maxObjectBytes)");
    expect(jsonSizeOver(node("n0", "z", "1"), 2000)).to.equal(false);
    expect(jsonSizeOver({ list: Array.from({ length: 5000 }, () => 0) }, 2000)).to.equal(true);
    await run.reflector.stop();
  });
});
