import { expect } from "chai";
import { type CachedResponse, questionKey, ResponseCache } from "../../../src/dns/cache.ts";
import { QNAME_OFFSET } from "../../../src/dns/query.ts";
import { buildQuery } from "../../support/dns.ts";

function entry(tag: number): CachedResponse {
  return { bytes: Buffer.from([tag]), rcode: 0, truncated: false };
}

/** The cache key of a query for `name` (the packet ends with its question: type and class are the last 4 bytes). */
function key(name: string, qtype = 1): string {
  const packet = buildQuery(name, qtype);
  return questionKey(packet, QNAME_OFFSET, packet.length - 4);
}

describe("dns/cache", () => {
  it("keys a question whatever its case, and apart from other names, types and variants", () => {
    const cache = new ResponseCache();
    cache.set(1, key("web.Example.com"), 7, entry(1));
    expect(cache.get(1, key("WEB.example.COM"), 7)?.bytes[0]).to.equal(1);
    expect(cache.get(1, key("web.example.org"), 7)).to.equal(undefined);
    expect(cache.get(1, key("web.example.com", 28), 7)).to.equal(undefined);
    expect(cache.get(2, key("web.example.com"), 7)).to.equal(undefined);
    cache.set(1, key("WEB.EXAMPLE.COM"), 7, entry(2));
    expect(cache.size).to.equal(1);
    expect(cache.get(1, key("web.example.com"), 7)?.bytes[0]).to.equal(2);
  });

  it("drops everything when the index generation moves, and empties itself when full", () => {
    const cache = new ResponseCache(2);
    cache.set(1, key("a.example.com"), 7, entry(1));
    expect(cache.get(1, key("a.example.com"), 8)).to.equal(undefined);
    expect(cache.size).to.equal(0);
    cache.set(1, key("a.example.com"), 8, entry(1));
    cache.set(1, key("b.example.com"), 8, entry(2));
    cache.set(1, key("c.example.com"), 8, entry(3));
    expect(cache.size).to.equal(1);
    expect(cache.get(1, key("c.example.com"), 8)?.bytes[0]).to.equal(3);
  });
});
