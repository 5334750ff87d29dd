import { expect } from "chai";
import { Packet } from "dns2";
import {
  type CachedResponse,
  type CacheLookup,
  DEFAULT_CACHE_BYTES,
  questionKey,
  ResponseCache,
} from "../../../src/dns/cache.ts";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import { dependencyOf, stampOf, stillFresh } from "../../../src/dns/freshness.ts";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { QNAME_OFFSET } from "../../../src/dns/query.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import { RecordIndex } from "../../../src/records/index.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import { buildQuery, replyHeader } from "../../support/dns.ts";

function entry(tag: number, size = 1): CachedResponse {
  return { bytes: Buffer.alloc(size, tag), rcode: 0, truncated: false };
}

/** The cache key of a query for `name` (the packet ends with its question: type and class are the last 4 bytes). */
function key(name: string, qtype = 1): string {
  const packet = buildQuery(name, qtype);
  return questionKey(packet, QNAME_OFFSET, packet.length - 4);
}

function tag(found: CacheLookup): number | string {
  return typeof found === "string" ? found : found.bytes[0]!;
}

let revision = 100;
function put(index: RecordIndex, name: string, host = "198.51.100.1", at = ++revision): void {
  const path = name.split(".").reverse().join("/");
  index.apply([{ type: "put", key: `/skydns/${path}/x`, value: JSON.stringify({ host }), revision: at }]);
}

