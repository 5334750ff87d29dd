import { expect } from "chai";
import { Packet } from "dns2";
import fc from "fast-check";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import { encodeWithDns2 } from "../../../src/dns/dns2-codec.ts";
import { encodeResponse, encoderStats, fitsWire } from "../../../src/dns/encode.ts";
import { QueryHandler } from "../../../src/dns/handler.ts";
import type { DnsResponse, ReplyTo } from "../../../src/dns/message.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import type { RecordIndex } from "../../../src/records/index.ts";
import { buildQuery, indexWith, replyHeader } from "../../support/dns.ts";
import { checkWire } from "./wire.ts";

function handlers(index: RecordIndex): { fast: QueryHandler; dns2: QueryHandler } {
  const zones = new ZoneSet(resolveZones(["example.com", "other.org"]));
  const common = { index, zones, udpPayloadSize: 1232 };
  return {
    fast: new QueryHandler({ ...common, metrics: new DnsMetrics(), codec: "fast" }),
    dns2: new QueryHandler({ ...common, metrics: new DnsMetrics(), codec: "dns2" }),
  };
}

const LABELS = ["a", "b", "svc", "_tcp", "_http", "web", "x", "dns", "ns", "apex"];
const nameArb = fc
  .array(fc.constantFrom(...LABELS), { minLength: 0, maxLength: 3 })
  .chain((labels) =>
    fc.constantFrom("example.com", "other.org", "elsewhere.net").map((zone) => [...labels, zone].join(".")),
  );
const valueArb = fc.record(
  {
    host: fc.oneof(fc.ipV4(), fc.constantFrom("2001:db8::1", "::1", "fe80::1:2"), nameArb, fc.constant("")),
    text: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 300 })),
    port: fc.integer({ min: -1, max: 65535 }),
    weight: fc.integer({ min: 0, max: 100 }),
    priority: fc.integer({ min: 0, max: 30 }),
    ttl: fc.integer({ min: 0, max: 3600 }),
    mail: fc.boolean(),
  },
  { requiredKeys: ["host"] },
);
const entriesArb = fc.array(fc.tuple(nameArb, fc.constantFrom("", "k1", "k2", "k3"), valueArb), { maxLength: 40 });

function keyOf(name: string, leaf: string): string {
  return `/skydns/${name.split(".").reverse().join("/")}${leaf ? `/${leaf}` : ""}`;
}

function randomCase(name: string, seed: number): string {
  return [...name].map((c, i) => ((seed >> (i % 16)) & 1 ? c.toUpperCase() : c)).join("");
}

