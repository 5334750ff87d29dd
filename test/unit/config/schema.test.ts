// The config schema: defaults, field-naming error messages, and the checks that keep bad values
// (cluster names too long for a key leaf, unparsable label selectors) from getting past start-up.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { ConfigError, parseConfig, parseYaml } from "../../../src/config/load.ts";
import { labelSelectorProblem, MAX_CLUSTER_NAME_LENGTH } from "../../../src/config/schema.ts";
import { addressLeaf, labelProblem } from "../../../src/federation/names.ts";

const configFile = (name: string) => fileURLToPath(new URL(`../../../config/${name}`, import.meta.url));

/** The ConfigError message parseConfig throws for `input`. */
function errorOf(input: unknown): string {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("config schema", () => {
  it("parses the shipped configs, filling in defaults", async () => {
    for (const name of ["fedns.production.yaml", "fedns.dev.yaml"]) {
      const config = parseConfig(parseYaml(await readFile(configFile(name), "utf8"), name), name);
      expect(config.federation, name).to.be.a("string");
      expect(config.controller.labelSelector, name).to.equal("");
    }
  });

  it("fills in every default for a minimal config", () => {
    const config = parseConfig({ federation: "myfed", domain: "Fed.Example.com.", clusters: [{ name: "east" }] });
    expect(config.domain).to.equal("fed.example.com");
    expect(config.etcd.endpoints).to.deep.equal(["http://127.0.0.1:2379"]);
    expect(config.etcd.prefix).to.equal("/skydns");
    expect(config.dns.listen).to.equal("127.0.0.1:5353");
    expect(config.dns.soa.refresh).to.equal(7200);
    expect(config.dns.cache).to.deep.equal({ entries: 100_000, bytes: 64 * 1024 * 1024 });
    expect(config.controller.ttl).to.deep.equal({ default: 30, min: 5, max: 3600 });
    expect(config.controller.labelSelector).to.equal("");
    expect(config.controller.leaderElection).to.deep.equal({ enabled: true, leaseSeconds: 10 });
    expect(config.log.level).to.equal("info");
    expect(config.clusters).to.deep.equal([{ name: "east" }]);
  });

  it("names the dotted field path and the bad value", () => {
    const cases: [unknown, string, string][] = [
      [{ dns: { listen: "localhost" } }, "dns.listen", '"localhost"'],
      [{ dns: { udpPayloadSize: 100 } }, "dns.udpPayloadSize", "100"],
      [{ dns: { cache: { entries: 0 } } }, "dns.cache.entries", "0"],
      [{ etcd: { endpoints: ["ftp://x:1"] } }, "etcd.endpoints.0", '"ftp://x:1"'],
      [{ controller: { namespaces: ["Shop"] } }, "controller.namespaces.0", '"Shop"'],
      [{ controller: { ttl: { default: 0 } } }, "controller.ttl.default", "0"],
      [{ log: { level: "loud" } }, "log.level", '"loud"'],
      [{ clusters: [{ name: "east", zone: "Us-East-1a", region: "us-east-1" }] }, "clusters.0.zone", '"Us-East-1a"'],
      [{ clusters: [{ name: "east", region: "us_east" }] }, "clusters.0.region", '"us_east"'],
      [{ clusters: [{ name: "East" }] }, "clusters.0.name", '"East"'],
      [{ federation: "-fed" }, "federation", '"-fed"'],
    ];
    for (const [input, field, value] of cases) {
      const message = errorOf(input);
      expect(message, field).to.match(
        new RegExp(`^  ${field.replace(/\./g, "\\.")}: .*\\(got ${escapeRegExp(value)}\\)$`, "m"),
      );
    }
  });

  it("dns.transfers: keys must be listed under dns.tsig.keys, a rule needs networks or a key", () => {
    const key = { name: "xfr-key", algorithm: "hmac-sha256", secretFile: "/k" };
    const zone = (allow: object[], notify: object[] = []) => ({ zone: "example.com", allow, notify });
    const config = (tsigKeys: object[], zones: object[]) => ({
      federation: "f",
      domain: "example.com",
      dns: { tsig: { keys: tsigKeys }, transfers: { zones } },
    });
    expect(errorOf(config([], [zone([{ key: "xfr-key" }])]))).to.contain("unknown TSIG key xfr-key");
    expect(errorOf(config([key], [zone([], [{ address: "192.0.2.1:53", key: "other" }])]))).to.contain(
      "unknown TSIG key other",
    );
    expect(errorOf(config([key], [zone([{}])]))).to.contain("give networks and/or key");
    expect(errorOf(config([{ ...key, algorithm: "hmac-md5" }], []))).to.contain("algorithm");
    const parsed = parseConfig(config([key], [zone([{ networks: ["10.0.0.0/8"], key: "XFR-key." }])]));
    expect(parsed.dns.transfers.zones[0]?.allow[0]?.key).to.equal("xfr-key");
    expect(parsed.dns.transfers.journalRecords).to.equal(100_000);
  });

  it("rejects unknown keys, at the top level and nested", () => {
    expect(errorOf({ federaton: "x" })).to.match(/\(top level\): .*federaton/);
    expect(errorOf({ etcd: { pasword: "x" } })).to.match(/^ {2}etcd: .*pasword/m);
    expect(errorOf({ clusters: [{ name: "east", zonee: "a" }] })).to.match(/^ {2}clusters\.0: .*zonee/m);
  });

  it("keeps zone and region lowercase DNS labels, and a zone needs its region", () => {
    expect(
      parseConfig({ clusters: [{ name: "east", zone: "us-east-1a", region: "us-east-1" }] }).clusters[0],
    ).to.include({
      zone: "us-east-1a",
      region: "us-east-1",
    });
    expect(errorOf({ clusters: [{ name: "east", zone: "us-east-1a" }] })).to.match(/clusters\.0\.region: a zone needs/);
    expect(errorOf({ clusters: [{ name: "east", region: "x".repeat(64) }] })).to.include("clusters.0.region");
  });

  describe("cluster names", () => {
    it("accepts up to 54 characters: exactly what fits the key leaf <cluster>-<8 hex> in one DNS label", () => {
      const longest = `c${"x".repeat(MAX_CLUSTER_NAME_LENGTH - 1)}`;
      expect(parseConfig({ clusters: [{ name: longest }] }).clusters[0]!.name).to.equal(longest);
      expect(labelProblem(addressLeaf(longest, "192.0.2.1"))).to.equal(undefined);
      expect(labelProblem(addressLeaf(`${longest}x`, "192.0.2.1"))).to.not.equal(undefined);
    });

    it("rejects longer names, saying why", () => {
      const name = "c".repeat(60);
      const message = errorOf({ clusters: [{ name }] });
      expect(message).to.include("clusters.0.name: must be at most 54 characters (has 60)");
      expect(message).to.include("63-character DNS label");
      expect(message).to.include(`(got "${name}")`);
      // Longer than a DNS label at all: still one message, about the length.
      expect(errorOf({ clusters: [{ name: "c".repeat(70) }] }).match(/clusters\.0\.name/g)).to.have.length(1);
    });

    it("rejects duplicates", () => {
      expect(errorOf({ clusters: [{ name: "east" }, { name: "east" }] })).to.include(
        'clusters.1.name: duplicate cluster name "east"',
      );
    });
  });

  describe("controller.labelSelector", () => {
    const valid = [
      "",
      "  ",
      "app",
      "!app",
      "! app",
      "app=web",
      "app = web",
      "app==web",
      "app!=web",
      "app=",
      "app=,tier",
      "fedns.io/federate=true",
      "example.com/a_b.c-d=V_1.x-2",
      "tier in (front,back)",
      "tier in(front, back)",
      "tier notin (x)",
      "tier in (a,)",
      "in in (in,notin)",
      "app=web,tier in (front),!legacy,env",
      "replicas>3",
      "replicas<-1",
      `${"k".repeat(63)}=${"v".repeat(63)}`,
      `${"p".repeat(253)}/k`,
    ];
    const invalid: [string, RegExp][] = [
      ["app=web=x", /expected "," or end of selector/],
      ["app=web,", /expected a requirement after ","/],
      [",app", /expected a label key, found ","/],
      ["app web", /expected an operator .* found "web"/],
      ["tier in ()", /needs at least one value/],
      ["tier in front", /expected "\(" after "tier in"/],
      ["tier in (a b)", /expected a value, "," or "\)"/],
      ["tier in (a", /found end of selector/],
      ["tier notin (a/b)", /invalid label value "a\/b"/],
      ["app=web!", /expected "," or end of selector after a requirement, found "!"/],
      ["app=-web", /invalid label value "-web"/],
      [`app=${"v".repeat(64)}`, /invalid label value/],
      ["-app", /invalid label key "-app"/],
      ["Example.com/app", /the prefix must be a lowercase DNS subdomain/],
      ["/app", /prefix before '\/' must not be empty/],
      ["a/b/c", /at most one '\/'/],
      [`${"k".repeat(64)}`, /invalid label key/],
      [`${"p".repeat(254)}/k`, /the prefix must be/],
      ["!app=web", /expected "," or end of selector/],
      ["app>x", /needs an integer value/],
      ["app>", /needs an integer value/],
      ["app>99999999999999999999", /needs an integer value/],
      ["app===web", /expected a value after "app=="/],
      ["app(x)", /expected an operator/],
    ];

    it("accepts Kubernetes label-selector syntax", () => {
      for (const selector of valid) {
        expect(labelSelectorProblem(selector), selector).to.equal(undefined);
        expect(parseConfig({ controller: { labelSelector: selector } }).controller.labelSelector).to.equal(selector);
      }
    });

    it("rejects anything the API server would answer 400 to, naming controller.labelSelector", () => {
      for (const [selector, why] of invalid) {
        expect(labelSelectorProblem(selector), selector).to.match(why);
        const message = errorOf({ controller: { labelSelector: selector } });
        expect(message, selector).to.include("controller.labelSelector: not a valid label selector: ");
        expect(message, selector).to.include(`(got ${JSON.stringify(selector)})`);
      }
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

describe("config schema: short names", () => {
  it("is on by default for cluster.local under /fedns-short", () => {
    const config = parseConfig({});
    expect(config.shortNames).to.deep.equal({
      enabled: true,
      clusterDomain: "cluster.local",
      prefix: "/fedns-short",
      maxNetworksPerCluster: 20_000,
    });
  });

  it("refuses a short-name prefix that overlaps the records' prefix (CoreDNS would serve its keys)", () => {
    expect(errorOf({ shortNames: { prefix: "/skydns/short" } })).to.match(/shortNames\.prefix.*overlap etcd\.prefix/s);
    expect(errorOf({ etcd: { prefix: "/fed" }, shortNames: { prefix: "/fed/" } })).to.match(/shortNames\.prefix/);
    expect(
      parseConfig({ etcd: { prefix: "/skydns" }, shortNames: { prefix: "/skydns-short" } }).shortNames.prefix,
    ).to.equal("/skydns-short");
  });

  it("checks per-cluster client networks and the cluster domain", () => {
    expect(errorOf({ clusters: [{ name: "a", clientNetworks: ["10.0.0.0/33"] }] })).to.match(/clientNetworks/);
    expect(
      parseConfig({ clusters: [{ name: "a", clientNetworks: ["10.0.0.0/8", "fd00::/8"] }] }).clusters[0]!
        .clientNetworks,
    ).to.have.length(2);
    expect(errorOf({ shortNames: { clusterDomain: "bad..domain" } })).to.match(/clusterDomain/);
  });
});
