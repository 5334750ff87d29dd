// The subtree memo (src/dns/subtree-memo.ts) as answers use it: aggregate questions (empty
// non-terminals, wildcards) walk once and then cost O(answer) while etcd changes elsewhere, see a
// change inside their subtree at once, stay under the LookupBudget, and the memo stays bounded.
import { expect } from "chai";
import { type AnswerContext, answer, type Question } from "../../../src/dns/answer.ts";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import type { DnsResponse } from "../../../src/dns/message.ts";
import { SubtreeMemo } from "../../../src/dns/subtree-memo.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { LookupBudget } from "../../../src/records/budget.ts";
import { type IndexChange, RecordIndex } from "../../../src/records/index.ts";

const ENT = "ns1.myfed.svc.example.com";
const BELOW = 500;

let revision = 0;
function put(key: string, host: string): IndexChange {
  return { type: "put", key, value: JSON.stringify({ host }), revision: ++revision };
}

/** 500 names below ns1 (the empty non-terminal), 500 below ns2, and a churn key elsewhere. */
function bigIndex(): RecordIndex {
  const index = new RecordIndex({ prefix: "/skydns" });
  const changes: IndexChange[] = [];
  for (let i = 0; i < BELOW; i++) {
    changes.push(put(`/skydns/com/example/svc/myfed/ns1/s${i}/a`, `10.1.${i >> 8}.${i & 255}`));
    changes.push(put(`/skydns/com/example/svc/myfed/ns2/s${i}/a`, `10.2.${i >> 8}.${i & 255}`));
  }
  index.apply(changes);
  return index;
}

function context(index: RecordIndex, memo: SubtreeMemo | undefined, budget?: AnswerContext["budget"]): AnswerContext {
  return { index, zones: new ZoneSet(resolveZones(["example.com"])), udpPayloadSize: 1232, memo, budget };
}

function ask(ctx: AnswerContext, name: string, qtype = TYPE.A, extra: Partial<Question> = {}): DnsResponse {
  return answer({ labels: name.split("."), qtype, qclass: 1, edns: undefined, transport: "tcp", ...extra }, ctx);
}

/** Index nodes visited by one question. */
function visits(ctx: AnswerContext, name: string, qtype = TYPE.A): { visits: number; response: DnsResponse } {
  const before = ctx.index.nodeVisits;
  const response = ask(ctx, name, qtype);
  return { visits: ctx.index.nodeVisits - before, response };
}

function churn(index: RecordIndex, n: number): void {
  index.apply([put("/skydns/com/example/churn/x", `10.250.0.${n & 255}`)]);
}

describe("dns/subtree-memo", () => {
  it("walks an empty non-terminal once, then answers it without walking while other names change", () => {
    const index = bigIndex();
    const ctx = context(index, new SubtreeMemo());
    const first = visits(ctx, ENT);
    expect(first.response.answer).to.have.length(BELOW);
    expect(first.visits).to.be.greaterThan(BELOW);
    for (let n = 0; n < 20; n++) {
      churn(index, n);
      const again = visits(ctx, ENT);
      expect(again.response.answer).to.deep.equal(first.response.answer);
      expect(again.visits, `after change ${n}`).to.be.below(10);
    }
    // Without the memo every question walks the subtree.
    const plain = context(index, undefined);
    expect(visits(plain, ENT).visits).to.be.greaterThan(BELOW);
    expect(visits(plain, ENT).visits).to.be.greaterThan(BELOW);
  });

  it("sees a change inside the subtree at once", () => {
    const index = bigIndex();
    const ctx = context(index, new SubtreeMemo());
    expect(ask(ctx, ENT).answer).to.have.length(BELOW);
    index.apply([put("/skydns/com/example/svc/myfed/ns1/new/a", "10.9.9.9")]);
    const after = visits(ctx, ENT);
    expect(after.visits).to.be.greaterThan(BELOW);
    expect(after.response.answer).to.have.length(BELOW + 1);
    index.apply([{ type: "delete", key: "/skydns/com/example/svc/myfed/ns1/s0/a", revision: ++revision }]);
    expect(ask(ctx, ENT).answer).to.have.length(BELOW);
    expect(ask(ctx, ENT).answer.some((record) => record.name === "s0.ns1.myfed.svc.example.com")).to.equal(false);
  });

  it("serves wildcard questions from the memo under churn, keyed by their wildcard root", () => {
    const index = bigIndex();
    const ctx = context(index, new SubtreeMemo());
    const wildcard = "*.ns2.myfed.svc.example.com";
    // ns2 holds the index's newest change: a change at the revision a value was computed at counts as
    // newer (freshness.ts), so the first value after it would be computed twice. Start one change on.
    churn(index, 0);
    const first = visits(ctx, wildcard);
    expect(first.response.answer).to.have.length(BELOW);
    churn(index, 1);
    const again = visits(ctx, wildcard);
    expect(again.visits).to.be.below(10);
    expect(again.response.answer).to.deep.equal(first.response.answer);
    index.apply([put("/skydns/com/example/svc/myfed/ns2/extra/a", "10.9.9.8")]);
    expect(ask(ctx, wildcard).answer).to.have.length(BELOW + 1);
  });

  it("charges a hit what the walk cost: answers cut by the budget are the same with and without the memo", () => {
    const index = bigIndex();
    const limits = { maxRecords: 100 };
    const withMemo = context(index, new SubtreeMemo(), limits);
    const without = context(index, undefined, limits);
    const udp = { transport: "udp" as const };
    const expected = ask(without, ENT, TYPE.A, udp);
    expect(expected.truncated).to.equal(true);
    expect(expected.answer).to.have.length(100);
    for (let n = 0; n < 3; n++) {
      const got = ask(withMemo, ENT, TYPE.A, udp);
      expect(got.truncated).to.equal(true);
      expect(got.extendedError).to.deep.equal(expected.extendedError);
      expect(got.answer).to.deep.equal(expected.answer);
      churn(index, n);
    }
  });

  it("gives no hit that the remaining budget could not pay for", () => {
    const index = bigIndex();
    const memo = new SubtreeMemo();
    const ctx = context(index, memo);
    ask(ctx, ENT);
    expect(memo.size).to.be.greaterThan(0);
    const found = index.at(ENT);
    const poor = new LookupBudget();
    poor.records = poor.maxRecords - 10;
    expect(memo.get(index, ENT, poor)).to.equal(undefined);
    expect(poor.records).to.equal(poor.maxRecords - 10);
    const rich = new LookupBudget();
    expect(memo.get(index, ENT, rich)?.records).to.deep.equal(found?.records);
    expect(rich.records).to.equal(BELOW);
  });

  it("stays bounded in entries and in records held, and drops everything for a swapped-in index", () => {
    const index = bigIndex();
    const memo = new SubtreeMemo({ maxEntries: 2, maxRecords: 800 });
    const ctx = context(index, memo);
    for (const name of [ENT, "ns2.myfed.svc.example.com", "myfed.svc.example.com", "*.ns1.myfed.svc.example.com"]) {
      expect(ask(ctx, name).rcode).to.equal(RCODE.NOERROR);
      expect(memo.size).to.be.at.most(2);
      expect(memo.records).to.be.at.most(800);
    }
    // Cheap reads (one name's own records) are not kept.
    const before = memo.size;
    ask(ctx, "s1.ns1.myfed.svc.example.com");
    expect(memo.size).to.equal(before);
    const other = new RecordIndex({ prefix: "/skydns" });
    expect(memo.get(other, ENT, new LookupBudget())).to.equal(undefined);
    expect(memo.size).to.equal(0);
  });
});
