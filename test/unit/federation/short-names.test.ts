// Short names, the pure part: the prefix trie, the published client map and shard addresses, the answer choice.
import { expect } from "chai";
import { serviceNames } from "../../../src/federation/names.ts";
import { PrefixTrie } from "../../../src/federation/prefix-trie.ts";
import {
  type ClientNetworkValue,
  canonicalNetwork,
  decodeShortValue,
  encodeShortValue,
  networkBytes,
  shortBase,
  shortKeyUnit,
  shortUnitOf,
} from "../../../src/federation/short-keys.ts";
import {
  type Asker,
  chooseShortAnswer,
  type NodeNetworks,
  ShortData,
  type ShortOptions,
  type ShortSource,
  shortRecords,
  shortUnits,
  shortUnitsOf,
} from "../../../src/federation/short-names.ts";
import type { ClusterState, PlanWarning } from "../../../src/federation/state.ts";
import { cluster, svc } from "./fixtures.ts";

function net(text: string) {
  const bytes = networkBytes(text);
  if (bytes === undefined) throw new Error(`bad network ${text}`);
  return bytes;
}

function addr(text: string): Uint8Array {
  return net(text).bytes;
}

describe("prefix trie", () => {
  it("finds the longest network holding an address, IPv4 and IPv6 apart", () => {
    const trie = new PrefixTrie<string>();
    trie.insert(net("10.0.0.0/8"), "eight");
    trie.insert(net("10.1.0.0/16"), "sixteen");
    trie.insert(net("10.1.2.3/32"), "host");
    trie.insert(net("fd00::/8"), "v6");
    expect(trie.match(addr("10.1.2.3")).value).to.equal("host");
    expect(trie.match(addr("10.1.2.4")).value).to.equal("sixteen");
    expect(trie.match(addr("10.2.0.1")).value).to.equal("eight");
    expect(trie.match(addr("11.0.0.1")).value).to.equal(undefined);
    expect(trie.match(addr("fd12::1")).value).to.equal("v6");
    expect(trie.match(addr("fe80::1")).value).to.equal(undefined);
    expect(trie.match(addr("10.1.2.3")).prefixLength).to.equal(32);
  });

  it("keeps the first value inserted for a network", () => {
    const trie = new PrefixTrie<string>();
    expect(trie.insert(net("10.0.0.0/8"), "first")).to.equal("added");
    expect(trie.insert(net("10.0.0.0/8"), "second")).to.equal("exists");
    expect(trie.match(addr("10.9.9.9")).value).to.equal("first");
  });

  it("refuses networks past its capacity", () => {
    const trie = new PrefixTrie<number>(2);
    expect(trie.insert(net("10.0.0.1/32"), 1)).to.equal("added");
    expect(trie.insert(net("10.0.0.2/32"), 2)).to.equal("added");
    expect(trie.insert(net("10.0.0.3/32"), 3)).to.equal("full");
    expect(trie.size).to.equal(2);
    expect(trie.match(addr("10.0.0.3")).value).to.equal(undefined);
  });

  it("gives the scope that decided a match: the bits up to where the trie ends or branches away", () => {
    const trie = new PrefixTrie<string>();
    trie.insert(net("10.1.0.0/16"), "a");
    trie.insert(net("10.1.2.0/24"), "b");
    // 10.1.3.x leaves the /24 branch at bit 24 (the 24th bit differs): 24 bits decide.
    expect(trie.match(addr("10.1.3.9")).scope).to.equal(24);
    expect(trie.match(addr("10.1.2.9")).scope).to.equal(24);
    // A /16 source covers both answers: the scope must say more bits are needed.
    expect(trie.match(addr("10.1.0.0"), 16).scope).to.equal(32);
    // A /24 source inside the /24 network decides fully.
    expect(trie.match(addr("10.1.2.0"), 24)).to.deep.equal({ value: "b", prefixLength: 24, scope: 24 });
    // Outside everything: the first bit that leaves the trie.
    expect(trie.match(addr("192.168.0.1")).scope).to.equal(1);
  });
});

