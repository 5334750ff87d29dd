import { expect } from "chai";
import { ApiError } from "../../../src/sim/errors.ts";
import { jsonPatch, mergePatch, patchKindOf, strategicMergePatch } from "../../../src/sim/patch.ts";

describe("sim patch", () => {
  const service = {
    metadata: { name: "web", labels: { a: "1", b: "2" }, finalizers: ["x"] },
    spec: {
      ports: [
        { name: "http", port: 80, targetPort: 8080 },
        { name: "https", port: 443 },
      ],
      selector: { app: "web" },
    },
    status: { loadBalancer: { ingress: [{ ip: "198.51.100.1" }, { ip: "198.51.100.2" }] } },
  };

  it("maps content types to patch kinds", () => {
    expect(patchKindOf("application/merge-patch+json")).to.equal("merge");
    expect(patchKindOf("application/strategic-merge-patch+json; charset=utf-8")).to.equal("strategic");
    expect(patchKindOf("application/json-patch+json")).to.equal("json");
    expect(patchKindOf("application/apply-patch+yaml")).to.equal(undefined);
  });

  it("JSON merge patch replaces lists and deletes with null", () => {
    const out = mergePatch(service, {
      metadata: { labels: { a: null, c: "3" } },
      spec: { ports: [{ port: 1 }] },
    }) as typeof service;
    expect(out.metadata.labels).to.deep.equal({ b: "2", c: "3" });
    expect(out.spec.ports).to.deep.equal([{ port: 1 }]);
    expect(service.metadata.labels.a).to.equal("1"); // input untouched
  });

  it("strategic merge patch merges ports by port and honours $patch directives", () => {
    const out = strategicMergePatch(service, {
      spec: {
        ports: [
          { port: 80, targetPort: 9090 },
          { port: 8080, name: "alt" },
          { port: 443, $patch: "delete" },
        ],
      },
      metadata: { finalizers: ["y"], "$setElementOrder/finalizers": ["x", "y"] },
    }) as typeof service;
    expect(out.spec.ports).to.deep.equal([
      { name: "http", port: 80, targetPort: 9090 },
      { port: 8080, name: "alt" },
    ]);
    expect(out.metadata.finalizers).to.deep.equal(["x", "y"]);
    expect(out.metadata).to.not.have.property("$setElementOrder/finalizers");
  });

  it("strategic merge patch replaces lists without a merge key (LB ingress)", () => {
    const out = strategicMergePatch(service, {
      status: { loadBalancer: { ingress: [{ ip: "203.0.113.9" }] } },
    }) as typeof service;
    expect(out.status.loadBalancer.ingress).to.deep.equal([{ ip: "203.0.113.9" }]);
    const replaced = strategicMergePatch(service, { spec: { $patch: "replace", type: "ClusterIP" } }) as {
      spec: unknown;
    };
    expect(replaced.spec).to.deep.equal({ type: "ClusterIP" });
  });

  it("JSON patch applies add/remove/replace/move/copy/test", () => {
    const out = jsonPatch(service, [
      { op: "test", path: "/metadata/name", value: "web" },
      { op: "add", path: "/metadata/labels/c~1d", value: "x" },
      { op: "remove", path: "/metadata/labels/a" },
      { op: "replace", path: "/spec/ports/0/port", value: 81 },
      { op: "add", path: "/spec/ports/-", value: { port: 9 } },
      { op: "copy", from: "/spec/selector", path: "/metadata/annotations" },
      { op: "move", from: "/metadata/labels/b", path: "/metadata/labels/bb" },
    ]) as typeof service & { metadata: { annotations: unknown } };
    expect(out.metadata.labels).to.deep.equal({ "c/d": "x", bb: "2" });
    expect(out.spec.ports.map((p) => p.port)).to.deep.equal([81, 443, 9]);
    expect(out.metadata.annotations).to.deep.equal({ app: "web" });
  });

  it("JSON patch failures are 422 and malformed patches 400", () => {
    expect(() => jsonPatch(service, [{ op: "test", path: "/metadata/name", value: "x" }]))
      .to.throw(ApiError)
      .with.property("code", 422);
    expect(() => jsonPatch(service, [{ op: "remove", path: "/nope/x" }]))
      .to.throw(ApiError)
      .with.property("code", 422);
    expect(() => jsonPatch(service, [{ op: "frobnicate", path: "/a" }]))
      .to.throw(ApiError)
      .with.property("code", 400);
  });
});
