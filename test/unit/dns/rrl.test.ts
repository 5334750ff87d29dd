import { expect } from "chai";
import { addressBytes, parseNetwork } from "../../../src/dns/client-address.ts";
import { RCODE, TYPE } from "../../../src/dns/constants.ts";
import { encodeResponse } from "../../../src/dns/encode.ts";
import { classifyReply } from "../../../src/dns/handler.ts";
import type { DnsResponse, ReplyTo } from "../../../src/dns/message.ts";
import {
  RESPONSE_CLASS,
  ResponseRateLimiter,
  RRL_DEFAULTS,
  type RrlDecision,
  type RrlOptions,
} from "../../../src/dns/rrl.ts";
import { buildQuery } from "../../support/dns.ts";

function limiter(options: Partial<RrlOptions>): { rrl: ResponseRateLimiter; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  return { rrl: new ResponseRateLimiter({ ...RRL_DEFAULTS, ...options }, () => clock.now), clock };
}

function decisions(rrl: ResponseRateLimiter, source: string, count: number, name = "web.example.com"): RrlDecision[] {
  return Array.from({ length: count }, () => rrl.decide(addressBytes(source), RESPONSE_CLASS.ANSWER, name));
}

describe("ResponseRateLimiter", () => {
  it("passes a bucket's rate per second, then drops and slips every slip-th, refilling with time", () => {
    const { rrl, clock } = limiter({ responsesPerSecond: 5, slip: 2 });
    expect(decisions(rrl, "192.0.2.1", 9)).to.deep.equal([
      "pass",
      "pass",
      "pass",
      "pass",
      "pass",
      "drop",
      "slip",
      "drop",
      "slip",
    ]);
    clock.now += 400;
    expect(decisions(rrl, "192.0.2.1", 3)).to.deep.equal(["pass", "pass", "drop"]);
    clock.now += 10_000;
    expect(decisions(rrl, "192.0.2.1", 6).filter((d) => d === "pass")).to.have.length(5);
  });

  it("slip 1 truncates every limited reply and slip 0 drops them all", () => {
    const one = limiter({ responsesPerSecond: 1, slip: 1 }).rrl;
    expect(decisions(one, "192.0.2.1", 4)).to.deep.equal(["pass", "slip", "slip", "slip"]);
    const zero = limiter({ responsesPerSecond: 1, slip: 0 }).rrl;
    expect(decisions(zero, "192.0.2.1", 4)).to.deep.equal(["pass", "drop", "drop", "drop"]);
  });

  it("shares a bucket within a /24 (IPv4) or /56 (IPv6), not across networks, classes or names", () => {
    const { rrl } = limiter({ responsesPerSecond: 2, slip: 0 });
    expect(decisions(rrl, "192.0.2.1", 2)).to.deep.equal(["pass", "pass"]);
    expect(decisions(rrl, "192.0.2.200", 1)).to.deep.equal(["drop"]);
    expect(decisions(rrl, "192.0.3.1", 1)).to.deep.equal(["pass"]);
    expect(decisions(rrl, "192.0.2.1", 1, "other.example.com")).to.deep.equal(["pass"]);
    expect(rrl.decide(addressBytes("192.0.2.1"), RESPONSE_CLASS.NXDOMAIN, "web.example.com")).to.equal("pass");
    expect(decisions(rrl, "2001:db8:0:1::1", 2)).to.deep.equal(["pass", "pass"]);
    expect(decisions(rrl, "2001:db8:0:ff::2", 1)).to.deep.equal(["drop"]);
    expect(decisions(rrl, "2001:db8:0:100::1", 1)).to.deep.equal(["pass"]);
  });

  it("keeps its table at a fixed size and a hot bucket limited under a flood of new keys", () => {
    const { rrl, clock } = limiter({ responsesPerSecond: 1, slip: 0, tableSize: 1024 });
    expect(decisions(rrl, "192.0.2.1", 2)).to.deep.equal(["pass", "drop"]);
    // The table's hash key is random per process: now and then a new key lands in the hot bucket's probe
    // window when it is the least recently used there and takes its slot over (it then starts afresh with
    // one token). That must stay rare: the hot source stays limited almost always.
    let hotPassed = 0;
    for (let i = 0; i < 50_000; i++) {
      rrl.decide(addressBytes(`10.${(i >> 8) & 0xff}.${i & 0xff}.1`), RESPONSE_CLASS.ANSWER, `n${i}.example.com`);
      if (i % 100 === 0) {
        clock.now += 1;
        if (rrl.decide(addressBytes("192.0.2.1"), RESPONSE_CLASS.ANSWER, "web.example.com") === "pass") hotPassed++;
      }
    }
    expect(hotPassed).to.be.at.most(10); // of 500 asks; without the limit all 500 pass
    expect(rrl.evictions).to.be.greaterThan(40_000);
  });

  it("knows its exempt networks", () => {
    const { rrl } = limiter({ exempt: [parseNetwork("10.0.0.0/8"), parseNetwork("2001:db8::/32")] });
    expect(rrl.exempt(addressBytes("10.9.8.7"))).to.equal(true);
    expect(rrl.exempt(addressBytes("2001:db8::1"))).to.equal(true);
    expect(rrl.exempt(addressBytes("192.0.2.1"))).to.equal(false);
  });
});

describe("classifyReply()", () => {
  const reply: ReplyTo = {
    id: 1,
    opcode: 0,
    recursionDesired: false,
    checkingDisabled: false,
    questionWire: buildQuery("web.example.com", TYPE.A).subarray(12),
    questionLabels: ["web", "example", "com"],
    questionPlain: true,
    qtype: TYPE.A,
    qclass: 1,
  };
  const encoded = (rcode: number, answers: number) => {
    const response: DnsResponse = {
      rcode,
      authoritative: true,
      echoQuestion: true,
      answer: Array.from({ length: answers }, () => ({
        name: "web.example.com",
        ttl: 5,
        data: { type: TYPE.A, address: "192.0.2.1" } as const,
      })),
      authority: [],
      additional: [],
      edns: undefined,
    };
    return encodeResponse(reply, response, 512).bytes;
  };

  it("tells answers, NODATA, NXDOMAIN and errors apart from the header", () => {
    expect(classifyReply(encoded(RCODE.NOERROR, 1))).to.equal(RESPONSE_CLASS.ANSWER);
    expect(classifyReply(encoded(RCODE.NOERROR, 0))).to.equal(RESPONSE_CLASS.NODATA);
    expect(classifyReply(encoded(RCODE.NXDOMAIN, 0))).to.equal(RESPONSE_CLASS.NXDOMAIN);
    expect(classifyReply(encoded(RCODE.REFUSED, 0))).to.equal(RESPONSE_CLASS.ERROR);
  });
});