describe("short-name keys", () => {
  it("canonicalises networks: host bits cleared, RFC 5952, IPv4-mapped as IPv4", () => {
    expect(canonicalNetwork("10.1.2.3/16")).to.equal("10.1.0.0/16");
    expect(canonicalNetwork("2001:DB8:0:0::1/64")).to.equal("2001:db8::/64");
    expect(canonicalNetwork("::ffff:10.0.0.1")).to.equal("10.0.0.1/32");
    expect(canonicalNetwork("10.0.0.1")).to.equal("10.0.0.1/32");
    for (const bad of ["10.0.0.0/33", "x/8", "10.0.0.0/8/8", "0x7f.1", "10.0.0.0/-1"]) {
      expect(canonicalNetwork(bad), bad).to.equal(undefined);
    }
  });

  it("decodes only well-formed values and re-encodes them identically", () => {
    const client = '{"network":"10.0.0.0/8","source":"pod","zone":"a","region":"r","owner":"fedns/f","cluster":"c"}';
    const decoded = decodeShortValue(client);
    expect(decoded.ok).to.equal(true);
    if (decoded.ok) expect(encodeShortValue(decoded.value)).to.equal(client);
    const service = '{"addresses":["10.96.0.1"],"ports":[{"name":"http","protocol":"tcp","port":80}],"owner":"o"}';
    const decodedService = decodeShortValue(service);
    expect(decodedService.ok).to.equal(true);
    if (decodedService.ok) expect(encodeShortValue(decodedService.value)).to.equal(service);
    for (const bad of [
      "nope",
      "[]",
      '{"network":"10.0.0.0/40","source":"pod"}',
      '{"network":"10.0.0.0/8","source":"elsewhere"}',
      '{"network":"10.0.0.0/8","source":"pod","zone":"a"}',
      '{"addresses":["10.0.0.0/8"],"ports":[]}',
      '{"addresses":["10.0.0.1"],"ports":[{"name":"http","protocol":"tcp","port":0}]}',
      `{"addresses":[${Array.from({ length: 17 }, (_, i) => `"10.0.0.${i}"`).join(",")}],"ports":[]}`,
    ]) {
      expect(decodeShortValue(bad).ok, bad).to.equal(false);
    }
  });

  it("maps every key of a cluster to that cluster's unit, nothing else", () => {
    const unitOf = shortUnitOf("/fedns-short", "f");
    expect(unitOf("/fedns-short/f/clients/c1/10.0.0.0_8")).to.equal("c1");
    expect(unitOf("/fedns-short/f/services/c1/default/web")).to.equal("c1");
    expect(unitOf("/fedns-short/g/services/c1/default/web")).to.equal(undefined);
    expect(unitOf("/fedns-short/f/services/c1/default")).to.equal(undefined);
    expect(unitOf("/skydns/com/example/x")).to.equal(undefined);
  });
});

const OPTIONS: ShortOptions = {
  prefix: "/fedns-short",
  federation: "f",
  owner: "fedns/f",
  namespaces: [],
  maxNetworksPerCluster: 100,
};

function source(state: ClusterState, nodeNetworks: Record<string, NodeNetworks>, clientNetworks: string[] = []) {
  return { state, clientNetworks, nodeNetworks: new Map(Object.entries(nodeNetworks)) } satisfies ShortSource;
}

