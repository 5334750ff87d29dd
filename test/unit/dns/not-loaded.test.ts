import { expect } from "chai";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import { buildQuery, replyHeader } from "../../support/dns.ts";

const NAME = "web.default.myfed.svc.example.com";
const KEY = "/skydns/com/example/svc/myfed/default/web/a";

function handlerOver(live: LiveIndex): QueryHandler {
  return new QueryHandler({
    index: live,
    zones: new ZoneSet(resolveZones(["example.com"])),
    udpPayloadSize: 1232,
    metrics: new DnsMetrics(),
  });
}

describe("dns: answers before the first complete load", () => {
  it("says SERVFAIL (never NXDOMAIN or NODATA) in our zones until an index is swapped in, then answers from it", () => {
    const live = new LiveIndex({ prefix: "/skydns" });
    const handler = handlerOver(live);
    const ask = (name: string, qtype = TYPE.A) => replyHeader(handler.handle(buildQuery(name, qtype), "udp")!);
    for (const name of [NAME, "missing.example.com", "example.com"]) {
      const reply = ask(name);
      expect(reply.rcode, name).to.equal(RCODE.SERVFAIL);
      expect(reply.aa, name).to.equal(false);
      expect(reply.ancount + reply.nscount, name).to.equal(0);
    }
    // Outside our zones the answer does not depend on the data.
    expect(ask("example.org").rcode).to.equal(RCODE.REFUSED);

    const loaded = live.create();
    loaded.apply([{ type: "put", key: KEY, value: JSON.stringify({ host: "198.51.100.1" }), revision: 5 }]);
    live.swap(loaded);
    const found = ask(NAME);
    expect(found).to.include({ rcode: RCODE.NOERROR, aa: true, ancount: 1 });
    expect(ask("missing.example.com").rcode).to.equal(RCODE.NXDOMAIN);
  });

  it("drops cached answers when a new index is swapped in, even at the same index generation", () => {
    const live = new LiveIndex({ prefix: "/skydns" });
    const handler = handlerOver(live);
    const ask = () => replyHeader(handler.handle(buildQuery(NAME, TYPE.A), "udp")!);
    const first = live.create();
    first.apply([{ type: "put", key: KEY, value: JSON.stringify({ host: "198.51.100.1" }), revision: 5 }]);
    live.swap(first);
    expect(ask().ancount).to.equal(1);
    expect(ask().ancount).to.equal(1); // from the cache
    const second = live.create();
    second.apply([
      {
        type: "put",
        key: "/skydns/com/example/svc/myfed/default/other/a",
        value: JSON.stringify({ host: "198.51.100.2" }),
        revision: 6,
      },
    ]);
    expect(second.generation).to.equal(first.generation);
    const before = live.generation;
    live.swap(second);
    expect(live.generation).to.be.greaterThan(before);
    expect(live.current).to.equal(second);
    expect(ask().rcode).to.equal(RCODE.NXDOMAIN);
  });
});
