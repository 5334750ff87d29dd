// `fedns check` on short names: the zone served, and clusters whose namespace named like the federation is shadowed.
import { expect } from "chai";
import { shortNameFindings } from "../../../src/cli/check/short-findings.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { cluster, svc } from "../federation/fixtures.ts";

describe("fedns check: short-name findings", () => {
  const clusters = [
    cluster("east-a", { services: [svc({ name: "web" }), svc({ namespace: "myfed", name: "db", type: "ClusterIP" })] }),
    cluster("east-b", { services: [svc({ name: "web" })] }),
  ];

  it("names the short zone and each cluster whose namespace named like the federation it shadows", () => {
    const findings = shortNameFindings(
      parseConfig({ federation: "myfed", domain: "example.com", shortNames: { clusterDomain: "corp.local" } }),
      clusters,
    );
    expect(findings.map((f) => `${f.severity} ${f.subject} ${f.code}`)).to.deep.equal([
      "ok short names short-names-zone",
      "warn cluster east-a short-names-namespace-shadowed",
    ]);
    expect(findings[0]!.message).to.include("myfed.svc.corp.local");
    expect(findings[1]!.details).to.deep.include({ services: ["db"], zone: "myfed.svc.corp.local" });
    expect(findings[1]!.fix).to.match(/shortNames\.enabled: false/);
  });

  it("says nothing when short names are off or no federation is configured", () => {
    const off = parseConfig({ federation: "myfed", domain: "example.com", shortNames: { enabled: false } });
    expect(shortNameFindings(off, clusters)).to.deep.equal([]);
    expect(shortNameFindings(parseConfig({ domain: "example.com" }), clusters)).to.deep.equal([]);
  });
});
