// Real @kubernetes/client-node informers against the simulated API server (HTTPS + token).

import {
  CoreV1Api,
  DiscoveryV1Api,
  type Informer,
  makeInformer,
  type ObjectCache,
  type V1EndpointSlice,
  type V1Service,
} from "@kubernetes/client-node";
import { expect } from "chai";
import type { SimCluster, Simulation } from "../../support/sim.ts";
import { kubeConfigFor, startTestSimulation, waitFor } from "../../support/sim.ts";

interface Watched {
  informer: Informer<V1Service> & ObjectCache<V1Service>;
  events: string[];
  errors: number;
  stop(): Promise<void>;
}

/** An informer whose owner restarts it after an error, as the controller does. */
async function watchServices(sim: Simulation, cluster: string): Promise<Watched> {
  const kc = kubeConfigFor(sim, cluster);
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer(kc, "/api/v1/services", () => core.listServiceForAllNamespaces());
  const watched: Watched = { informer, events: [], errors: 0, stop: async () => {} };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const key = (s: V1Service): string => `${s.metadata?.namespace}/${s.metadata?.name}`;
  informer.on("add", (s) => watched.events.push(`add ${key(s)}`));
  informer.on("update", (s) => watched.events.push(`update ${key(s)}`));
  informer.on("delete", (s) => watched.events.push(`delete ${key(s)}`));
  informer.on("error", () => {
    watched.errors++;
    if (!stopped) timer = setTimeout(() => void informer.start().catch(() => {}), 100);
  });
  watched.stop = async () => {
    stopped = true;
    clearTimeout(timer);
    await informer.stop().catch(() => {});
  };
  await informer.start();
  return watched;
}

function service(name: string): Parameters<SimCluster["apply"]>[0] {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: { type: "LoadBalancer", ports: [{ name: "http", port: 80 }] },
  };
}

async function consistent(sim: Simulation, cluster: string, watched: Watched): Promise<void> {
  const fresh = await kubeConfigFor(sim, cluster).makeApiClient(CoreV1Api).listServiceForAllNamespaces();
  const summary = (items: readonly V1Service[]): string[] =>
    items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}@${s.metadata?.resourceVersion}`).sort();
  await waitFor("informer cache = fresh list", () => {
    return JSON.stringify(summary(watched.informer.list())) === JSON.stringify(summary(fresh.items));
  });
}

describe("sim with client-node informers", function () {
  this.timeout(20000);
  let sim: Simulation;
  let cluster: SimCluster;
  let watched: Watched;

  before(async () => {
    sim = await startTestSimulation();
    cluster = sim.cluster("east-a");
    watched = await watchServices(sim, "east-a");
    await waitFor("initial list", () => watched.informer.list().length === 3);
    await waitFor("watch open", () => cluster.openWatches === 1);
  });
  after(async () => {
    await watched?.stop();
    await sim?.stop();
  });

  it("lists the scenario and sees add, update and delete", async () => {
    expect(
      watched.informer
        .list()
        .map((s) => s.metadata?.name)
        .sort(),
    ).to.deep.equal(["cart", "internal", "web"]);
    watched.events.length = 0;
    cluster.apply(service("added"));
    cluster.patchStatus("Service", "default", "added", { loadBalancer: { ingress: [{ ip: "198.51.100.77" }] } });
    await waitFor("update", () => watched.events.includes("update default/added"));
    const cached = watched.informer.get("added", "default");
    expect(cached?.status?.loadBalancer?.ingress?.[0]?.ip).to.equal("198.51.100.77");
    cluster.delete("Service", "default", "added");
    await waitFor("delete", () => watched.events.includes("delete default/added"));
    expect(watched.events).to.deep.equal(["add default/added", "update default/added", "delete default/added"]);
    await consistent(sim, "east-a", watched);
  });

  it("survives a cleanly closed watch without relisting, missing nothing written meanwhile", async () => {
    watched.events.length = 0;
    cluster.closeWatches("clean");
    cluster.apply(service("while-closed"));
    await waitFor("event after rewatch", () => watched.events.includes("add default/while-closed"));
    expect(watched.errors).to.equal(0);
    await consistent(sim, "east-a", watched);
  });

  it("relists after 410 Expired and stays consistent", async () => {
    watched.events.length = 0;
    cluster.closeWatches("clean");
    // The informer rewatches from its last resourceVersion, which compaction just made too old.
    cluster.apply(service("before-compact"));
    cluster.compact();
    cluster.delete("Service", "default", "while-closed");
    await waitFor("delete seen via relist or watch", () => watched.events.includes("delete default/while-closed"));
    await waitFor("add seen", () => watched.events.includes("add default/before-compact"));
    await consistent(sim, "east-a", watched);
  });

  it("recovers (owner restart) from an API server restart with state kept", async () => {
    const errorsBefore = watched.errors;
    // The informer backs off before rewatching after the previous faults; restart with its watch open.
    await waitFor("watch open", () => cluster.openWatches === 1, 10000);
    watched.events.length = 0;
    await cluster.restart();
    cluster.apply(service("after-restart"));
    await waitFor("error reported", () => watched.errors > errorsBefore);
    await waitFor("add after restart", () => watched.events.includes("add default/after-restart"));
    expect(watched.informer.list().length).to.equal(cluster.list("Service").length);
    await consistent(sim, "east-a", watched);
  });

  it("serves EndpointSlices to a discovery.k8s.io informer on another cluster", async () => {
    const kc = kubeConfigFor(sim, "west-a");
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const informer = makeInformer<V1EndpointSlice>(kc, "/apis/discovery.k8s.io/v1/endpointslices", () =>
      discovery.listEndpointSliceForAllNamespaces(),
    );
    try {
      await informer.start();
      await waitFor("slices", () => informer.list().length === 2);
      const cart = informer.list().find((s) => s.metadata?.labels?.["kubernetes.io/service-name"] === "cart");
      expect(cart?.endpoints?.[0]?.conditions?.ready).to.equal(true);
      expect(cart?.endpoints?.[0]?.zone).to.equal("us-west-2a");
    } finally {
      await informer.stop().catch(() => {});
    }
  });
});