describe("dns/cache", () => {
  it("keys a question whatever its case, and apart from other names, types and variants", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const cache = new ResponseCache();
    cache.set(1, key("web.Example.com"), index, entry(1), ["web.example.com"]);
    expect(tag(cache.get(1, key("WEB.example.COM"), index))).to.equal(1);
    expect(cache.get(1, key("web.example.org"), index)).to.equal("miss");
    expect(cache.get(1, key("web.example.com", 28), index)).to.equal("miss");
    expect(cache.get(2, key("web.example.com"), index)).to.equal("miss");
    cache.set(1, key("WEB.EXAMPLE.COM"), index, entry(2), ["web.example.com"]);
    expect(cache.size).to.equal(1);
    expect(tag(cache.get(1, key("web.example.com"), index))).to.equal(2);
  });

  it("keeps an answer across changes to other names and drops it when a name it read changes", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    put(index, "a.example.com");
    put(index, "b.example.com");
    put(index, "c.example.com");
    const cache = new ResponseCache();
    cache.set(1, key("a.example.com"), index, entry(1), ["a.example.com", "t.example.com"]);
    put(index, "b.example.com", "198.51.100.2");
    put(index, "c.example.com");
    expect(tag(cache.get(1, key("a.example.com"), index))).to.equal(1);
    // A change below a dependency (the CoreDNS subtree reading makes it part of the answer).
    put(index, "x.a.example.com");
    expect(cache.get(1, key("a.example.com"), index)).to.equal("stale");
    expect(cache.size).to.equal(0);
    // A dependency that did not exist (an SRV target, say) comes into existence.
    put(index, "c.example.com", "198.51.100.4");
    cache.set(1, key("a.example.com"), index, entry(2), ["a.example.com", "t.example.com"]);
    put(index, "b.example.com", "198.51.100.3");
    expect(tag(cache.get(1, key("a.example.com"), index))).to.equal(2);
    put(index, "t.example.com");
    expect(cache.get(1, key("a.example.com"), index)).to.equal("stale");
  });

  it("sees a delete of a dependency, and a change that arrives later at the revision the answer was computed at", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    put(index, "a.example.com");
    put(index, "b.example.com");
    const cache = new ResponseCache();
    cache.set(1, key("a.example.com"), index, entry(1), ["a.example.com"]);
    expect(tag(cache.get(1, key("a.example.com"), index))).to.equal(1);
    index.apply([{ type: "delete", key: "/skydns/com/example/a/x", revision: ++revision }]);
    expect(cache.get(1, key("a.example.com"), index)).to.equal("stale");
    // A revision's changes applied in two steps with an answer computed in between.
    const at = ++revision;
    put(index, "b.example.com", "198.51.100.9", at);
    cache.set(1, key("a.example.com"), index, entry(2), ["a.example.com"]);
    put(index, "a.example.com", "198.51.100.9", at);
    expect(cache.get(1, key("a.example.com"), index)).to.equal("stale");
  });

  it("drops everything for a swapped-in index", () => {
    const first = new RecordIndex({ prefix: "/skydns" });
    const cache = new ResponseCache();
    cache.set(1, key("a.example.com"), first, entry(1), ["a.example.com"]);
    const second = new RecordIndex({ prefix: "/skydns" });
    expect(cache.get(1, key("a.example.com"), second)).to.equal("miss");
    expect(cache.size).to.equal(0);
  });

  it("when full, evicts the oldest entry nobody asked for again (CLOCK), never more than it needs", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const cache = new ResponseCache(2);
    cache.set(1, key("a.example.com"), index, entry(1), []);
    cache.set(1, key("b.example.com"), index, entry(2), []);
    cache.set(1, key("c.example.com"), index, entry(3), []);
    expect(cache.size).to.equal(2);
    expect(cache.get(1, key("a.example.com"), index)).to.equal("miss");
    expect(tag(cache.get(1, key("b.example.com"), index))).to.equal(2);
    expect(tag(cache.get(1, key("c.example.com"), index))).to.equal(3);
  });

  it("keeps a hot answer through a flood of distinct names", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const cache = new ResponseCache(100);
    cache.set(1, key("hot.example.com"), index, entry(7), []);
    for (let i = 0; i < 10_000; i++) {
      cache.set(1, key(`flood-${i}.example.com`), index, entry(1), []);
      // The hot name is asked for now and then, as a real client's name is between the attacker's.
      if (i % 50 === 0) expect(tag(cache.get(1, key("hot.example.com"), index)), `after ${i}`).to.equal(7);
      expect(cache.size).to.be.at.most(100);
    }
    expect(tag(cache.get(1, key("hot.example.com"), index))).to.equal(7);
    expect(cache.get(1, key("flood-0.example.com"), index)).to.equal("miss");
    expect(tag(cache.get(1, key("flood-9999.example.com"), index))).to.equal(1);
  });

  it("bounds the bytes it holds: a set that would pass the budget evicts the oldest entries first", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const cache = new ResponseCache(100, 1000);
    cache.set(1, key("a.example.com"), index, entry(1, 400), []);
    cache.set(1, key("b.example.com"), index, entry(2, 400), []);
    expect(cache.size).to.equal(2);
    expect(cache.bytes).to.equal(800);
    // Replacing an entry counts only the difference.
    cache.set(1, key("b.example.com"), index, entry(3, 600), []);
    expect(cache.size).to.equal(2);
    expect(cache.bytes).to.equal(1000);
    cache.set(2, key("c.example.com"), index, entry(4, 1), []);
    expect(cache.size).to.equal(2);
    expect(cache.bytes).to.equal(601);
    expect(cache.get(1, key("a.example.com"), index)).to.equal("miss");
    expect(tag(cache.get(1, key("b.example.com"), index))).to.equal(3);
    expect(tag(cache.get(2, key("c.example.com"), index))).to.equal(4);
    // A reply larger than the whole budget is not cached (and evicts nothing).
    cache.set(1, key("d.example.com"), index, entry(5, 1001), []);
    expect(cache.get(1, key("d.example.com"), index)).to.equal("miss");
    expect(cache.size).to.equal(2);
    // A stale entry gives its bytes back.
    cache.set(1, key("e.example.com"), index, entry(6, 10), ["e.example.com"]);
    expect(cache.bytes).to.equal(611);
    put(index, "e.example.com");
    expect(cache.get(1, key("e.example.com"), index)).to.equal("stale");
    expect(cache.bytes).to.equal(601);
  });

  it("keeps a flood of distinct full-size TCP replies within the default budget", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const cache = new ResponseCache();
    const reply = entry(1, 65_535);
    for (let i = 0; i < 3000; i++) {
      cache.set(1, key(`n${i}.example.com`), index, reply, []);
      expect(cache.bytes).to.be.at.most(DEFAULT_CACHE_BYTES);
    }
    expect(cache.size)
      .to.be.greaterThan(0)
      .and.at.most(Math.floor(DEFAULT_CACHE_BYTES / 65_535));
  });
});