describe("shortRecords", () => {
  const east = cluster("east", {
    nodes: { n1: { zone: "a", region: "r" }, n2: { zone: "b", region: "r" } },
    services: [
      {
        ...svc({ name: "web", ips: ["192.0.2.1"], ports: [{ name: "http", protocol: "TCP", port: 80 }] }),
        clusterIPs: ["10.96.0.10", "fd00::a"],
      },
      { ...svc({ name: "down", ips: ["192.0.2.2"], endpoints: [{ ready: false }] }), clusterIPs: ["10.96.0.11"] },
      { ...svc({ name: "headless", ips: ["192.0.2.3"] }), clusterIPs: ["None"] },
    ],
  });
  const networks = {
    n1: { addresses: ["127.1.0.1", "n1.example"], podCIDRs: ["127.1.1.0/24"] },
    n2: { addresses: ["127.1.0.2"], podCIDRs: ["127.1.2.0/24", "fd01::/64"] },
  };

  it("publishes config networks, node addresses and pod CIDRs with the node's zone, and healthy shards' ClusterIPs", () => {
    const warnings: PlanWarning[] = [];
    const records = shortRecords([source(east, networks, ["127.9.0.0/16"])], OPTIONS, (w) => warnings.push(w));
    const keys = records.get("east")!;
    const base = shortBase("/fedns-short", "f");
    expect([...keys.keys()].map((key) => key.slice(base.length))).to.deep.equal([
      "clients/east/127.1.0.1_32",
      "clients/east/127.1.0.2_32",
      "clients/east/127.1.1.0_24",
      "clients/east/127.1.2.0_24",
      "clients/east/127.9.0.0_16",
      "clients/east/fd01::_64",
      "services/east/default/web",
    ]);
    expect(keys.get(`${base}clients/east/127.1.1.0_24`)).to.deep.include({ source: "pod", zone: "a", region: "r" });
    expect(keys.get(`${base}clients/east/127.1.0.2_32`)).to.deep.include({ source: "node", zone: "b", region: "r" });
    // Two zones in the cluster: a config network is known by region only.
    const configured = keys.get(`${base}clients/east/127.9.0.0_16`);
    expect(configured).to.deep.include({ source: "config", region: "r" });
    expect(configured).to.not.have.property("zone");
    expect(keys.get(`${base}services/east/default/web`)).to.deep.equal({
      addresses: ["10.96.0.10", "fd00::a"],
      ports: [{ name: "http", protocol: "tcp", port: 80 }],
      owner: "fedns/f",
      cluster: "east",
    });
    expect(warnings.map((w) => w.message)).to.deep.equal(['client network "n1.example" skipped']);
  });

  it("splits the keys into units: a cluster's client networks, and each of its shards apart", () => {
    const sources = [source(east, networks)];
    expect(shortUnitsOf(sources)).to.deep.equal([
      "clients/east",
      "services/east/default/web",
      "services/east/default/down",
      "services/east/default/headless",
    ]);
    const only = new Set(["services/east/default/web", "services/east/default/down", "services/east/default/gone"]);
    const units = shortUnits(sources, OPTIONS, () => {}, only);
    // Only what was asked; an unhealthy shard maps to nothing (its key goes), a Service that is gone is absent.
    expect([...units.keys()]).to.deep.equal(["services/east/default/web", "services/east/default/down"]);
    expect([...units.get("services/east/default/web")!.keys()]).to.deep.equal([
      `${shortBase("/fedns-short", "f")}services/east/default/web`,
    ]);
    expect(units.get("services/east/default/down")!.size).to.equal(0);
    const unitOf = shortKeyUnit("/fedns-short", "f");
    expect(unitOf("/fedns-short/f/clients/east/127.1.0.1_32")).to.equal("clients/east");
    expect(unitOf("/fedns-short/f/services/east/default/web")).to.equal("services/east/default/web");
  });

  it("refuses a node's pod CIDR wider than /16 or /48: a cluster does not speak for every asker", () => {
    const warnings: PlanWarning[] = [];
    const wide = { n1: { addresses: [], podCIDRs: ["0.0.0.0/0", "127.0.0.0/8", "127.1.0.0/16", "fd00::/8"] } };
    const records = shortRecords([source(east, wide)], OPTIONS, (w) => warnings.push(w));
    const clients = [...records.get("east")!.keys()]
      .filter((key) => key.includes("/clients/"))
      .map((key) => key.slice(key.lastIndexOf("/") + 1));
    expect(clients).to.deep.equal(["127.1.0.0_16"]);
    expect(warnings.filter((w) => w.kind === "address-refused")).to.have.length(3);
    // The operator's own clientNetworks are not limited.
    const configured = shortRecords([source(east, {}, ["10.0.0.0/8"])], OPTIONS);
    expect([...configured.get("east")!.keys()].some((key) => key.endsWith("10.0.0.0_8"))).to.equal(true);
  });

  it("caps the client networks of a cluster, deterministically, with a warning", () => {
    const warnings: PlanWarning[] = [];
    const records = shortRecords([source(east, networks)], { ...OPTIONS, maxNetworksPerCluster: 2 }, (w) =>
      warnings.push(w),
    );
    const clients = [...records.get("east")!.keys()].filter((key) => key.includes("/clients/"));
    expect(clients).to.have.length(2);
    expect(warnings.some((w) => w.message.includes("more than 2 client networks"))).to.equal(true);
  });

  it("publishes no shard of a stale cluster (it keeps its networks)", () => {
    const stale = { ...east, status: "stale" as const };
    const keys = [
      ...shortRecords([source(stale, networks)], OPTIONS)
        .get("east")!
        .keys(),
    ];
    expect(keys.some((key) => key.includes("/services/"))).to.equal(false);
    expect(keys.some((key) => key.includes("/clients/"))).to.equal(true);
  });

  it("is what the DNS side reads back: askers by longest prefix, config first on equal prefixes", () => {
    const west = cluster("west", { nodes: { w1: { zone: "c", region: "s" } } });
    const records = shortRecords(
      [source(east, networks), source(west, { w1: { addresses: ["127.1.0.1"], podCIDRs: [] } }, ["127.1.0.0/16"])],
      OPTIONS,
    );
    const entries = [...records.values()].flatMap((keys) => [...keys.entries()]);
    const data = new ShortData(entries, shortBase("/fedns-short", "f"));
    // 127.1.0.1/32 is both east's node and west's node: both "node"; cluster order decides (east).
    expect(data.askerOf(addr("127.1.0.1")).asker).to.deep.equal({ cluster: "east", zone: "a", region: "r" });
    expect(data.askerOf(addr("127.1.2.77")).asker).to.deep.equal({ cluster: "east", zone: "b", region: "r" });
    // Not in any pod CIDR or node address: west's configured /16.
    expect(data.askerOf(addr("127.1.200.1")).asker).to.deep.equal({ cluster: "west", zone: "c", region: "s" });
    expect(data.askerOf(addr("127.2.0.1")).asker).to.equal(undefined);
    expect(data.shardOf("east", "default", "web")?.addresses).to.deep.equal(["10.96.0.10", "fd00::a"]);
    expect(data.shardOf("west", "default", "web")).to.equal(undefined);
  });

  it("refuses networks past the DNS side's cap", () => {
    const records = shortRecords([source(east, networks)], OPTIONS);
    const data = new ShortData([...records.get("east")!.entries()], shortBase("/fedns-short", "f"), 3);
    expect(data.networks).to.equal(3);
    expect(data.refused).to.equal(2);
  });
});

