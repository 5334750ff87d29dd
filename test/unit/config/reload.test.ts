import { expect } from "chai";
import { restartOnlyChanges } from "../../../src/cli/controller.ts";
import { parseConfig } from "../../../src/config/load.ts";

describe("controller config reload", () => {
  it("names the changed settings that need a restart, not the member clusters", () => {
    const before = parseConfig({ federation: "myfed", domain: "example.com", clusters: [{ name: "a" }] });
    const clustersOnly = parseConfig({ federation: "myfed", domain: "example.com", clusters: [{ name: "b" }] });
    expect(restartOnlyChanges(before, clustersOnly)).to.deep.equal([]);
    const more = parseConfig({
      federation: "myfed",
      domain: "example.com",
      clusters: [{ name: "a" }],
      controller: { ttl: { default: 60 } },
      etcd: { prefix: "/other" },
    });
    expect(restartOnlyChanges(before, more)).to.deep.equal(["controller", "etcd"]);
  });
});
