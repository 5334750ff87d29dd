import { expect } from "chai";
import { LookupBudget } from "../../../src/records/budget.ts";
import { type IndexChange, RecordIndex } from "../../../src/records/index.ts";

function put(key: string, value: object | string, revision = 1): IndexChange {
  return { type: "put", key, value: typeof value === "string" ? value : JSON.stringify(value), revision };
}

const G = "nginx.default.myfed.svc.example.com";
const GKEY = "/skydns/com/example/svc/myfed/default/nginx";

function names(index: RecordIndex, name: string): string[] | undefined {
  return index.lookup(name)?.map((record) => record.key);
}

describe("records/index", () => {
  it("returns the subtree of a name, and the exact key when nothing is below", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([put(`${GKEY}/east-a-1`, { host: "198.51.100.1" }), put(`${GKEY}/west-a-2`, { host: "198.51.100.2" })]);
    expect(names(index, G)).to.deep.equal([`${GKEY}/east-a-1`, `${GKEY}/west-a-2`]);
    expect(names(index, `east-a-1.${G}`)).to.deep.equal([`${GKEY}/east-a-1`]);
    expect(names(index, "default.myfed.svc.example.com")).to.have.length(2);
    expect(index.lookup(`missing.${G}`)).to.equal(undefined);
    expect(index.lookup("other.example.com")).to.equal(undefined);
  });

  it("matches case-insensitively and applies default TTL and priority", () => {
    const index = new RecordIndex({ prefix: "/skydns", defaultTtl: 300 });
    index.apply([
      put(`${GKEY}/a`, { host: "198.51.100.1" }),
      put(`${GKEY}/b`, { host: "198.51.100.2", ttl: 30, priority: 5 }),
    ]);
    const records = index.lookup(G.toUpperCase())!;
    expect(records.map((r) => [r.ttl, r.priority])).to.deep.equal([
      [300, 10],
      [30, 5],
    ]);
  });

  it("filters by group so a name's answer excludes records of names below it", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put(`${GKEY}/east-a-1`, { host: "198.51.100.1", group: G }),
      put(`${GKEY}/_tcp/_http/p80`, { host: G, port: 80, group: `_http._tcp.${G}` }),
    ]);
    expect(names(index, G)).to.deep.equal([`${GKEY}/east-a-1`]);
    expect(names(index, `_http._tcp.${G}`)).to.deep.equal([`${GKEY}/_tcp/_http/p80`]);
  });

  it("keeps records without a group and returns everything when shortest keys disagree", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put("/skydns/com/example/a/x", { host: "198.51.100.1", group: "g1" }),
      put("/skydns/com/example/a/y", { host: "198.51.100.2", group: "g2" }),
      put("/skydns/com/example/a/z", { host: "198.51.100.3" }),
    ]);
    expect(names(index, "a.example.com")).to.have.length(3);
    const grouped = new RecordIndex({ prefix: "/skydns" });
    grouped.apply([
      put("/skydns/com/example/b/x", { host: "198.51.100.1", group: "g1" }),
      put("/skydns/com/example/b/deep/y", { host: "198.51.100.2", group: "g2" }),
      put("/skydns/com/example/b/deep/z", { host: "198.51.100.3" }),
    ]);
    expect(names(grouped, "b.example.com")).to.deep.equal(["/skydns/com/example/b/deep/z", "/skydns/com/example/b/x"]);
  });

  it("answers wildcard labels * and any", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put("/skydns/com/example/svc/myfed/default/nginx/a", { host: "198.51.100.1" }),
      put("/skydns/com/example/svc/myfed/shop/nginx/b", { host: "198.51.100.2" }),
      put("/skydns/com/example/svc/myfed/shop/cart/c", { host: "198.51.100.3" }),
    ]);
    expect(names(index, "nginx.*.myfed.svc.example.com")).to.deep.equal([
      "/skydns/com/example/svc/myfed/default/nginx/a",
      "/skydns/com/example/svc/myfed/shop/nginx/b",
    ]);
    expect(names(index, "any.shop.myfed.svc.example.com")).to.have.length(2);
    expect(index.lookup("nothing.*.myfed.svc.example.com")).to.equal(undefined);
  });

  it("rejects bad values without disturbing the rest, and removes a key whose value turns bad", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([put(`${GKEY}/a`, { host: "198.51.100.1" }), put(`${GKEY}/b`, { host: "198.51.100.2" })]);
    const result = index.apply([put(`${GKEY}/a`, "{not json", 2), put("/elsewhere/x", { host: "198.51.100.9" }, 3)]);
    expect(result.rejected.map((r) => r.key)).to.deep.equal([`${GKEY}/a`, "/elsewhere/x"]);
    expect(names(index, G)).to.deep.equal([`${GKEY}/b`]);
    expect(index.size).to.equal(1);
  });

  it("bumps the generation only on real changes and prunes deleted branches", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([put(`${GKEY}/a`, { host: "198.51.100.1" })]);
    const generation = index.generation;
    index.apply([put(`${GKEY}/a`, { host: "198.51.100.1" }, 2)]);
    expect(index.generation).to.equal(generation);
    index.apply([{ type: "delete", key: `${GKEY}/a`, revision: 3 }]);
    expect(index.generation).to.equal(generation + 1);
    expect(index.lookup("example.com")).to.equal(undefined);
    expect(index.size).to.equal(0);
  });

  it("tracks the last change under a name for zone serials", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put("/skydns/com/example/a", { host: "198.51.100.1" }, 5),
      put("/skydns/org/other/a", { host: "198.51.100.1" }, 9),
    ]);
    expect(index.lastChange("example.com")).to.equal(5);
    index.apply([{ type: "delete", key: "/skydns/com/example/a", revision: 12 }]);
    expect(index.lastChange("example.com")).to.be.at.least(12);
    expect(index.lastChange("other.org")).to.equal(9);
  });

  it("replaceAll touches only what differs", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put("/skydns/com/example/a", { host: "198.51.100.1" }, 5),
      put("/skydns/com/example/b", { host: "198.51.100.2" }, 6),
    ]);
    const result = index.replaceAll(
      [
        { key: "/skydns/com/example/a", value: JSON.stringify({ host: "198.51.100.1" }), modRevision: 5 },
        { key: "/skydns/com/example/c", value: JSON.stringify({ host: "198.51.100.3" }), modRevision: 20 },
      ],
      21,
    );
    expect(result.changed).to.equal(2);
    expect(index.all().map((r) => r.key)).to.deep.equal(["/skydns/com/example/a", "/skydns/com/example/c"]);
    expect(index.revision).to.equal(21);
  });

  it("rejects keys that are not valid DNS names on the wire: a label over 63 octets, a name over 253", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const longLeaf = `/skydns/com/example/${"a".repeat(70)}`;
    const longName = `/skydns/com/example/${Array.from({ length: 30 }, (_, i) => `label${i}xx`).join("/")}`;
    const wideLeaf = `/skydns/com/example/${"é".repeat(40)}`; // 40 characters, 80 octets in UTF-8
    const result = index.apply([
      put(longLeaf, { host: "198.51.100.1" }),
      put(longName, { host: "198.51.100.2" }),
      put(wideLeaf, { host: "198.51.100.3" }),
      put(`/skydns/com/example/${"b".repeat(63)}`, { host: "198.51.100.4" }),
    ]);
    expect(result.rejected.map((r) => r.key)).to.deep.equal([longLeaf, longName, wideLeaf]);
    expect(result.rejected[0]?.error).to.match(/label longer than 63/);
    expect(result.rejected[1]?.error).to.match(/name longer than 253/);
    expect(index.size).to.equal(1);
    expect(index.lookup("example.com")?.map((r) => r.service.host)).to.deep.equal(["198.51.100.4"]);
    expect(index.exists(`${"a".repeat(70)}.example.com`)).to.equal(false);
  });

  it("answers existence from the path alone, as lookup() would", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put("/skydns/com/example/svc/myfed/default/nginx/a", { host: "198.51.100.1" }),
      put("/skydns/com/example/svc/myfed/shop/cart/c", { host: "198.51.100.3" }),
    ]);
    const questions = [
      "example.com",
      "svc.example.com",
      "myfed.svc.example.com",
      "a.nginx.default.myfed.svc.example.com",
      "b.nginx.default.myfed.svc.example.com",
      "nginx.*.myfed.svc.example.com",
      "cart.any.myfed.svc.example.com",
      "nothing.*.myfed.svc.example.com",
      "*.*.*.*.*.*.*.example.com",
      "*.*.*.*.*.*.example.com",
      "other.org",
      "com",
    ];
    for (const name of questions) expect(index.exists(name), name).to.equal(index.lookup(name) !== undefined);
  });

  it("makes a fedns record's owner name exist, not its key name below it (zone-file semantics)", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const owned = (group: string, host: string) => ({ host, group, owner: "fedns/myfed" });
    index.apply([
      put(`${GKEY}/c1-1`, owned(G, "198.51.100.1")),
      put(`${GKEY}/_tcp/_http/p80`, { ...owned(`_http._tcp.${G}`, G), port: 80 }),
    ]);
    for (const name of [G, `_http._tcp.${G}`, `_tcp.${G}`, "svc.example.com"]) {
      expect([index.exists(name), index.lookup(name) !== undefined], name).to.deep.equal([true, true]);
    }
    for (const name of [`c1-1.${G}`, `p80._http._tcp.${G}`, `*._http._tcp.${G}`]) {
      expect([index.exists(name), index.lookup(name) !== undefined], name).to.deep.equal([false, false]);
    }
    // Another writer's key there is a name of its own (CoreDNS reading).
    index.apply([put(`${GKEY}/c1-1`, { host: "198.51.100.1" }, 2)]);
    expect(index.exists(`c1-1.${G}`)).to.equal(true);
    index.apply([{ type: "delete", key: `${GKEY}/c1-1`, revision: 3 }]);
    expect([index.exists(`c1-1.${G}`), index.exists(G)]).to.deep.equal([false, true]);
    index.apply([{ type: "delete", key: `${GKEY}/_tcp/_http/p80`, revision: 4 }]);
    expect([index.exists(G), index.exists("example.com"), index.size]).to.deep.equal([false, false, 0]);
  });

  it("checks existence without walking the subtree, and reads a big subtree only within the budget", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const changes: IndexChange[] = [];
    for (let i = 0; i < 50_000; i++) {
      changes.push(put(`/skydns/com/example/svc/myfed/ns${i % 100}/s${i}/c1`, { host: "198.51.100.1" }));
    }
    index.apply(changes);
    const visits = (run: () => unknown): number => {
      const before = index.nodeVisits;
      run();
      return index.nodeVisits - before;
    };
    expect(visits(() => index.exists("example.com"))).to.be.at.most(5);
    expect(visits(() => index.exists("svc.example.com"))).to.be.at.most(5);
    expect(visits(() => index.exists("s7.ns7.myfed.svc.example.com"))).to.be.at.most(8);
    expect(visits(() => index.exists("nothing.*.myfed.svc.example.com"))).to.be.at.most(200);
    // A subtree read costs the subtree the first time, nothing more in the same generation.
    // A subtree read stops at the budget and says so; a bigger budget reads everything.
    const small = new LookupBudget({ maxRecords: 100 });
    const cut = index.at("svc.example.com", { budget: small });
    expect(cut?.records).to.have.length(100);
    expect(cut?.truncated).to.equal(true);
    expect(small.visits).to.be.below(500);
    const full = index.at("svc.example.com", { budget: new LookupBudget({ maxRecords: 60_000, maxVisits: 1e6 }) });
    expect(full?.records).to.have.length(50_000);
    expect(full?.truncated).to.equal(false);
    expect(visits(() => index.lookup("s7.ns7.myfed.svc.example.com"))).to.be.at.most(10);
  });
});