describe("codec: hand-written encoder vs dns2", () => {
  it("produces byte-identical replies, fresh and from the cache, for generated data and questions", async () => {
    await fc.assert(
      fc.asyncProperty(
        entriesArb,
        fc.array(
          fc.record({
            name: nameArb,
            qtype: fc.constantFrom(
              TYPE.A,
              TYPE.AAAA,
              TYPE.CNAME,
              TYPE.SRV,
              TYPE.MX,
              TYPE.TXT,
              TYPE.NS,
              TYPE.SOA,
              TYPE.ANY,
              TYPE.PTR,
            ),
            edns: fc.option(fc.integer({ min: 0, max: 4096 })),
            dnssecOk: fc.boolean(),
            transport: fc.constantFrom("udp" as const, "tcp" as const),
            caseSeed: fc.integer({ min: 0, max: 0xffff }),
            id: fc.integer({ min: 0, max: 0xffff }),
            rd: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        async (entries, questions) => {
          const values: Record<string, object> = {};
          for (const [name, leaf, value] of entries) {
            if (value.host === "" && !value.text) continue;
            values[keyOf(name, leaf)] = value;
          }
          const { fast, dns2 } = handlers(await indexWith(values));
          for (const question of questions) {
            for (const round of [0, 1]) {
              const packet = buildQuery(randomCase(question.name, question.caseSeed + round), question.qtype, {
                id: (question.id + round) & 0xffff,
                recursionDesired: question.rd !== (round === 1),
                ednsPayload: question.edns ?? undefined,
                dnssecOk: question.dnssecOk,
              });
              const expected = dns2.handle(packet, question.transport);
              const actual = fast.handle(packet, question.transport);
              expect(actual?.toString("hex")).to.equal(expected?.toString("hex"));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("compresses names and keeps the question's case", async () => {
    const { fast } = handlers(await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1" } }));
    const reply = fast.handle(buildQuery("WeB.ExAmple.com", TYPE.A), "udp");
    expect(reply).to.not.equal(undefined);
    // header 12 + question (17 + 4) + answer (pointer 2 + 10 + 4)
    expect(reply?.length).to.equal(12 + 21 + 16);
    expect(reply?.subarray(12, 12 + 17).toString("latin1")).to.include("WeB");
    const parsed = Packet.parse(reply as Buffer);
    expect(parsed.answers[0]).to.include({ name: "WeB.ExAmple.com", address: "10.0.0.1" });
  });

  it("truncates whole RRsets with TC when the reply exceeds 512 bytes without EDNS or the EDNS size", async () => {
    const values: Record<string, object> = {};
    for (let i = 0; i < 60; i++) values[`/skydns/com/example/big/k${i}`] = { host: `10.0.${i}.1` };
    for (let i = 0; i < 60; i++) values[`/skydns/com/example/big/v${i}`] = { host: `2001:db8::${i + 1}` };
    const { fast } = handlers(await indexWith(values));
    const classic = fast.handle(buildQuery("big.example.com", TYPE.A), "udp") as Buffer;
    expect(replyHeader(classic).tc).to.equal(true);
    expect(classic.length).to.be.at.most(512);
    expect(replyHeader(classic).ancount).to.equal(0);
    const edns = fast.handle(buildQuery("big.example.com", TYPE.A, { ednsPayload: 4096 }), "udp") as Buffer;
    expect(replyHeader(edns).tc).to.equal(false);
    expect(replyHeader(edns).ancount).to.equal(60);
    const aaaa = fast.handle(buildQuery("big.example.com", TYPE.AAAA, { ednsPayload: 1232 }), "udp") as Buffer;
    // 60 AAAA records need 1680 bytes: the one RRset does not fit, so none of it is sent.
    expect(aaaa.length).to.be.at.most(1232);
    expect(replyHeader(aaaa).tc).to.equal(true);
    expect(replyHeader(aaaa).ancount).to.equal(0);
    expect(replyHeader(aaaa).arcount).to.equal(1);
    const tcp = fast.handle(buildQuery("big.example.com", TYPE.ANY), "tcp") as Buffer;
    expect(replyHeader(tcp).tc).to.equal(false);
    // 60 A + 60 AAAA + one SRV per address record (CoreDNS serves port-less records as SRV port 0).
    expect(replyHeader(tcp).ancount).to.equal(240);
  });

  it("encodes every record type the same way dns2 decodes it", async () => {
    const reply: ReplyTo = {
      id: 7,
      opcode: 0,
      recursionDesired: true,
      checkingDisabled: false,
      questionWire: buildQuery("x.example.com", TYPE.ANY).subarray(12),
      questionLabels: ["x", "example", "com"],
      questionPlain: true,
      qtype: TYPE.ANY,
      qclass: 1,
    };
    const response: DnsResponse = {
      rcode: RCODE.NOERROR,
      authoritative: true,
      echoQuestion: true,
      answer: [
        { name: "x.example.com", ttl: 5, data: { type: TYPE.A, address: "192.0.2.1" } },
        { name: "x.example.com", ttl: 5, data: { type: TYPE.AAAA, address: "2001:db8::5" } },
        { name: "x.example.com", ttl: 5, data: { type: TYPE.MX, preference: 10, exchange: "mail.example.com" } },
        {
          name: "x.example.com",
          ttl: 5,
          data: { type: TYPE.SRV, priority: 1, weight: 2, port: 3, target: "t.example.com" },
        },
        { name: "x.example.com", ttl: 5, data: { type: TYPE.TXT, strings: [Buffer.from("hi"), Buffer.from("there")] } },
      ],
      authority: [
        {
          name: "example.com",
          ttl: 30,
          data: {
            type: TYPE.SOA,
            mname: "ns.dns.example.com",
            rname: "hostmaster.example.com",
            serial: 9,
            refresh: 1,
            retry: 2,
            expire: 3,
            minimum: 30,
          },
        },
      ],
      additional: [],
      edns: { payloadSize: 1232, dnssecOk: false },
    };
    const fastBytes = encodeResponse(reply, response, 1232).bytes;
    expect(fastBytes.toString("hex")).to.equal(encodeWithDns2(reply, response, 1232).bytes.toString("hex"));
    const parsed = Packet.parse(fastBytes);
    expect(parsed.answers.map((a) => a.type)).to.deep.equal([TYPE.A, TYPE.AAAA, TYPE.MX, TYPE.SRV, TYPE.TXT]);
    expect(parsed.answers[1]?.address).to.equal("2001:db8::5");
    expect(parsed.answers[2]?.exchange).to.equal("mail.example.com");
    expect(parsed.answers[3]).to.include({ priority: 1, weight: 2, port: 3, target: "t.example.com" });
    expect(parsed.answers[4]?.data).to.deep.equal(["hi", "there"]);
    expect(parsed.authorities[0]).to.include({ primary: "ns.dns.example.com", serial: 9, minimum: 30 });
    // RFC 2782: the SRV target is written in full even though example.com appeared before.
    expect(fastBytes.includes(Buffer.from("\x01t\x07example\x03com\x00", "latin1"))).to.equal(true);
  });

  it("leaves out records whose names cannot be encoded, never sending a malformed message", () => {
    const reply: ReplyTo = {
      id: 9,
      opcode: 0,
      recursionDesired: false,
      checkingDisabled: false,
      questionWire: buildQuery("x.example.com", TYPE.SRV).subarray(12),
      questionLabels: ["x", "example", "com"],
      questionPlain: true,
      qtype: TYPE.SRV,
      qclass: 1,
    };
    const longLabel = `${"a".repeat(64)}.example.com`;
    const longName = Array.from({ length: 26 }, () => "abcdefghi").join(".");
    const srv = (target: string) => ({
      name: "x.example.com",
      ttl: 5,
      data: { type: TYPE.SRV, priority: 10, weight: 50, port: 80, target } as const,
    });
    const response: DnsResponse = {
      rcode: RCODE.NOERROR,
      authoritative: true,
      echoQuestion: true,
      answer: [srv(longLabel), srv("ok.example.com"), srv(longName)],
      authority: [],
      additional: [
        { name: longLabel, ttl: 5, data: { type: TYPE.A, address: "192.0.2.1" } },
        { name: "ok.example.com", ttl: 5, data: { type: TYPE.A, address: "192.0.2.2" } },
      ],
      edns: undefined,
    };
    const before = encoderStats.droppedRecords;
    const bytes = encodeResponse(reply, response, 512).bytes;
    const parsed = checkWire(bytes);
    expect(parsed.answer.map((record) => record.rdata.subarray(6).toString("latin1"))).to.deep.equal([
      "\x02ok\x07example\x03com\x00",
    ]);
    expect(parsed.additional.map((record) => record.name)).to.deep.equal(["ok.example.com"]);
    expect(encoderStats.droppedRecords - before).to.equal(3);
    expect(fitsWire(`${"a".repeat(63)}.example.com`)).to.equal(true);
    expect(fitsWire(Array.from({ length: 25 }, () => "abcdefghi").join("."))).to.equal(true);
    expect(fitsWire(longName)).to.equal(false);
  });
});