describe("chooseShortAnswer", () => {
  const names = serviceNames("f", "example.com", "default", "web");
  const existing = new Set([names.global, names.region("r"), names.zone("a", "r")]);
  const exists = (name: string) => existing.has(name);
  const asker: Asker = { cluster: "east", zone: "a", region: "r" };
  const shard = { addresses: ["10.96.0.10"], ports: [{ name: "http", protocol: "tcp", port: 80 }] };

  it("answers the asker's own healthy shard", () => {
    expect(chooseShortAnswer(asker, names, undefined, shard, exists)).to.deep.equal({ kind: "local", shard });
    expect(chooseShortAnswer(asker, names, { name: "http", protocol: "tcp" }, shard, exists).kind).to.equal("local");
  });

  it("else the asker's zone name, its region name, the global name, whichever exists first", () => {
    expect(chooseShortAnswer(asker, names, undefined, undefined, exists)).to.deep.equal({
      kind: "alias",
      target: names.zone("a", "r"),
      level: "zone",
      unknown: false,
    });
    expect(chooseShortAnswer({ ...asker, zone: "z" }, names, undefined, undefined, exists)).to.include({
      target: names.region("r"),
    });
    expect(chooseShortAnswer({ cluster: "x" }, names, undefined, undefined, exists)).to.include({
      target: names.global,
      unknown: false,
    });
    // The local shard lacks the port asked for: the zone's SRV.
    expect(chooseShortAnswer(asker, names, { name: "grpc", protocol: "tcp" }, shard, exists)).to.include({
      target: `_grpc._tcp.${names.zone("a", "r")}`,
    });
  });

  it("sends an unknown asker to the global name", () => {
    expect(chooseShortAnswer(undefined, names, undefined, undefined, exists)).to.deep.equal({
      kind: "alias",
      target: names.global,
      level: "global",
      unknown: true,
    });
  });

  it("answers nothing when the service has no healthy shard anywhere", () => {
    expect(chooseShortAnswer(asker, names, undefined, shard, () => false)).to.deep.equal({ kind: "none" });
  });
});

