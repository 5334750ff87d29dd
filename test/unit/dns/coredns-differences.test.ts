// The places where fedns reads other writers' skydns data differently from the CoreDNS etcd plugin
// (docs/coredns-differences.md), those not covered by answer.test.ts / answer-semantics.test.ts.
// Each case states what CoreDNS would answer and asserts what fedns answers instead.
import { expect } from "chai";
import { type AnswerContext, answer } from "../../../src/dns/answer.ts";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import type { DnsResponse, ResourceRecord } from "../../../src/dns/message.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import type { RecordIndex } from "../../../src/records/index.ts";
import { indexWith } from "../../support/dns.ts";

function context(index: RecordIndex): AnswerContext {
  return { index, zones: new ZoneSet(resolveZones(["example.com"])), udpPayloadSize: 1232 };
}

function ask(ctx: AnswerContext, name: string, qtype: number): DnsResponse {
  return answer({ labels: name.split("."), qtype, qclass: 1, edns: undefined, transport: "udp" }, ctx);
}

function text(records: readonly ResourceRecord[]): string[] {
  return records.map((record) => {
    const data = record.data as Record<string, unknown>;
    const fields = Object.entries(data)
      .filter(([field]) => field !== "type")
      .map(([, value]) => String(value));
    return `${record.name} ${data.type} ${fields.join(" ")}`;
  });
}

describe("where fedns reads skydns data differently from CoreDNS", () => {
  it("a name host with a port at an _x._proto name answers SRV only, never a CNAME (CoreDNS: CNAME for A/AAAA/TXT)", async () => {
    const ctx = context(
      await indexWith({
        "/skydns/com/example/web/_tcp/_http": { host: "target.example.com", port: 8080 },
        "/skydns/com/example/target": { host: "192.0.2.11" },
      }),
    );
    const srv = ask(ctx, "_http._tcp.web.example.com", TYPE.SRV);
    expect(text(srv.answer)).to.deep.equal(["_http._tcp.web.example.com 33 10 100 8080 target.example.com"]);
    expect(text(srv.additional)).to.deep.equal(["target.example.com 1 192.0.2.11"]);
    for (const qtype of [TYPE.A, TYPE.AAAA, TYPE.TXT, TYPE.MX, 65]) {
      const other = ask(ctx, "_http._tcp.web.example.com", qtype);
      expect([other.rcode, text(other.answer)], `${qtype}`).to.deep.equal([RCODE.NOERROR, []]);
      expect(other.authority.map((record) => record.data.type)).to.deep.equal([TYPE.SOA]);
    }
    // The same record at a name that is no SRV name is an alias, as CoreDNS reads it.
    const plain = context(await indexWith({ "/skydns/com/example/web": { host: "target.example.com", port: 8080 } }));
    expect(text(ask(plain, "web.example.com", TYPE.A).answer)[0]).to.equal("web.example.com 5 target.example.com");
  });

  it("a name host without a port asked for SRV is a CNAME, followed (CoreDNS: SRV 10 100 0 <target>)", async () => {
    const ctx = context(
      await indexWith({
        "/skydns/com/example/srvalias": { host: "_http._tcp.web.example.com" },
        "/skydns/com/example/web/_tcp/_http": { host: "target.example.com", port: 8080 },
      }),
    );
    const response = ask(ctx, "srvalias.example.com", TYPE.SRV);
    expect(response.rcode).to.equal(RCODE.NOERROR);
    expect(text(response.answer)).to.deep.equal([
      "srvalias.example.com 5 _http._tcp.web.example.com",
      "_http._tcp.web.example.com 33 10 100 8080 target.example.com",
    ]);
    for (const record of response.answer) {
      if (record.data.type === TYPE.SRV) expect(record.data.port).to.not.equal(0);
    }
  });

  it("an ns.dns key with a name host is skipped; the others still answer NS (CoreDNS: SERVFAIL for the zone's NS)", async () => {
    const ctx = context(
      await indexWith({
        "/skydns/com/example/dns/ns/bad": { host: "ns.example.net" },
        "/skydns/com/example/dns/ns/good": { host: "192.0.2.53" },
      }),
    );
    const response = ask(ctx, "example.com", TYPE.NS);
    expect(response.rcode).to.equal(RCODE.NOERROR);
    expect(text(response.answer)).to.deep.equal(["example.com 2 good.ns.dns.example.com"]);
    expect(text(response.additional)).to.deep.equal(["good.ns.dns.example.com 1 192.0.2.53"]);
  });

  it("ANY over UDP gets RFC 8482's HINFO (CoreDNS: NODATA from its fallback A lookup)", async () => {
    const ctx = context(await indexWith({ "/skydns/com/example/web": { host: "192.0.2.10" } }));
    const response = ask(ctx, "web.example.com", TYPE.ANY);
    expect(text(response.answer)).to.deep.equal(["web.example.com 13 RFC8482 "]);
  });
});