describe("dns/freshness", () => {
  it("takes a wildcard question's dependency right of its rightmost wildcard label", () => {
    expect(dependencyOf("*.ns1.svc.example.com", true)).to.equal("ns1.svc.example.com");
    expect(dependencyOf("a.*.b.any.example.com", true)).to.equal("example.com");
    expect(dependencyOf("*", true)).to.equal("");
    expect(dependencyOf("web.example.com", true)).to.equal("web.example.com");
    expect(dependencyOf("*.ns1.svc.example.com", false)).to.equal("*.ns1.svc.example.com");
    expect(dependencyOf("many.example.com", true)).to.equal("many.example.com");
  });

  it("revalidates once per generation, then answers without reading the index", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    put(index, "a.example.com");
    put(index, "c.example.com");
    const stamp = stampOf(index, ["a.example.com"]);
    put(index, "b.example.com");
    expect(stillFresh(index, stamp)).to.equal(true);
    expect(stamp.generation).to.equal(index.generation);
    put(index, "a.example.com", "198.51.100.7");
    expect(stillFresh(index, stamp)).to.equal(false);
  });

  it("counts a change at the stamp's own revision as newer (a revision applied in several steps)", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    put(index, "a.example.com");
    const stamp = stampOf(index, ["a.example.com"]);
    put(index, "b.example.com");
    expect(stillFresh(index, stamp)).to.equal(false);
  });
});

describe("dns/handler cache", () => {
  const ZONES = new ZoneSet(resolveZones(["example.com"]));

  function handlerFor(index: RecordIndex, registry: Registry): QueryHandler {
    return new QueryHandler({
      index: LiveIndex.of(index),
      zones: ZONES,
      udpPayloadSize: 1232,
      metrics: new DnsMetrics(registry),
    });
  }

  async function cacheCounts(registry: Registry): Promise<Record<string, number>> {
    const metric = await registry.getSingleMetric("fedns_dns_cache_lookups_total")?.get();
    return Object.fromEntries((metric?.values ?? []).map((value) => [String(value.labels.result), value.value]));
  }

  it("serves a negative answer from the cache while the zone changes elsewhere, with the zone's current serial", async () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    put(index, "web.example.com");
    const registry = new Registry();
    const handler = handlerFor(index, registry);
    const ask = (name: string) => Packet.parse(handler.handle(buildQuery(name, TYPE.A), "udp")!);
    const serialOf = (reply: ReturnType<typeof Packet.parse>) =>
      (reply.authorities[0] as unknown as { serial: number }).serial;
    const first = ask("missing.example.com");
    expect(first.header.rcode).to.equal(RCODE.NXDOMAIN);
    put(index, "other.example.com");
    const second = ask("MISSING.example.com");
    expect(second.header.rcode).to.equal(RCODE.NXDOMAIN);
    expect(serialOf(second)).to.equal(index.lastChange("example.com"));
    expect(serialOf(second)).to.be.greaterThan(serialOf(first));
    expect(await cacheCounts(registry)).to.include({ hit: 1, miss: 1 });
    // The name appears: seen at once.
    put(index, "missing.example.com");
    const third = ask("missing.example.com");
    expect(third.header.rcode).to.equal(RCODE.NOERROR);
    expect(third.answers).to.have.length(1);
    expect(await cacheCounts(registry)).to.include({ hit: 1, miss: 1, stale: 1 });
  });

  it("keeps an SRV answer until its target changes", async () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    index.apply([
      {
        type: "put",
        key: "/skydns/com/example/srv/a",
        value: JSON.stringify({ host: "t.example.com", port: 80 }),
        revision: ++revision,
      },
      {
        type: "put",
        key: "/skydns/com/example/t/a",
        value: JSON.stringify({ host: "198.51.100.1" }),
        revision: ++revision,
      },
    ]);
    const registry = new Registry();
    const handler = handlerFor(index, registry);
    const ask = () => replyHeader(handler.handle(buildQuery("srv.example.com", TYPE.SRV), "udp")!);
    // (A change at the revision an answer was computed at counts as newer: start one revision on.)
    put(index, "unrelated.example.com");
    expect(ask().arcount).to.equal(1);
    put(index, "unrelated.example.com");
    expect(ask().arcount).to.equal(1);
    expect((await cacheCounts(registry)).hit).to.equal(1);
    put(index, "t.example.com", "198.51.100.2");
    // Another address for the target: in the additional section at once.
    index.apply([
      {
        type: "put",
        key: "/skydns/com/example/t/b",
        value: JSON.stringify({ host: "198.51.100.3" }),
        revision: ++revision,
      },
    ]);
    expect(ask().arcount).to.equal(3);
    expect((await cacheCounts(registry)).stale).to.equal(1);
  });
});
