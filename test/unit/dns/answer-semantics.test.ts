// answer() on records exactly as the controller writes them (plan() + key layout) and on other writers'
// skydns data: names answer exactly their own records, CNAMEs per RFC 1034/6604 for every type,
// and the CoreDNS etcd plugin's readings (SRV weights, targetstrip, PTR, NS, loops, ports).
import { expect } from "chai";
import { type AnswerContext, answer, type Question } from "../../../src/dns/answer.ts";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import type { DnsResponse, ResourceRecord } from "../../../src/dns/message.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { plan } from "../../../src/federation/plan.ts";
import { describeRecord } from "../../../src/records/describe.ts";
import { RecordIndex } from "../../../src/records/index.ts";
import { pathOfName } from "../../../src/records/name.ts";
import { encodeService } from "../../../src/records/service.ts";
import { ownerNameOf, recordType } from "../../../src/records/type.ts";
import { indexWith } from "../../support/dns.ts";
import { federation, OPTIONS, svc, zonal } from "../federation/fixtures.ts";

const GLOBAL = "nginx.default.myfed.svc.example.com";
const FOOREGION = "nginx.default.myfed.svc.fooregion.example.com";
const FOOZONE = "nginx.default.myfed.svc.foozone.fooregion.example.com";
const BARREGION = "nginx.default.myfed.svc.barregion.example.com";
const BARZONE = "nginx.default.myfed.svc.barzone.barregion.example.com";
const HTTP = { name: "http", protocol: "TCP", port: 80 };
const HTTPS = 65;
const CAA = 257;

function context(index: RecordIndex, zones: Parameters<typeof resolveZones>[0] = ["example.com"]): AnswerContext {
  return { index, zones: new ZoneSet(resolveZones(zones)), udpPayloadSize: 1232 };
}

function ask(ctx: AnswerContext, name: string, qtype: number, extra: Partial<Question> = {}): DnsResponse {
  return answer({ labels: name.split("."), qtype, qclass: 1, edns: undefined, transport: "udp", ...extra }, ctx);
}

function text(records: readonly ResourceRecord[]): string[] {
  return records.map((record) => {
    const data = record.data as Record<string, unknown>;
    const fields = Object.entries(data)
      .filter(([field]) => field !== "type")
      .map(([, value]) => (Buffer.isBuffer(value) ? value.toString() : String(value)));
    return `${record.name} ${data.type} ${fields.join(" ")}`;
  });
}

function controllerIndex(): RecordIndex {
  const state = federation(
    zonal("c1", "foozone", "fooregion", [
      svc({ ips: ["198.51.100.1", "2001:db8::1"], ports: [HTTP, { name: "dns", protocol: "UDP", port: 53 }] }),
    ]),
    zonal("c2", "barzone", "barregion", [svc({ ips: ["198.51.100.2"], endpoints: [], ports: [HTTP] })]),
    zonal("c3", "bazzone", "fooregion", [svc({ ips: ["198.51.100.3"], ports: [{ ...HTTP, port: 8080 }] })]),
  );
  const records = plan(state, OPTIONS).services.get("default/nginx")!;
  const index = new RecordIndex({ prefix: OPTIONS.prefix });
  const result = index.apply(
    [...records].map(([key, value], i) => ({
      type: "put" as const,
      key,
      value: encodeService(value),
      revision: i + 1,
    })),
  );
  expect(result.rejected).to.deep.equal([]);
  return index;
}

