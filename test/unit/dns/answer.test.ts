import { expect } from "chai";
import { type AnswerContext, answer, type Question } from "../../../src/dns/answer.ts";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import type { DnsResponse, ResourceRecord } from "../../../src/dns/message.ts";
import { MAX_CHAIN } from "../../../src/dns/records.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { DEFAULT_MAX_VISITS } from "../../../src/records/budget.ts";
import type { RecordIndex } from "../../../src/records/index.ts";
import { indexWith } from "../../support/dns.ts";

function context(index: RecordIndex, zones: Parameters<typeof resolveZones>[0] = ["example.com"]): AnswerContext {
  return { index, zones: new ZoneSet(resolveZones(zones)), udpPayloadSize: 1232 };
}

function ask(ctx: AnswerContext, name: string, qtype: number, extra: Partial<Question> = {}): DnsResponse {
  return answer({ labels: name.split("."), qtype, qclass: 1, edns: undefined, transport: "udp", ...extra }, ctx);
}

function data(records: ResourceRecord[]): unknown[] {
  return records.map((record) => ({ name: record.name, ...record.data }));
}

describe("answer()", () => {
  describe("A and AAAA", () => {
    it("answers the records of the right family with their TTL, default 300", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/web/a": { host: "10.0.0.1", ttl: 60 },
          "/skydns/com/example/web/b": { host: "2001:db8::1" },
        }),
      );
      const a = ask(ctx, "Web.Example.COM", TYPE.A);
      expect(a.rcode).to.equal(RCODE.NOERROR);
      expect(a.authoritative).to.equal(true);
      expect(a.answer).to.deep.equal([
        { name: "web.example.com", ttl: 60, data: { type: TYPE.A, address: "10.0.0.1" } },
      ]);
      const aaaa = ask(ctx, "web.example.com", TYPE.AAAA);
      expect(aaaa.answer).to.deep.equal([
        { name: "web.example.com", ttl: 300, data: { type: TYPE.AAAA, address: "2001:db8::1" } },
      ]);
    });

    it("gives NODATA with the SOA (TTL = minimum) for a name holding only the other family", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/v6": { host: "2001:db8::2" } }));
      const response = ask(ctx, "v6.example.com", TYPE.A);
      expect(response.rcode).to.equal(RCODE.NOERROR);
      expect(response.answer).to.deep.equal([]);
      expect(response.authority).to.have.length(1);
      expect(response.authority[0]?.ttl).to.equal(30);
      expect(response.authority[0]?.data).to.include({ type: TYPE.SOA, mname: "ns.dns.example.com" });
    });

    it("gives NXDOMAIN with the SOA for a missing name", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1" } }));
      const response = ask(ctx, "nope.example.com", TYPE.A);
      expect(response.rcode).to.equal(RCODE.NXDOMAIN);
      expect(response.authority.map((record) => record.data.type)).to.deep.equal([TYPE.SOA]);
    });

    it("follows in-zone CNAMEs across zones we serve and stops at out-of-zone targets", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/r/z/svc": { host: "svc.r.example.com" },
          "/skydns/com/example/r/svc": { host: "svc.other.org" },
          "/skydns/org/other/svc": { host: "10.1.1.1" },
          "/skydns/com/example/out": { host: "www.elsewhere.net" },
        }),
        ["example.com", "other.org"],
      );
      const chained = ask(ctx, "svc.z.r.example.com", TYPE.A);
      expect(data(chained.answer)).to.deep.equal([
        { name: "svc.z.r.example.com", type: TYPE.CNAME, target: "svc.r.example.com" },
        { name: "svc.r.example.com", type: TYPE.CNAME, target: "svc.other.org" },
        { name: "svc.other.org", type: TYPE.A, address: "10.1.1.1" },
      ]);
      const external = ask(ctx, "out.example.com", TYPE.A);
      expect(external.rcode).to.equal(RCODE.NOERROR);
      expect(data(external.answer)).to.deep.equal([
        { name: "out.example.com", type: TYPE.CNAME, target: "www.elsewhere.net" },
      ]);
      expect(external.authority).to.deep.equal([]);
    });

    it("detects CNAME loops and caps chains at the limit", async () => {
      const loop = context(
        await indexWith({
          "/skydns/com/example/a": { host: "b.example.com" },
          "/skydns/com/example/b": { host: "a.example.com" },
          "/skydns/com/example/self": { host: "self.example.com" },
        }),
      );
      const response = ask(loop, "a.example.com", TYPE.A);
      expect(data(response.answer)).to.deep.equal([
        { name: "a.example.com", type: TYPE.CNAME, target: "b.example.com" },
        { name: "b.example.com", type: TYPE.CNAME, target: "a.example.com" },
      ]);
      // CoreDNS skips a record pointing at its own name.
      expect(ask(loop, "self.example.com", TYPE.A).answer).to.deep.equal([]);

      const long: Record<string, object> = {};
      for (let i = 0; i < 20; i++) long[`/skydns/com/example/c${i}`] = { host: `c${i + 1}.example.com` };
      long["/skydns/com/example/c20"] = { host: "10.0.0.20" };
      const capped = ask(context(await indexWith(long)), "c0.example.com", TYPE.A);
      expect(capped.answer).to.have.length(MAX_CHAIN);
      expect(capped.answer.every((record) => record.data.type === TYPE.CNAME)).to.equal(true);
    });

    it("answers a dangling in-zone CNAME with the CNAME, NXDOMAIN and the SOA (RFC 6604)", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/dangling": { host: "gone.example.com" } }));
      const response = ask(ctx, "dangling.example.com", TYPE.A);
      expect(response.rcode).to.equal(RCODE.NXDOMAIN);
      expect(response.answer).to.have.length(1);
      expect(response.authority[0]?.data.type).to.equal(TYPE.SOA);
    });

    it("applies the subtree, group and wildcard rules of the index", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/svc/nginx/x1": { host: "10.0.0.1", group: "nginx.svc.example.com" },
          "/skydns/com/example/svc/nginx/sub/x2": { host: "10.0.0.2", group: "sub.nginx.svc.example.com" },
          "/skydns/com/example/wild/a/x": { host: "10.0.0.3" },
          "/skydns/com/example/wild/b/x": { host: "10.0.0.4" },
        }),
      );
      expect(data(ask(ctx, "nginx.svc.example.com", TYPE.A).answer)).to.deep.equal([
        { name: "nginx.svc.example.com", type: TYPE.A, address: "10.0.0.1" },
      ]);
      expect(
        ask(ctx, "x.*.wild.example.com", TYPE.A)
          .answer.map((record) => record.data)
          .map((d) => (d as { address: string }).address),
      ).to.deep.equal(["10.0.0.3", "10.0.0.4"]);
    });
  });

  describe("SRV, MX, TXT, CNAME", () => {
    it("turns SRV weights into percentages per priority and skips port -1", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/_tcp/_http/svc/a": { host: "10.0.0.1", port: 80, weight: 10, priority: 10 },
          "/skydns/com/example/_tcp/_http/svc/b": { host: "10.0.0.2", port: 80, weight: 30, priority: 10 },
          "/skydns/com/example/_tcp/_http/svc/c": { host: "10.0.0.3", port: 8080, priority: 20 },
          "/skydns/com/example/_tcp/_http/svc/d": { host: "10.0.0.4", port: -1, priority: 20 },
          "/skydns/com/example/_tcp/_http/svc/e": { host: "target.example.com", port: 81, weight: 1, priority: 30 },
          "/skydns/com/example/target": { host: "10.9.9.9" },
        }),
      );
      const response = ask(ctx, "svc._http._tcp.example.com", TYPE.SRV);
      expect(data(response.answer)).to.deep.equal([
        {
          name: "svc._http._tcp.example.com",
          type: TYPE.SRV,
          priority: 10,
          weight: 25,
          port: 80,
          target: "a.svc._http._tcp.example.com",
        },
        {
          name: "svc._http._tcp.example.com",
          type: TYPE.SRV,
          priority: 10,
          weight: 75,
          port: 80,
          target: "b.svc._http._tcp.example.com",
        },
        {
          name: "svc._http._tcp.example.com",
          type: TYPE.SRV,
          priority: 20,
          weight: 50,
          port: 8080,
          target: "c.svc._http._tcp.example.com",
        },
        {
          name: "svc._http._tcp.example.com",
          type: TYPE.SRV,
          priority: 30,
          weight: 100,
          port: 81,
          target: "target.example.com",
        },
      ]);
      expect(data(response.additional)).to.deep.equal([
        { name: "a.svc._http._tcp.example.com", type: TYPE.A, address: "10.0.0.1" },
        { name: "b.svc._http._tcp.example.com", type: TYPE.A, address: "10.0.0.2" },
        { name: "c.svc._http._tcp.example.com", type: TYPE.A, address: "10.0.0.3" },
        { name: "target.example.com", type: TYPE.A, address: "10.9.9.9" },
      ]);
    });

    it("serves MX from mail records with the priority as preference", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/mx/m1": { host: "10.0.0.1", mail: true, priority: 5 },
          "/skydns/com/example/mx/m2": { host: "10.0.0.2" },
        }),
      );
      const response = ask(ctx, "mx.example.com", TYPE.MX);
      expect(data(response.answer)).to.deep.equal([
        { name: "mx.example.com", type: TYPE.MX, preference: 5, exchange: "m1.mx.example.com" },
      ]);
      expect(data(response.additional)).to.deep.equal([
        { name: "m1.mx.example.com", type: TYPE.A, address: "10.0.0.1" },
      ]);
    });

    it("splits TXT into 255-octet strings", async () => {
      const text = "x".repeat(600);
      const ctx = context(await indexWith({ "/skydns/com/example/t": { text } }));
      const [record] = ask(ctx, "t.example.com", TYPE.TXT).answer;
      expect(record?.data.type).to.equal(TYPE.TXT);
      const strings = (record?.data as { strings: Buffer[] } | undefined)?.strings ?? [];
      expect(strings.map((s) => s.length)).to.deep.equal([255, 255, 90]);
      expect(Buffer.concat(strings).toString()).to.equal(text);
    });

    it("answers a CNAME query with the CNAME itself, unchased", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/alias": { host: "web.example.com" },
          "/skydns/com/example/web": { host: "10.0.0.1" },
        }),
      );
      expect(data(ask(ctx, "alias.example.com", TYPE.CNAME).answer)).to.deep.equal([
        { name: "alias.example.com", type: TYPE.CNAME, target: "web.example.com" },
      ]);
      expect(ask(ctx, "web.example.com", TYPE.CNAME).answer).to.deep.equal([]);
    });
  });

  describe("apex, SOA and NS", () => {
    it("serves the SOA with configured fields and the zone's last change as serial", async () => {
      const index = await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1" } });
      const ctx = context(index, [{ name: "example.com", soa: { rname: "admin.example.com", minimum: 60 } }]);
      const first = ask(ctx, "example.com", TYPE.SOA).answer[0];
      expect(first?.data).to.deep.include({
        type: TYPE.SOA,
        mname: "ns.dns.example.com",
        rname: "admin.example.com",
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: 60,
      });
      const serial = (first?.data as { serial: number } | undefined)?.serial ?? 0;
      expect(serial).to.be.greaterThan(0);
      index.apply([{ type: "put", key: "/skydns/com/example/new", value: '{"host":"10.0.0.2"}', revision: 99 }]);
      const second = ask(ctx, "example.com", TYPE.SOA).answer[0];
      expect((second?.data as { serial: number } | undefined)?.serial).to.be.greaterThan(serial);
    });

    it("serves NS from ns.dns keys with glue, plus configured nameservers", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/dns/ns/ns1": { host: "10.0.0.53" } }), [
        { name: "example.com", nameservers: [{ name: "ns2.example.com", address: "10.0.0.54" }] },
      ]);
      const response = ask(ctx, "example.com", TYPE.NS);
      expect(data(response.answer)).to.deep.equal([
        { name: "example.com", type: TYPE.NS, target: "ns1.ns.dns.example.com" },
        { name: "example.com", type: TYPE.NS, target: "ns2.example.com" },
      ]);
      expect(data(response.additional)).to.deep.equal([
        { name: "ns1.ns.dns.example.com", type: TYPE.A, address: "10.0.0.53" },
        { name: "ns2.example.com", type: TYPE.A, address: "10.0.0.54" },
      ]);
      expect(ask(ctx, "ns1.ns.dns.example.com", TYPE.NS).answer).to.deep.equal([]);
    });

    it("answers the apex from apex.dns.<zone> and never says NXDOMAIN there", async () => {
      const withApex = context(await indexWith({ "/skydns/com/example/dns/apex/x": { host: "10.0.0.80" } }));
      expect(data(ask(withApex, "example.com", TYPE.A).answer)).to.deep.equal([
        { name: "example.com", type: TYPE.A, address: "10.0.0.80" },
      ]);
      const empty = context(await indexWith({}));
      const response = ask(empty, "example.com", TYPE.A);
      expect(response.rcode).to.equal(RCODE.NOERROR);
      expect(response.authority[0]?.data.type).to.equal(TYPE.SOA);
    });
  });

  describe("protocol decisions", () => {
    it("refuses names outside the zones and classes other than IN", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1" } }));
      const outside = ask(ctx, "example.org", TYPE.A);
      expect(outside.rcode).to.equal(RCODE.REFUSED);
      expect(outside.authoritative).to.equal(false);
      expect(ask(ctx, "web.example.com", TYPE.A, { qclass: 3 }).rcode).to.equal(RCODE.REFUSED);
      expect(ask(ctx, "example.com", TYPE.AXFR).rcode).to.equal(RCODE.REFUSED);
    });

    it("answers BADVERS for EDNS version > 0, with our OPT", async () => {
      const ctx = context(await indexWith({}));
      const response = ask(ctx, "example.com", TYPE.SOA, {
        edns: { payloadSize: 4096, version: 1, dnssecOk: true },
      });
      expect(response.rcode).to.equal(RCODE.BADVERS);
      expect(response.edns).to.deep.equal({ payloadSize: 1232, dnssecOk: true });
      expect(response.answer).to.deep.equal([]);
    });

    it("gives ANY a single HINFO over UDP (RFC 8482) and everything over TCP", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/web/a": { host: "10.0.0.1" },
          "/skydns/com/example/web/b": { host: "2001:db8::1" },
        }),
      );
      expect(data(ask(ctx, "web.example.com", TYPE.ANY).answer)).to.deep.equal([
        { name: "web.example.com", type: TYPE.HINFO, cpu: "RFC8482", os: "" },
      ]);
      const tcp = ask(ctx, "web.example.com", TYPE.ANY, { transport: "tcp" }).answer.map((r) => r.data.type);
      expect(tcp).to.include.members([TYPE.A, TYPE.AAAA]);
      expect(ask(ctx, "nope.example.com", TYPE.ANY).rcode).to.equal(RCODE.NXDOMAIN);
    });

    it("treats names with octets no stored name can hold as nonexistent", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/a/b": { host: "10.0.0.1" } }));
      const response = answer(
        { labels: ["b.a", "example", "com"], qtype: TYPE.A, qclass: 1, edns: undefined, transport: "udp" },
        ctx,
      );
      expect(response.rcode).to.equal(RCODE.NXDOMAIN);
    });

    it("gives NODATA for other types at existing names", async () => {
      const ctx = context(await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1" } }));
      const response = ask(ctx, "web.example.com", TYPE.PTR);
      expect(response.rcode).to.equal(RCODE.NOERROR);
      expect(response.answer).to.deep.equal([]);
      expect(response.authority).to.have.length(1);
    });
  });

  describe("CNAMEs beside other data (B6)", () => {
    const ENT = "default.myfed.svc.us-east-1.example.com";
    const KEY = "/skydns/com/example/us-east-1/svc/myfed/default";

    it("never answers a child's CNAME at an empty non-terminal whose groups disagree", async () => {
      const ctx = context(
        await indexWith({
          [`${KEY}/nginx/east-a-1`]: { host: "10.0.0.1", group: `nginx.${ENT}` },
          [`${KEY}/cart/cname`]: { host: "cart.default.myfed.svc.example.com", group: `cart.${ENT}` },
          "/skydns/com/example/svc/myfed/default/cart/east-b-1": { host: "10.0.0.2" },
        }),
      );
      expect(data(ask(ctx, ENT, TYPE.A).answer)).to.deep.equal([{ name: ENT, type: TYPE.A, address: "10.0.0.1" }]);
      const cname = ask(ctx, ENT, TYPE.CNAME);
      expect(cname.rcode).to.equal(RCODE.NOERROR);
      expect(cname.answer).to.deep.equal([]);
      // The CNAME still serves its own name, chased.
      expect(data(ask(ctx, `cart.${ENT}`, TYPE.A).answer)).to.deep.equal([
        { name: `cart.${ENT}`, type: TYPE.CNAME, target: "cart.default.myfed.svc.example.com" },
        { name: "cart.default.myfed.svc.example.com", type: TYPE.A, address: "10.0.0.2" },
      ]);
      // Only the CNAME under the empty non-terminal: it is not the name's own, so NODATA.
      const alone = context(
        await indexWith({
          [`${KEY}/cart/cname`]: { host: "cart.default.myfed.svc.example.com", group: `cart.${ENT}` },
          [`${KEY}/shop/cname`]: { host: "shop.default.myfed.svc.example.com", group: `shop.${ENT}` },
        }),
      );
      const nodata = ask(alone, ENT, TYPE.A);
      expect(nodata.rcode).to.equal(RCODE.NOERROR);
      expect(nodata.answer).to.deep.equal([]);
      expect(nodata.authority.map((record) => record.data.type)).to.deep.equal([TYPE.SOA]);
    });

    it("drops a name's own CNAME when other data answers at the name", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/web/a": { host: "10.0.0.1", group: "web.example.com" },
          "/skydns/com/example/web/cname": { host: "other.example.com", group: "web.example.com" },
          "/skydns/com/example/other": { host: "10.0.0.9" },
          "/skydns/com/example/plain/a": { host: "2001:db8::1" },
          "/skydns/com/example/plain/b": { host: "other.example.com" },
        }),
      );
      expect(data(ask(ctx, "web.example.com", TYPE.A).answer)).to.deep.equal([
        { name: "web.example.com", type: TYPE.A, address: "10.0.0.1" },
      ]);
      expect(ask(ctx, "web.example.com", TYPE.CNAME).answer).to.deep.equal([]);
      // Ungrouped (plain CoreDNS) data: an AAAA beside the CNAME makes an A question NODATA, not a chase.
      const plain = ask(ctx, "plain.example.com", TYPE.A);
      expect(plain.rcode).to.equal(RCODE.NOERROR);
      expect(plain.answer).to.deep.equal([]);
    });
  });

  describe("cost at big subtrees", () => {
    it("answers unknown types, SOA, NS and UDP ANY at the apex and at empty non-terminals without walking the subtree", async () => {
      const { RecordIndex } = await import("../../../src/records/index.ts");
      const index = new RecordIndex({ prefix: "/skydns" });
      const changes = [];
      for (let i = 0; i < 50_000; i++) {
        const key = `/skydns/com/example/svc/myfed/ns${i % 100}/s${i}/east-a-1`;
        changes.push({ type: "put" as const, key, value: JSON.stringify({ host: "10.0.0.1" }), revision: i + 1 });
      }
      index.apply(changes);
      const ctx = context(index);
      const visits = (name: string, qtype: number): number => {
        const before = index.nodeVisits;
        ask(ctx, name, qtype);
        return index.nodeVisits - before;
      };
      for (const name of ["example.com", "svc.example.com", "myfed.svc.example.com", "ns7.myfed.svc.example.com"]) {
        for (const qtype of [99, TYPE.PTR, TYPE.SOA, TYPE.NS, TYPE.ANY]) {
          expect(visits(name, qtype), `${name} ${qtype}`).to.be.below(100);
        }
        expect(ask(ctx, name, 99).rcode, name).to.equal(RCODE.NOERROR);
      }
      expect(visits("nope.svc.example.com", 99)).to.be.below(20);
      expect(ask(ctx, "nope.svc.example.com", 99).rcode).to.equal(RCODE.NXDOMAIN);
      // Questions that need the subtree read it only up to the budget, and say the answer is cut short.
      for (const qtype of [TYPE.A, TYPE.TXT, TYPE.SRV]) {
        expect(visits("svc.example.com", qtype)).to.be.at.most(DEFAULT_MAX_VISITS);
        const cut = ask(ctx, "svc.example.com", qtype);
        expect(cut.truncated, `${qtype}`).to.equal(true);
        expect(cut.extendedError).to.deep.equal({ code: 0, text: "answer truncated by server budget" });
        expect(ask(ctx, "svc.example.com", qtype, { transport: "tcp" }).truncated).to.equal(false);
      }
    });
  });
});