describe("ShortData: client networks changed in place", () => {
  const base = shortBase("/fedns-short", "f");
  const clusters = ["a", "b", "c"];
  const sources = ["config", "node", "pod"] as const;
  const networks = ["127.1.0.0/16", "127.1.2.0/24", "127.1.2.3/32", "127.1.3.0/24", "127.2.0.0/16", "fd00::/48"];

  /** A small deterministic pseudo-random sequence (no wall clock, no Math.random). */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
  }

  it("answers exactly as a fresh build of the same keys, after any sequence of puts and deletes", () => {
    const next = random(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const live = new ShortData([], base);
    const entries = new Map<string, ClientNetworkValue>();
    const probes = ["127.1.2.3", "127.1.2.9", "127.1.3.1", "127.1.9.9", "127.2.0.1", "127.3.0.1", "fd00::1", "fd01::1"];
    for (let step = 0; step < 400; step++) {
      const cluster = pick(clusters);
      const network = pick(networks);
      const key = `${base}clients/${cluster}/${network.replace("/", "_")}`;
      if (next() < 0.35) {
        entries.delete(key);
        live.setNetwork(key, cluster, undefined);
      } else {
        const value: ClientNetworkValue = {
          network: canonicalNetwork(network)!,
          source: pick(sources),
          region: "r",
          zone: pick(["x", "y"]),
          cluster,
        };
        entries.set(key, value);
        live.setNetwork(key, cluster, value);
      }
      const fresh = new ShortData(entries.entries(), base);
      for (const probe of probes) {
        for (const prefix of [undefined, 8, 16, 24]) {
          expect(live.askerOf(addr(probe), prefix), `${probe}/${prefix} after step ${step}`).to.deep.equal(
            fresh.askerOf(addr(probe), prefix),
          );
        }
      }
      expect(live.networks).to.equal(fresh.networks);
    }
  });

  it("prefers config over node addresses over pod CIDRs on an equal network, then the cluster name", () => {
    const data = new ShortData([], base);
    const value = (source: (typeof sources)[number], cluster: string): ClientNetworkValue => ({
      network: "127.1.0.0/16",
      source,
      region: cluster,
      cluster,
    });
    data.setNetwork(`${base}clients/b/127.1.0.0_16`, "b", value("pod", "b"));
    data.setNetwork(`${base}clients/c/127.1.0.0_16`, "c", value("node", "c"));
    expect(data.askerOf(addr("127.1.0.1")).asker?.cluster).to.equal("c");
    data.setNetwork(`${base}clients/a/127.1.0.0_16`, "a", value("node", "a"));
    expect(data.askerOf(addr("127.1.0.1")).asker?.cluster).to.equal("a");
    data.setNetwork(`${base}clients/a/127.1.0.0_16`, "a", undefined);
    data.setNetwork(`${base}clients/c/127.1.0.0_16`, "c", undefined);
    expect(data.askerOf(addr("127.1.0.1")).asker?.cluster).to.equal("b");
  });
});
