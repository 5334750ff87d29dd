import { expect } from "chai";
import { ResourceApi } from "../../../src/sim/api.ts";
import { ApiError } from "../../../src/sim/errors.ts";
import { requireType } from "../../../src/sim/resources.ts";
import { parseLabelSelector } from "../../../src/sim/selectors.ts";
import type { StoreEvent } from "../../../src/sim/store.ts";
import type { KubeObject } from "../../../src/sim/types.ts";
import { project } from "../../../src/sim/watch.ts";

const SERVICES = requireType("services");

function service(name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default", labels },
    spec: { type: "LoadBalancer", ports: [{ name: "http", port: 80 }] },
  };
}

describe("sim store and resource API", () => {
  let api: ResourceApi;
  beforeEach(() => {
    api = new ResourceApi();
    api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
  });

  it("stamps one increasing resourceVersion per write", () => {
    const start = api.store.revision();
    const a = api.create(SERVICES, "default", service("a"));
    const b = api.create(SERVICES, "default", service("b"));
    expect(Number(a.metadata.resourceVersion)).to.equal(start + 1);
    expect(Number(b.metadata.resourceVersion)).to.equal(start + 2);
    const patched = api.patch(SERVICES, "default", "a", "merge", { metadata: { labels: { x: "1" } } });
    expect(patched.metadata.resourceVersion).to.equal(String(start + 3));
    expect(api.list(SERVICES, undefined, () => true).resourceVersion).to.equal(String(start + 3));
  });

  it("does not bump the resourceVersion on a no-op update", () => {
    api.create(SERVICES, "default", service("a"));
    const before = api.store.revision();
    const same = api.patch(SERVICES, "default", "a", "merge", { metadata: { labels: {} } });
    expect(api.store.revision()).to.equal(before);
    expect(same.metadata.resourceVersion).to.equal(String(before));
    expect(api.store.eventsAfter(before)).to.deep.equal([]);
  });

  it("defaults services, keeps clusterIP and uid across updates, bumps generation on spec change", () => {
    const created = api.create(SERVICES, "default", service("a"));
    const spec = created.spec as { clusterIP: string; ports: { protocol: string; targetPort: number }[] };
    expect(spec.clusterIP).to.match(/^10\.96\./);
    expect(spec.ports[0]).to.include({ protocol: "TCP", targetPort: 80 });
    const updated = api.patch(SERVICES, "default", "a", "strategic", {
      spec: { ports: [{ port: 80, targetPort: 8080 }] },
    });
    expect((updated.spec as { clusterIP: string }).clusterIP).to.equal(spec.clusterIP);
    expect(updated.metadata.uid).to.equal(created.metadata.uid);
    expect(updated.metadata.generation).to.equal(2);
  });

  it("returns Kubernetes errors: 404, 409 exists/conflict, 422 invalid, 404 namespace", () => {
    api.create(SERVICES, "default", service("a"));
    const code = (fn: () => unknown): [number, string] => {
      try {
        fn();
      } catch (err) {
        if (err instanceof ApiError) return [err.code, err.reason];
        throw err;
      }
      throw new Error("no error");
    };
    expect(code(() => api.get(SERVICES, "default", "nope"))).to.deep.equal([404, "NotFound"]);
    expect(code(() => api.create(SERVICES, "default", service("a")))).to.deep.equal([409, "AlreadyExists"]);
    const stale = { ...service("a"), metadata: { name: "a", namespace: "default", resourceVersion: "1" } };
    expect(code(() => api.replace(SERVICES, "default", "a", stale))).to.deep.equal([409, "Conflict"]);
    const bad = { ...service("b"), spec: { ports: [{ port: 0 }] } };
    expect(code(() => api.create(SERVICES, "default", bad))).to.deep.equal([422, "Invalid"]);
    const elsewhere = { ...service("c"), metadata: { name: "c", namespace: "other" } };
    expect(code(() => api.create(SERVICES, "other", elsewhere))).to.deep.equal([404, "NotFound"]);
    expect(code(() => api.create(SERVICES, "other", service("c")))).to.deep.equal([400, "BadRequest"]);
  });

  it("status subresource changes only status; main resource keeps status", () => {
    api.create(SERVICES, "default", service("a"));
    const ingress = { loadBalancer: { ingress: [{ ip: "198.51.100.1" }] } };
    const viaMain = api.patch(SERVICES, "default", "a", "merge", { status: ingress, metadata: { labels: { m: "1" } } });
    expect(viaMain.status).to.deep.equal({ loadBalancer: {} });
    const viaStatus = api.patch(
      SERVICES,
      "default",
      "a",
      "merge",
      { status: ingress, metadata: { labels: { s: "1" } } },
      "status",
    );
    expect(viaStatus.status).to.deep.equal(ingress);
    expect(viaStatus.metadata.labels).to.deep.equal({ m: "1" });
  });

  it("keeps history for replay and answers undefined (410) before the compaction point", () => {
    const from = api.store.revision();
    api.create(SERVICES, "default", service("a"));
    api.delete(SERVICES, "default", "a");
    expect(api.store.eventsAfter(from)?.map((e) => e.type)).to.deep.equal(["ADDED", "DELETED"]);
    api.store.compact();
    expect(api.store.eventsAfter(from)).to.equal(undefined);
    expect(api.store.eventsAfter(api.store.revision())).to.deep.equal([]);
  });

  it("bounded history moves the compaction point", () => {
    const small = new ResourceApi({ maxHistory: 2 });
    small.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
    for (const name of ["a", "b", "c"]) small.create(SERVICES, "default", service(name));
    expect(small.store.eventsAfter(1)).to.equal(undefined);
    expect(small.store.eventsAfter(2)?.length).to.equal(2);
  });

  it("projects selector transitions as ADDED/DELETED", () => {
    const events: StoreEvent[] = [];
    api.store.subscribe((e) => events.push(e));
    const selector = parseLabelSelector("tier=front");
    api.create(SERVICES, "default", service("a"));
    api.patch(SERVICES, "default", "a", "merge", { metadata: { labels: { tier: "front" } } });
    api.patch(SERVICES, "default", "a", "merge", { metadata: { annotations: { x: "1" } } });
    api.patch(SERVICES, "default", "a", "merge", { metadata: { labels: { tier: null } } });
    const seen = events.map((e) => project(e, SERVICES, undefined, selector));
    expect(seen.map((s) => s?.type)).to.deep.equal([undefined, "ADDED", "MODIFIED", "DELETED"]);
    const last = events[3];
    expect(seen[3]?.object.metadata.resourceVersion).to.equal(String(last?.revision));
    expect(seen[3]?.object.metadata.labels).to.deep.equal({ tier: "front" });
    expect(project(events[1] as StoreEvent, SERVICES, "other", () => true)).to.equal(undefined);
  });

  it("deleting a namespace deletes what it holds", () => {
    api.create(SERVICES, "default", service("a"));
    api.delete(requireType("namespaces"), undefined, "default");
    expect(api.store.list(SERVICES)).to.deep.equal([]);
  });
});
