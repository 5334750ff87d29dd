import { expect } from "chai";
import { type CachedResponse, DEFAULT_CACHE_BYTES, questionKey, ResponseCache } from "../../../src/dns/cache.ts";
import { QNAME_OFFSET } from "../../../src/dns/query.ts";
import { buildQuery } from "../../support/dns.ts";

function entry(tag: number, size = 1): CachedResponse {
  return { bytes: Buffer.alloc(size, tag), rcode: 0, truncated: false };
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

  it("bounds the bytes it holds: a set that would pass the budget empties it first", () => {
    const cache = new ResponseCache(100, 1000);
    cache.set(1, key("a.example.com"), 1, entry(1, 400));
    cache.set(1, key("b.example.com"), 1, entry(2, 400));
    expect(cache.size).to.equal(2);
    expect(cache.bytes).to.equal(800);
    // Replacing an entry counts only the difference.
    cache.set(1, key("b.example.com"), 1, entry(3, 600));
    expect(cache.size).to.equal(2);
    expect(cache.bytes).to.equal(1000);
    cache.set(2, key("c.example.com"), 1, entry(4, 1));
    expect(cache.size).to.equal(1);
    expect(cache.bytes).to.equal(1);
    expect(cache.get(1, key("a.example.com"), 1)).to.equal(undefined);
    expect(cache.get(2, key("c.example.com"), 1)?.bytes[0]).to.equal(4);
    // A reply larger than the whole budget is not cached (and evicts nothing).
    cache.set(1, key("d.example.com"), 1, entry(5, 1001));
    expect(cache.get(1, key("d.example.com"), 1)).to.equal(undefined);
    expect(cache.size).to.equal(1);
    // A new generation starts from zero bytes.
    expect(cache.get(2, key("c.example.com"), 2)).to.equal(undefined);
    expect(cache.bytes).to.equal(0);
  });

  it("keeps a flood of distinct full-size TCP replies within the default budget", () => {
    const cache = new ResponseCache();
    const reply = entry(1, 65_535);
    for (let i = 0; i < 3000; i++) {
      cache.set(1, key(`n${i}.example.com`), 1, reply);
      expect(cache.bytes).to.be.at.most(DEFAULT_CACHE_BYTES);
    }
    expect(cache.size)
      .to.be.greaterThan(0)
      .and.at.most(Math.floor(DEFAULT_CACHE_BYTES / 65_535));
  });
});
