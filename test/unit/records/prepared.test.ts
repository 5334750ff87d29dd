// Records prepared off the main thread (records/prepared.ts, issue 8): a page packed in the worker reads back as
// the very keys prepareKey() made, an index built from pages equals one built from the keys' values, and a page
// that breaks any rule the index relies on is refused as a whole.
import { expect } from "chai";
import { RecordIndex } from "../../../src/records/index.ts";
import {
  type PreparedKey,
  type PreparedPage,
  PreparedRecords,
  packPage,
  prepareKey,
  ROW,
  readPreparedPage,
} from "../../../src/records/prepared.ts";

const BASE = "/skydns/";
const G = "nginx.default.myfed.svc.example.com";
const GKEY = "/skydns/com/example/svc/myfed/default/nginx";

const KVS: [string, object][] = [
  [`${GKEY}/east-1`, { host: "198.51.100.7", ttl: 30, group: G, owner: "fedns/myfed", cluster: "east" }],
  [
    `${GKEY}/west-1`,
    { host: "198.51.100.8", ttl: 30, group: `${G.toUpperCase()}.`, owner: "fedns/myfed", cluster: "west" },
  ],
  [`${GKEY}/_tcp/_http/a`, { host: G, port: 80, group: `_http._tcp.${G}`, owner: "fedns/myfed" }],
  ["/skydns/com/example/other/x", { host: "2001:db8::1", port: -1, targetstrip: 2, mail: false, priority: 5 }],
  ["/skydns/com/example/other/x/y", { host: "", text: "hello", mail: true, weight: 3, group: "g" }],
  ["/skydns/org/example/Leaf-With-A-Long-Label", { host: "target.example.org", ttl: 0 }],
];

function prepared(): PreparedKey[] {
  return KVS.map(([key, value], i) => prepareKey(BASE, key, JSON.stringify(value), 10 + i) as PreparedKey);
}

/** A structured clone of a page, as postMessage delivers it. */
function cloned(page: PreparedPage): PreparedPage {
  return structuredClone(page) as PreparedPage;
}

describe("records/prepared", () => {
  it("a packed page reads back as the keys prepareKey() made", () => {
    const keys = prepared();
    const page = readPreparedPage(cloned(packPage(99, keys, [])));
    const records = new PreparedRecords(page);
    const read: PreparedKey[] = [];
    for (let next = records.next(); next !== undefined; next = records.next()) read.push(next);
    expect(read).to.deep.equal(keys);
    expect(records.done).to.equal(true);
  });

  it("an index built from pages answers exactly as one built from the values", () => {
    const direct = new RecordIndex({ prefix: "/skydns" });
    direct.apply(KVS.map(([key, value], i) => ({ type: "put", key, value: JSON.stringify(value), revision: 10 + i })));
    const fromPages = new RecordIndex({ prefix: "/skydns" });
    const keys = prepared();
    for (const part of [keys.slice(0, 2), keys.slice(2)]) {
      fromPages.putPrepared(new PreparedRecords(readPreparedPage(cloned(packPage(99, part, [])))));
    }
    const reading = (index: RecordIndex) =>
      index.all().map((record) => ({
        key: record.key,
        name: record.name,
        owner: record.owner,
        type: record.type,
        ttl: record.ttl,
        service: record.service,
        modRevision: record.modRevision,
      }));
    expect(reading(fromPages)).to.deep.equal(reading(direct));
    expect(fromPages.size).to.equal(KVS.length);
    expect(fromPages.revision).to.equal(direct.revision);
    for (const name of [G, `_http._tcp.${G}`, "x.other.example.com", "y.x.other.example.com"]) {
      expect(
        fromPages.lookup(name)?.map((record) => record.key),
        name,
      ).to.deep.equal(direct.lookup(name)?.map((record) => record.key));
    }
  });

  it("says why a key or value cannot be used", () => {
    expect(prepareKey(BASE, "/other/x", '{"host":"10.0.0.1"}', 1)).to.deep.equal({
      error: "key is not below /skydns/",
    });
    expect(prepareKey(BASE, "/skydns/com//x", '{"host":"10.0.0.1"}', 1)).to.have.property("error");
    expect(prepareKey(BASE, `/skydns/com/${"a".repeat(64)}`, '{"host":"10.0.0.1"}', 1)).to.have.property("error");
    expect(prepareKey(BASE, "/skydns/com/x", "{not json", 1)).to.have.property("error");
  });

  describe("refuses a page that breaks a rule", () => {
    const breakers: [string, (page: PreparedPage) => void][] = [
      ["a segment with a slash", (page) => (page.strings[page.segments[0]!] = "com/evil")],
      ["an empty segment", (page) => (page.strings[page.segments[0]!] = "")],
      ["a segment longer than a label", (page) => (page.strings[page.segments[0]!] = "x".repeat(64))],
      ["a string index out of range", (page) => (page.segments[1] = page.strings.length)],
      ["more shared segments than the previous key had", (page) => (page.rows[ROW] = 50)],
      ["no own segment", (page) => (page.rows[1] = 0)],
      ["bits beyond their encoding", (page) => (page.rows[2] = 1 << 30)],
      ["a CNAME host that is no string", (page) => (page.rows[2 * ROW + 5] = -5)],
      ["an owner depth below the key", (page) => (page.rows[11] = 99 << 1)],
      ["a negative TTL", (page) => (page.rows[4] = -1)],
      ["a non-string in the string table", (page) => ((page.strings as unknown[])[0] = 7)],
      ["rows of the wrong length", (page) => (page.rows = page.rows.subarray(1))],
      ["a count beyond the rows", (page) => (page.count += 1)],
      ["a fractional mod revision", (page) => (page.revisions[0] = 1.5)],
      ["segments left over", (page) => (page.segments = Int32Array.from([...page.segments, 0]))],
      ["a rejection without a value", (page) => page.rejected.push({ key: "k", error: "e" } as never)],
      ["a bad revision", (page) => (page.revision = -1)],
    ];
    for (const [what, breakIt] of breakers) {
      it(what, () => {
        const page = cloned(packPage(99, prepared(), []));
        expect(() => readPreparedPage(page)).not.to.throw();
        breakIt(page);
        expect(() => readPreparedPage(page)).to.throw();
      });
    }
    it("anything but a page", () => {
      for (const message of [undefined, null, 7, "page", { type: "page" }, []]) {
        expect(() => readPreparedPage(message)).to.throw();
      }
    });
  });
});
