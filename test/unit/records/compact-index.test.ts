// The compact record index (issue 8): records rebuilt from their compact form read exactly as stored,
// keys below another key's leaf and fedns records owning their own name keep every reading, and the
// full walk (names / forEachName) visits each record once, in slices, and refuses a changing index.
import { expect } from "chai";
import { type IndexChange, IndexChangedError, RecordIndex } from "../../../src/records/index.ts";
import { decodeService, encodeService } from "../../../src/records/service.ts";
import { Interner } from "../../../src/records/stored-record.ts";

let revision = 0;
function put(key: string, value: object): IndexChange {
  return { type: "put", key, value: JSON.stringify(value), revision: ++revision };
}

const G = "nginx.default.myfed.svc.example.com";
const GKEY = "/skydns/com/example/svc/myfed/default/nginx";
const OWNER = "fedns/myfed";

describe("records/index (compact form)", () => {
  it("gives back every field of the stored value, the key and the name", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const values = [
      { host: "198.51.100.7", ttl: 30, group: G, owner: OWNER, cluster: "east" },
      { host: "255.255.255.255", priority: 65535, weight: 65535, port: 65535 },
      { host: "2001:db8::1", port: -1, targetstrip: 2, mail: false },
      { host: G, port: 80, priority: 0, weight: 0, ttl: 0, group: `_http._tcp.${G}`, owner: OWNER },
      { host: "", text: "hello", mail: true },
      { host: "::ffff:198.51.100.9" },
    ];
    index.apply(values.map((value, i) => put(`${GKEY}/Leaf-With-Long-Name-${i}`, value)));
    const read = index.all();
    expect(read.map((record) => record.key)).to.deep.equal(values.map((_, i) => `${GKEY}/Leaf-With-Long-Name-${i}`));
    for (const [i, record] of read.entries()) {
      const expected = decodeService(JSON.stringify(values[i])) as { ok: true; service: object };
      const service = { ...expected.service } as Record<string, unknown>;
      if (i === 3) service.ttl = 300; // a zero TTL reads as the default one
      if (i === 5) service.host = "198.51.100.9"; // an IPv4-mapped IPv6 address is an A record
      expect(record.service, record.key).to.deep.equal(service);
      expect(record.name).to.equal(`leaf-with-long-name-${i}.${G}`);
    }
    expect(read.map((record) => [record.hostKind, record.address ?? record.target, record.type])).to.deep.equal([
      ["A", "198.51.100.7", "A"],
      ["A", "255.255.255.255", "A"],
      ["AAAA", "2001:db8::1", "AAAA"],
      ["CNAME", G, "CNAME"], // its group is no ancestor of its key: no SRV name
      [undefined, undefined, "TXT"],
      ["A", "198.51.100.9", "A"],
    ]);
    expect(read.map((record) => [record.ttl, record.priority, record.port, record.weight])).to.deep.equal([
      [30, 10, undefined, undefined],
      [300, 65535, 65535, 65535],
      [300, 10, -1, undefined],
      [300, 10, 80, 0],
      [300, 10, undefined, undefined],
      [300, 10, undefined, undefined],
    ]);
    expect(read[0]?.owner).to.equal(G);
    expect(read[3]?.owner).to.equal(`leaf-with-long-name-3.${G}`);
    expect(read[3]?.group).to.equal(`_http._tcp.${G}`);
  });

  it("keeps a key below another key's leaf, and both readings, through puts and deletes", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([put("/skydns/com/example/a", { host: "198.51.100.1" })]);
    index.apply([put("/skydns/com/example/a/b", { host: "198.51.100.2" })]);
    expect(index.lookup("a.example.com")?.map((r) => r.key)).to.deep.equal(["/skydns/com/example/a/b"]);
    expect(index.lookup("b.a.example.com")?.map((r) => r.key)).to.deep.equal(["/skydns/com/example/a/b"]);
    index.apply([{ type: "delete", key: "/skydns/com/example/a/b", revision: ++revision }]);
    expect(index.lookup("a.example.com")?.map((r) => r.key)).to.deep.equal(["/skydns/com/example/a"]);
    expect(index.lookup("b.a.example.com")).to.equal(undefined);
    index.apply([{ type: "delete", key: "/skydns/com/example/a", revision: ++revision }]);
    expect([index.size, index.exists("example.com")]).to.deep.equal([0, false]);
  });

  it("a fedns record without a group owns its own key's name", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put(`${GKEY}/self`, { host: "198.51.100.1", owner: OWNER }),
      put(`${GKEY}/up`, { host: "198.51.100.2", owner: OWNER, group: "svc.example.com" }),
      put(`${GKEY}/a`, { host: "198.51.100.3", owner: OWNER, group: G.toUpperCase() }),
    ]);
    expect(index.lookup(`self.${G}`)?.map((r) => r.address)).to.deep.equal(["198.51.100.1"]);
    expect(index.lookup("svc.example.com")?.map((r) => r.address)).to.deep.equal(["198.51.100.2"]);
    expect(index.lookup(G)?.map((r) => [r.address, r.group])).to.deep.equal([["198.51.100.3", G.toUpperCase()]]);
    expect(index.exists(`up.${G}`)).to.equal(false);
    for (const leaf of ["self", "up", "a"]) index.apply([{ type: "delete", key: `${GKEY}/${leaf}`, revision: 99 }]);
    expect([index.size, index.exists("example.com")]).to.deep.equal([0, false]);
  });

  it("moves children from inline to an array to a Map and back without losing one", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const keys = Array.from({ length: 40 }, (_, i) => `${GKEY}/c${i}`);
    index.apply(keys.map((key, i) => put(key, { host: `198.51.100.${i}`, owner: OWNER, group: G })));
    expect(index.lookup(G)?.map((r) => r.key)).to.deep.equal([...keys].sort());
    for (const key of keys.slice(0, 39)) index.apply([{ type: "delete", key, revision: ++revision }]);
    expect(index.lookup(G)?.map((r) => r.key)).to.deep.equal([keys[39]]);
  });

  it("does not count a put of the same data as a change, whatever the JSON spelling", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([put(`${GKEY}/a`, { host: "198.51.100.1", ttl: 30, owner: OWNER, group: G })]);
    const generation = index.generation;
    const same = encodeService({ group: G, owner: OWNER, ttl: 30, host: "198.51.100.1" } as never);
    expect(index.apply([{ type: "put", key: `${GKEY}/a`, value: same, revision: 50 }]).changed).to.equal(0);
    expect(index.generation).to.equal(generation);
    expect(index.apply([put(`${GKEY}/a`, { host: "198.51.100.1", ttl: 31, owner: OWNER, group: G })]).changed).to.equal(
      1,
    );
  });

  it("walks every name of a zone once with the records that answer exactly there", async () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      put(`${GKEY}/c1`, { host: "198.51.100.1", owner: OWNER, group: G }),
      put(`${GKEY}/c2`, { host: "198.51.100.2", owner: OWNER, group: G }),
      put(`${GKEY}/_tcp/_http/p80`, { host: G, port: 80, owner: OWNER, group: `_http._tcp.${G}` }),
      put("/skydns/com/example/other/x", { host: "198.51.100.3" }),
      put("/skydns/org/elsewhere/y", { host: "198.51.100.4" }),
    ]);
    const seen: [string, string[]][] = [];
    await index.forEachName("example.com", (entry) => seen.push([entry.name, entry.records.map((r) => r.key)]));
    expect(seen.sort()).to.deep.equal([
      [`_http._tcp.${G}`, [`${GKEY}/_tcp/_http/p80`]],
      [G, [`${GKEY}/c1`, `${GKEY}/c2`]],
      ["x.other.example.com", ["/skydns/com/example/other/x"]],
    ]);
    expect([...index.names("nothing.example.com")]).to.deep.equal([]);
  });

  it("yields between slices and refuses to go on over an index that changed meanwhile", async () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply(Array.from({ length: 2000 }, (_, i) => put(`/skydns/com/example/n${i}/a`, { host: "198.51.100.1" })));
    let names = 0;
    const walk = index.forEachName("example.com", () => names++, { sliceMs: 0 });
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    expect(await walk).to.equal(index.generation);
    clearInterval(ticker);
    expect(names).to.equal(2000);
    expect(turns, "timers ran during the walk").to.be.greaterThan(0);
    const changing = index.forEachName(
      "example.com",
      () => {
        if (index.size === 2000) index.apply([put("/skydns/com/example/late/a", { host: "198.51.100.2" })]);
      },
      { sliceMs: 0 },
    );
    let error: unknown;
    await changing.catch((err: unknown) => {
      error = err;
    });
    expect(error).to.be.instanceOf(IndexChangedError);
  });

  it("shares strings through a bounded interner that starts over when full", () => {
    const interner = new Interner(3);
    const first = interner.intern(["cluster", "a"].join("-"));
    expect(interner.intern(["cluster", "a"].join("-"))).to.equal(first);
    for (let i = 0; i < 100; i++) interner.intern(`name-${i}`);
    for (let i = 0; i < 100; i++) interner.tag("fedns/myfed", `cluster-${i}`);
    expect(interner.size.strings).to.be.at.most(3);
    expect(interner.size.tags).to.be.at.most(3);
    const tag = interner.tag("fedns/myfed", "east");
    expect(interner.tag("fedns/myfed", "east")).to.equal(tag);
    expect(interner.tag(undefined, "east")).to.not.equal(tag);
    expect(interner.tag(undefined, undefined)).to.equal(undefined);
  });
});
