import { expect } from "chai";
import { ApiError } from "../../../src/sim/errors.ts";
import { requireType } from "../../../src/sim/resources.ts";
import { parseFieldSelector, parseLabelSelector } from "../../../src/sim/selectors.ts";
import type { KubeObject } from "../../../src/sim/types.ts";

const svc = (name: string, labels: Record<string, string>, type = "LoadBalancer"): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default", labels },
  spec: { type },
});

describe("sim selectors", () => {
  const a = svc("a", { app: "web", tier: "front" });
  const b = svc("b", { app: "db" }, "ClusterIP");
  const c = svc("c", {});

  it("matches equality, inequality, existence and set requirements", () => {
    const names = (s: string): string[] => [a, b, c].filter(parseLabelSelector(s)).map((o) => o.metadata.name);
    expect(names("")).to.deep.equal(["a", "b", "c"]);
    expect(names("app=web")).to.deep.equal(["a"]);
    expect(names("app==db")).to.deep.equal(["b"]);
    expect(names("app!=web")).to.deep.equal(["b", "c"]);
    expect(names("tier")).to.deep.equal(["a"]);
    expect(names("!tier")).to.deep.equal(["b", "c"]);
    expect(names("app in (web, db)")).to.deep.equal(["a", "b"]);
    expect(names("app notin (web)")).to.deep.equal(["b", "c"]);
    expect(names("app in (web,db),tier=front")).to.deep.equal(["a"]);
  });

  it("rejects malformed label selectors with 400", () => {
    expect(() => parseLabelSelector("app=(x"))
      .to.throw(ApiError)
      .with.property("code", 400);
  });

  it("supports metadata fields and per-type fields, and rejects unknown ones", () => {
    const type = requireType("services");
    expect([a, b, c].filter(parseFieldSelector("metadata.name=b", type)).map((o) => o.metadata.name)).to.deep.equal([
      "b",
    ]);
    expect([a, b].filter(parseFieldSelector("spec.type!=ClusterIP", type)).map((o) => o.metadata.name)).to.deep.equal([
      "a",
    ]);
    expect(() => parseFieldSelector("spec.bogus=1", type))
      .to.throw(ApiError)
      .with.property("code", 400);
  });
});
