// Work per question, counted (index nodes visited, index reads, records), never timed: rotating
// wildcard names each stay within the LookupBudget, and the SRV fan-out shapes a member cluster can
// create (1,000 SRV records at a name pointing at a target with 1,000 addresses; 2,000 SRV records
// with a target each) read each distinct target once per answer and fill the additional section only
// up to the size limit (RFC 2782 lets glue be left out), with TC only when the answer itself does not fit.
import { expect } from "chai";
import { type AnswerContext, answer } from "../../../src/dns/answer.ts";
import { TCP_LIMIT, TYPE } from "../../../src/dns/constants.ts";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { SubtreeMemo } from "../../../src/dns/subtree-memo.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { DEFAULT_MAX_RECORDS, DEFAULT_MAX_VISITS } from "../../../src/records/budget.ts";
import { type IndexChange, RecordIndex } from "../../../src/records/index.ts";
import { buildQuery, replyHeader } from "../../support/dns.ts";
import { checkWire } from "./wire.ts";

const ZONES = new ZoneSet(resolveZones(["example.com"]));

function indexOf(records: [key: string, value: object][]): RecordIndex {
  const index = new RecordIndex({ prefix: "/skydns" });
  let revision = 0;
  const changes: IndexChange[] = records.map(([key, value]) => ({
    type: "put",
    key,
    value: JSON.stringify(value),
    revision: ++revision,
  }));
  index.apply(changes);
  return index;
}

/** Counts index.at() reads per name. */
function countReads(index: RecordIndex): Map<string, number> {
  const reads = new Map<string, number>();
  const at = index.at.bind(index);
  index.at = (name, options) => {
    reads.set(name, (reads.get(name) ?? 0) + 1);
    return at(name, options);
  };
  return reads;
}

function handlerOver(index: RecordIndex): QueryHandler {
  return new QueryHandler({ index, zones: ZONES, udpPayloadSize: 1232, metrics: new DnsMetrics() });
}

