// clusters[].trust and controller.limits: validated by the schema, turned into plan()'s policy in one place.
import { expect } from "chai";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import { federationPolicy, planSettings } from "../../../src/config/policy.ts";
import { DEFAULT_LIMITS } from "../../../src/federation/limits.ts";

describe("config: trust and limits", () => {
  it("defaults: no per-cluster policy, the documented limits", () => {
    const policy = federationPolicy(parseConfig({}));
    expect(policy.clusters.size).to.equal(0);
    expect(policy.limits).to.deep.equal(DEFAULT_LIMITS);
    expect(DEFAULT_LIMITS.zones).to.equal(256);
  });

  it("reads each cluster's trust and the limits", () => {
    const config = parseConfig({
      controller: { limits: { zones: 16 } },
      clusters: [
        {
          name: "east",
          trust: {
            namespaces: ["web"],
            zones: ["us-east-1a"],
            regions: ["us-east-1"],
            ttl: { min: 30, max: 300 },
            allowedNetworks: ["10.0.0.0/8", "2001:db8::/32", "198.51.100.7"],
          },
        },
        { name: "west" },
      ],
    });
    const policy = federationPolicy(config);
    expect(policy.limits.zones).to.equal(16);
    expect(policy.limits.regions).to.equal(DEFAULT_LIMITS.regions);
    const east = policy.clusters.get("east")!;
    expect(east.namespaces).to.deep.equal(["web"]);
    expect(east.ttl).to.deep.equal({ min: 30, max: 300 });
    expect(east.allowedNetworks!.map((n) => n.text)).to.deep.equal(["10.0.0.0/8", "2001:db8::/32", "198.51.100.7/32"]);
    expect(policy.clusters.has("west")).to.equal(false);
  });

  it("refuses bad trust settings, naming the field", () => {
    const bad = (trust: unknown) => () => parseConfig({ clusters: [{ name: "east", trust }] });
    expect(bad({ allowedNetworks: ["10.0.0.0/33"] })).to.throw(ConfigError, /allowedNetworks/);
    expect(bad({ ttl: { min: 600, max: 60 } })).to.throw(ConfigError, /min <= max/);
    expect(bad({ zones: ["Not_A_Label"] })).to.throw(ConfigError, /zones/);
    expect(bad({ namespaces: [] })).to.throw(ConfigError, /namespaces/);
    expect(bad({ unknown: true })).to.throw(ConfigError);
    expect(() => parseConfig({ controller: { limits: { zones: 0 } } })).to.throw(ConfigError, /zones/);
  });

  it("gives the controller and fedns check the same plan settings", () => {
    const config = parseConfig({
      controller: { ttl: { default: 60 }, namespaces: ["shop"], gracePeriodSeconds: 90, srv: { priority: 5 } },
    });
    const settings = planSettings(config);
    expect(settings.ttl.default).to.equal(60);
    expect(settings.namespaces).to.deep.equal(["shop"]);
    expect(settings.graceMs).to.equal(90_000);
    expect(settings.srv.priority).to.equal(5);
    expect(settings.policy.limits).to.deep.equal(config.controller.limits);
  });
});