describe("answer() semantics", () => {
  describe("records the controller writes answer exactly at their own names", () => {
    const ctx = context(controllerIndex());

    it("a level name answers its addresses, and nothing for SRV", () => {
      expect(text(ask(ctx, GLOBAL, TYPE.A).answer).sort()).to.deep.equal([
        `${GLOBAL} 1 198.51.100.1`,
        `${GLOBAL} 1 198.51.100.3`,
      ]);
      expect(text(ask(ctx, GLOBAL, TYPE.AAAA).answer)).to.deep.equal([`${GLOBAL} 28 2001:db8::1`]);
      for (const name of [GLOBAL, FOOREGION, FOOZONE]) {
        const srv = ask(ctx, name, TYPE.SRV);
        expect(srv.rcode, name).to.equal(RCODE.NOERROR);
        expect(srv.answer, name).to.deep.equal([]);
        expect(srv.authority.map((record) => record.data.type)).to.deep.equal([TYPE.SOA]);
      }
    });

    it("an SRV name answers SRV with the real port and target addresses, and NODATA for A/AAAA/TXT", () => {
      const cases: [string, string[]][] = [
        [
          `_http._tcp.${GLOBAL}`,
          [`_http._tcp.${GLOBAL} 33 10 50 80 ${GLOBAL}`, `_http._tcp.${GLOBAL} 33 10 50 8080 ${GLOBAL}`],
        ],
        [`_http._tcp.${FOOZONE}`, [`_http._tcp.${FOOZONE} 33 10 100 80 ${FOOZONE}`]],
        [
          `_http._tcp.${BARZONE}`,
          [`_http._tcp.${BARZONE} 33 10 50 80 ${GLOBAL}`, `_http._tcp.${BARZONE} 33 10 50 8080 ${GLOBAL}`],
        ],
        [`_dns._udp.${FOOREGION}`, [`_dns._udp.${FOOREGION} 33 10 100 53 ${FOOREGION}`]],
        [`_dns._udp.${FOOZONE}`, [`_dns._udp.${FOOZONE} 33 10 100 53 ${FOOZONE}`]],
      ];
      for (const [name, expected] of cases) {
        const srv = ask(ctx, name, TYPE.SRV);
        expect(text(srv.answer), name).to.deep.equal(expected);
        const targets = new Set(srv.answer.map((record) => (record.data as { target: string }).target));
        expect(srv.additional.length, name).to.be.greaterThan(0);
        for (const glue of srv.additional) expect(targets.has(glue.name), glue.name).to.equal(true);
        for (const qtype of [TYPE.A, TYPE.AAAA, TYPE.TXT]) {
          const other = ask(ctx, name, qtype);
          expect([other.rcode, other.answer.length], `${name} ${qtype}`).to.deep.equal([RCODE.NOERROR, 0]);
        }
      }
    });

    it("per-address and cname leaves do not exist; empty non-terminals exist without data", () => {
      const index = controllerIndex();
      const leaves = index.all().map((record) => record.name);
      expect(leaves.length).to.be.greaterThan(10);
      const ctx2 = context(index);
      // A key one label below the name it answers for is no DNS name of its own (a zone file has no such name).
      for (const name of leaves) {
        for (const qtype of [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.TXT, TYPE.CNAME, TYPE.MX]) {
          const response = ask(ctx2, name, qtype);
          expect([response.rcode, response.answer.length], `${name} ${qtype}`).to.deep.equal([RCODE.NXDOMAIN, 0]);
          expect(
            response.authority.map((record) => record.data.type),
            name,
          ).to.deep.equal([TYPE.SOA]);
        }
      }
      for (const name of ["myfed.svc.example.com", "svc.example.com", `_tcp.${GLOBAL}`, `_udp.${FOOREGION}`]) {
        for (const qtype of [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.TXT, TYPE.CNAME, TYPE.MX]) {
          const response = ask(ctx2, name, qtype);
          expect([response.rcode, response.answer.length], `${name} ${qtype}`).to.deep.equal([RCODE.NOERROR, 0]);
        }
      }
    });

    it("the apex answers SOA and NS only: no aggregate of the zone's addresses, also for ANY over TCP", () => {
      const a = ask(ctx, "example.com", TYPE.A);
      expect([a.rcode, a.answer.length]).to.deep.equal([RCODE.NOERROR, 0]);
      const any = ask(ctx, "example.com", TYPE.ANY, { transport: "tcp" });
      expect(any.answer.map((record) => record.data.type)).to.deep.equal([TYPE.SOA]);
    });

    it("a level without shards is a CNAME for every type, followed to the rcode of the last name", () => {
      const a = ask(ctx, BARZONE, TYPE.A);
      expect(text(a.answer)).to.deep.equal([
        `${BARZONE} 5 ${BARREGION}`,
        `${BARREGION} 5 ${GLOBAL}`,
        `${GLOBAL} 1 198.51.100.1`,
        `${GLOBAL} 1 198.51.100.3`,
      ]);
      for (const qtype of [TYPE.MX, TYPE.TXT, HTTPS, CAA, 999, TYPE.SRV]) {
        const response = ask(ctx, BARZONE, qtype);
        expect(response.rcode, `${qtype}`).to.equal(RCODE.NOERROR);
        expect(text(response.answer), `${qtype}`).to.deep.equal([
          `${BARZONE} 5 ${BARREGION}`,
          `${BARREGION} 5 ${GLOBAL}`,
        ]);
        expect(response.authority.map((record) => record.data.type)).to.deep.equal([TYPE.SOA]);
      }
      expect(text(ask(ctx, BARZONE, TYPE.CNAME).answer)).to.deep.equal([`${BARZONE} 5 ${BARREGION}`]);
    });

    it("lists every record with the type and name it answers as", () => {
      for (const record of controllerIndex().all()) {
        const view = describeRecord("/skydns", record.key, encodeService(record.service));
        expect(view.type).to.equal(recordType(record));
        expect(view.name).to.equal(ownerNameOf(record));
        expect(view.name).to.equal(record.service.group);
      }
    });
  });

  describe("CNAME per RFC 1034 §3.6.2 and RFC 6604 on other writers' data", () => {
    it("a dangling CNAME gives the CNAME and NXDOMAIN for any type; a chain ends with the last name's rcode", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/alias": { host: "gone.example.com" },
          "/skydns/com/example/hop": { host: "alias.example.com" },
          "/skydns/com/example/mail": { host: "mx.example.com", mail: true, priority: 5 },
        }),
      );
      for (const qtype of [TYPE.A, TYPE.MX, TYPE.TXT, TYPE.SRV, HTTPS, CAA]) {
        const response = ask(ctx, "hop.example.com", qtype);
        expect(response.rcode, `${qtype}`).to.equal(RCODE.NXDOMAIN);
        expect(text(response.answer)).to.deep.equal([
          "hop.example.com 5 alias.example.com",
          "alias.example.com 5 gone.example.com",
        ]);
      }
      expect(text(ask(ctx, "alias.example.com", TYPE.CNAME).answer)).to.deep.equal([
        "alias.example.com 5 gone.example.com",
      ]);
      expect(text(ask(ctx, "mail.example.com", TYPE.MX).answer)).to.deep.equal([
        "mail.example.com 15 5 mx.example.com",
      ]);
      const mailA = ask(ctx, "mail.example.com", TYPE.A);
      expect([mailA.rcode, mailA.answer.length]).to.deep.equal([RCODE.NOERROR, 0]);
    });

    it("stops a CNAME loop after one round, NOERROR with the chain", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/a": { host: "b.example.com" },
          "/skydns/com/example/b": { host: "a.example.com" },
        }),
      );
      const response = ask(ctx, "a.example.com", TYPE.A);
      expect(response.rcode).to.equal(RCODE.NOERROR);
      expect(text(response.answer)).to.deep.equal(["a.example.com 5 b.example.com", "b.example.com 5 a.example.com"]);
    });
  });

  describe("CoreDNS readings of skydns data", () => {
    it("SRV weights are percentages of their priority group's total", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/svc/a": { host: "a.example.org", port: 80, priority: 10, weight: 10 },
          "/skydns/com/example/svc/b": { host: "b.example.org", port: 80, priority: 10, weight: 30 },
          "/skydns/com/example/svc/c": { host: "c.example.org", port: 80, priority: 20 },
          "/skydns/com/example/svc/d": { host: "d.example.org", port: 80, priority: 20, weight: 300 },
        }),
      );
      const weights = ask(ctx, "svc.example.com", TYPE.SRV).answer.map((record) => {
        const data = record.data as { priority: number; weight: number };
        return `${data.priority}/${data.weight}`;
      });
      expect(weights).to.deep.equal(["10/25", "10/75", "20/25", "20/75"]);
    });

    it("targetstrip drops labels of the target an address record makes, in SRV and its glue", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/web/x1/a": { host: "198.51.100.1", port: 8080, targetstrip: 1 },
          "/skydns/com/example/web/x2/b": { host: "198.51.100.2", port: 8081 },
        }),
      );
      const response = ask(ctx, "web.example.com", TYPE.SRV);
      expect(text(response.answer)).to.deep.equal([
        "web.example.com 33 10 50 8080 x1.web.example.com",
        "web.example.com 33 10 50 8081 b.x2.web.example.com",
      ]);
      expect(text(response.additional)).to.deep.equal([
        "x1.web.example.com 1 198.51.100.1",
        "b.x2.web.example.com 1 198.51.100.2",
      ]);
    });

    it("two leaves with one address and different ports give two SRV records and one A", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/db/a": { host: "198.51.100.9", port: 5432 },
          "/skydns/com/example/db/b": { host: "198.51.100.9", port: 5433 },
        }),
      );
      expect(text(ask(ctx, "db.example.com", TYPE.SRV).answer)).to.deep.equal([
        "db.example.com 33 10 50 5432 a.db.example.com",
        "db.example.com 33 10 50 5433 b.db.example.com",
      ]);
      expect(text(ask(ctx, "db.example.com", TYPE.A).answer)).to.deep.equal(["db.example.com 1 198.51.100.9"]);
    });

    it("serves PTR from name hosts under a configured reverse zone", async () => {
      const v6 = `1.${"0.".repeat(23)}2.0.0.1.0.d.b.8.ip6.arpa`;
      const ctx = context(
        await indexWith({
          "/skydns/arpa/in-addr/198/51/100/7": { host: "web.example.com" },
          [pathOfName("/skydns", v6)]: { host: "v6.example.com" },
        }),
        ["example.com", "in-addr.arpa", "ip6.arpa"],
      );
      expect(text(ask(ctx, "7.100.51.198.in-addr.arpa", TYPE.PTR).answer)).to.deep.equal([
        "7.100.51.198.in-addr.arpa 12 web.example.com",
      ]);
      expect(text(ask(ctx, v6, TYPE.PTR).answer)).to.deep.equal([`${v6} 12 v6.example.com`]);
      const a = ask(ctx, "7.100.51.198.in-addr.arpa", TYPE.A);
      expect([a.rcode, a.answer.length]).to.deep.equal([RCODE.NOERROR, 0]);
      expect(ask(ctx, "8.100.51.198.in-addr.arpa", TYPE.PTR).rcode).to.equal(RCODE.NXDOMAIN);
    });

    it("NS names come from ns.dns.<zone> keys, targetstrip applied, with glue", async () => {
      const ctx = context(
        await indexWith({
          "/skydns/com/example/dns/ns/ns1": { host: "198.51.100.53" },
          "/skydns/com/example/dns/ns/a/ns2": { host: "2001:db8::53", targetstrip: 1 },
        }),
      );
      const response = ask(ctx, "example.com", TYPE.NS);
      expect(text(response.answer).sort()).to.deep.equal([
        "example.com 2 a.ns.dns.example.com",
        "example.com 2 ns1.ns.dns.example.com",
      ]);
      expect(text(response.additional).sort()).to.deep.equal([
        "a.ns.dns.example.com 28 2001:db8::53",
        "ns1.ns.dns.example.com 1 198.51.100.53",
      ]);
    });

    it("a record with a name host and text is TXT everywhere", async () => {
      const value = { host: "web.example.com", text: "v=1" };
      const ctx = context(await indexWith({ "/skydns/com/example/info": value }));
      expect(text(ask(ctx, "info.example.com", TYPE.TXT).answer)).to.deep.equal(["info.example.com 16 v=1"]);
      const a = ask(ctx, "info.example.com", TYPE.A);
      expect([a.rcode, a.answer.length]).to.deep.equal([RCODE.NOERROR, 0]);
      expect(describeRecord("/skydns", "/skydns/com/example/info", JSON.stringify(value)).type).to.equal("TXT");
    });
  });
});