describe("work per question (counted)", () => {
  describe("rotating wildcard names", () => {
    // 40,000 names: 20 regions x 20 zones x 100 services, so `*` questions at several depths match far
    // more than the budget allows.
    const records: [string, object][] = [];
    for (let i = 0; i < 40_000; i++) {
      records.push([
        `/skydns/com/example/r${i % 20}/z${(i >> 5) % 20}/s${i}/a`,
        { host: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` },
      ]);
    }
    const index = indexOf(records);
    const questions: string[] = [];
    for (let r = 0; r < 20; r++) {
      questions.push(
        `*.*.r${r}.example.com`,
        `any.z${r}.*.example.com`,
        `*.z${r}.r${r}.example.com`,
        `s${r}.*.*.example.com`,
      );
    }
    questions.push("*.*.*.example.com", "*.*.example.com", "*.example.com", "x.*.*.*.example.com");

    it("each costs at most the visit and record budget, through answer() and through the handler's caches", () => {
      const ctx: AnswerContext = { index, zones: ZONES, udpPayloadSize: 1232, memo: new SubtreeMemo() };
      let cut = 0;
      for (const name of questions) {
        const before = index.nodeVisits;
        // (The memo stamps what it keeps with a walk down its dependency's path: a few visits past the budget.)
        const response = answer(
          { labels: name.split("."), qtype: TYPE.A, qclass: 1, edns: undefined, transport: "udp" },
          ctx,
        );
        expect(index.nodeVisits - before, name).to.be.at.most(DEFAULT_MAX_VISITS + 16);
        expect(response.answer.length, name).to.be.at.most(DEFAULT_MAX_RECORDS);
        if (response.truncated) cut++;
      }
      // The shape really is over budget for the wide questions, and they say so.
      expect(cut).to.be.greaterThan(3);
      const handler = handlerOver(index);
      for (const name of questions) {
        const before = index.nodeVisits;
        const reply = handler.handle(buildQuery(name, TYPE.A, { ednsPayload: 1232 }), "udp");
        // The budget, plus the few path walks that stamp the cached reply with its dependencies.
        expect(index.nodeVisits - before, name).to.be.at.most(DEFAULT_MAX_VISITS + 64);
        expect(reply?.length ?? 0).to.be.at.most(1232);
      }
    });
  });

  describe("SRV fan-out", () => {
    it("1,000 SRV records to a target with 1,000 addresses: the target read once, glue as far as it fits", () => {
      const records: [string, object][] = [];
      for (let i = 0; i < 1000; i++)
        records.push([`/skydns/com/example/fan/s${i}`, { host: "big.example.com", port: 1000 + i }]);
      for (let i = 0; i < 1000; i++)
        records.push([`/skydns/com/example/big/a${i}`, { host: `10.251.${i >> 8}.${i & 255}` }]);
      const index = indexOf(records);
      const reads = countReads(index);
      const ctx: AnswerContext = { index, zones: ZONES, udpPayloadSize: 1232 };
      const response = answer(
        { labels: ["fan", "example", "com"], qtype: TYPE.SRV, qclass: 1, edns: undefined, transport: "tcp" },
        ctx,
      );
      expect(response.answer).to.have.length(1000);
      expect(response.truncated).to.not.equal(true);
      expect(reads.get("big.example.com")).to.equal(1);
      expect(reads.get("fan.example.com")).to.equal(1);
      expect(response.additional.filter((record) => record.name === "big.example.com")).to.have.length(1000);

      // Over UDP the answer does not fit: TC, within the size, no partial glue.
      const handler = handlerOver(index);
      const udp = handler.handle(buildQuery("fan.example.com", TYPE.SRV, { ednsPayload: 1232 }), "udp")!;
      expect(udp.length).to.be.at.most(1232);
      expect(replyHeader(udp).tc).to.equal(true);
      // Over TCP everything fits in one message (about 36 KB).
      const tcp = handler.handle(buildQuery("fan.example.com", TYPE.SRV, { ednsPayload: 1232 }), "tcp")!;
      const wire = checkWire(tcp);
      expect(tcp.length).to.be.at.most(TCP_LIMIT);
      expect(replyHeader(tcp).tc).to.equal(false);
      expect(wire.answer).to.have.length(1000);
      expect(wire.additional.filter((record) => record.type === TYPE.A)).to.have.length(1000);
    });

    it("1,500 SRV records with a target each: every target read once, the additional section filled up to the limit", () => {
      const records: [string, object][] = [];
      for (let i = 0; i < 1500; i++) {
        records.push([`/skydns/com/example/fan/s${i}`, { host: `t${i}.example.com`, port: 80 }]);
        records.push([`/skydns/com/example/t${i}/a`, { host: `10.252.${i >> 8}.${i & 255}` }]);
      }
      const index = indexOf(records);
      const reads = countReads(index);
      const tcp = handlerOver(index).handle(buildQuery("fan.example.com", TYPE.SRV), "tcp")!;
      for (let i = 0; i < 1500; i++) expect(reads.get(`t${i}.example.com`), `t${i}`).to.equal(1);
      const wire = checkWire(tcp);
      expect(tcp.length).to.be.at.most(TCP_LIMIT);
      expect(replyHeader(tcp).tc, "glue left out is no truncation").to.equal(false);
      // SRV targets are never compressed (RFC 2782): about 36 bytes each, 54 KB of answer.
      expect(wire.answer).to.have.length(1500);
      const glue = wire.additional.filter((record) => record.type === TYPE.A).length;
      expect(glue).to.be.greaterThan(0).and.below(1500);
      // Filled until the next record would not have fit.
      expect(tcp.length + 30).to.be.greaterThan(TCP_LIMIT);
    });

    it("MX: each exchange read once per answer", () => {
      const records: [string, object][] = [];
      for (let i = 0; i < 500; i++)
        records.push([`/skydns/com/example/mail/m${i}`, { host: "mx.example.com", mail: true, priority: i + 1 }]);
      for (let i = 0; i < 500; i++)
        records.push([`/skydns/com/example/mx/a${i}`, { host: `10.253.${i >> 8}.${i & 255}` }]);
      const index = indexOf(records);
      const reads = countReads(index);
      const ctx: AnswerContext = { index, zones: ZONES, udpPayloadSize: 1232 };
      const response = answer(
        { labels: ["mail", "example", "com"], qtype: TYPE.MX, qclass: 1, edns: undefined, transport: "tcp" },
        ctx,
      );
      expect(response.answer).to.have.length(500);
      expect(reads.get("mx.example.com")).to.equal(1);
      expect(response.additional).to.have.length(500);
    });
  });
});
