import { expect } from "chai";
import { TYPE } from "../../../src/dns/constants.ts";
import { lookupNameOf, parseQuery, questionLabels } from "../../../src/dns/query.ts";
import { buildQuery } from "../../support/dns.ts";

function rejected(packet: Buffer): { action: string; reason: string } {
  const result = parseQuery(packet);
  if (result.ok) throw new Error("expected a rejection");
  return result.rejected;
}

describe("parseQuery()", () => {
  it("reads a plain query and one with EDNS", () => {
    const plain = parseQuery(buildQuery("Web.Example.com", TYPE.AAAA, { id: 77, recursionDesired: true }));
    expect(plain.ok).to.equal(true);
    if (!plain.ok) return;
    expect(plain.query).to.include({ id: 77, opcode: 0, recursionDesired: true, qtype: TYPE.AAAA, qclass: 1 });
    expect(plain.query.edns).to.equal(undefined);
    expect(questionLabels(plain.query.packet, plain.query.qnameEnd)).to.deep.equal(["Web", "Example", "com"]);
    const edns = parseQuery(buildQuery("a.example.com", TYPE.A, { ednsPayload: 4096, ednsVersion: 1, dnssecOk: true }));
    expect(edns.ok && edns.query.edns).to.deep.equal({ payloadSize: 4096, version: 1, dnssecOk: true });
  });

  it("drops packets without a full header and responses", () => {
    expect(rejected(Buffer.alloc(11)).action).to.equal("drop");
    const response = buildQuery("a.example.com", TYPE.A);
    response[2] = 0x80;
    expect(rejected(response).action).to.equal("drop");
  });

  it("answers NOTIMP for other opcodes and FORMERR for bad shapes", () => {
    expect(rejected(buildQuery("a.example.com", TYPE.A, { opcode: 2 })).action).to.equal("notimp");
    const twoQuestions = buildQuery("a.example.com", TYPE.A);
    twoQuestions.writeUInt16BE(2, 4);
    expect(rejected(twoQuestions).action).to.equal("formerr");
    const noQuestion = buildQuery("a.example.com", TYPE.A).subarray(0, 12);
    noQuestion.writeUInt16BE(0, 4);
    expect(rejected(Buffer.from(noQuestion)).action).to.equal("formerr");
    expect(rejected(buildQuery("a.example.com", TYPE.A).subarray(0, 20)).action).to.equal("formerr");
    const pointer = Buffer.concat([buildQuery("", TYPE.A).subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(rejected(pointer).action).to.equal("formerr");
    const hugeCounts = buildQuery("a.example.com", TYPE.A);
    hugeCounts.writeUInt16BE(0xffff, 10);
    expect(rejected(hugeCounts).action).to.equal("formerr");
    const longLabel = Buffer.concat([
      buildQuery("", TYPE.A).subarray(0, 12),
      Buffer.from([64]),
      Buffer.alloc(64, 97),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    expect(rejected(longLabel).action).to.equal("formerr");
    const tooLong = buildQuery(Array.from({ length: 5 }, () => "a".repeat(60)).join("."), TYPE.A);
    expect(rejected(tooLong).action).to.equal("formerr");
  });

  it("rejects two OPT records and OPT with a non-root owner", () => {
    const once = buildQuery("a.example.com", TYPE.A, { ednsPayload: 1232 });
    const opt = once.subarray(once.length - 11);
    const twice = Buffer.concat([once, opt]);
    twice.writeUInt16BE(2, 10);
    expect(rejected(twice).reason).to.match(/more than one OPT/);
    const named = Buffer.concat([buildQuery("a.example.com", TYPE.A), Buffer.from([1, 97, 0]), opt.subarray(1)]);
    named.writeUInt16BE(1, 10);
    expect(rejected(named).reason).to.match(/OPT owner/);
  });

  it("maps only plain labels to a lookup name", () => {
    expect(lookupNameOf(["WeB", "example", "com"])).to.equal("web.example.com");
    expect(lookupNameOf(["*", "example", "com"])).to.equal("*.example.com");
    expect(lookupNameOf(["a.b", "example", "com"])).to.equal(undefined);
    expect(lookupNameOf(["a\u0000", "com"])).to.equal(undefined);
  });
});

describe("parseQuery(): EDNS Client Subnet (RFC 7871)", () => {
  /** A query with an OPT record carrying the given option TLVs. */
  function withOptions(...options: Buffer[]): Buffer {
    const query = buildQuery("web.default.myfed.svc.cluster.local", TYPE.A, { ednsPayload: 1232 });
    const data = Buffer.concat(options);
    const out = Buffer.concat([query, data]);
    out.writeUInt16BE(data.length, query.length - 2);
    return out;
  }
  const ecs = (family: number, source: number, scope: number, address: number[]) => {
    const body = Buffer.from([family >> 8, family & 0xff, source, scope, ...address]);
    const head = Buffer.alloc(4);
    head.writeUInt16BE(8, 0);
    head.writeUInt16BE(body.length, 2);
    return Buffer.concat([head, body]);
  };

  it("reads family, prefixes and the address padded to its family's size", () => {
    const parsed = parseQuery(withOptions(ecs(1, 24, 0, [127, 1, 2])));
    expect(parsed.ok).to.equal(true);
    if (!parsed.ok) return;
    const subnet = parsed.query.edns?.clientSubnet;
    expect(subnet).to.deep.include({ family: 1, sourcePrefix: 24, scopePrefix: 0 });
    expect([...(subnet as { address: Uint8Array }).address]).to.deep.equal([127, 1, 2, 0]);
    const v6 = parseQuery(withOptions(ecs(2, 56, 0, [0xfd, 0, 0, 0, 0, 0, 1])));
    const v6Subnet = v6.ok ? (v6.query.edns?.clientSubnet as { address: Uint8Array } | undefined) : undefined;
    expect(v6Subnet?.address.length).to.equal(16);
    const zero = parseQuery(withOptions(ecs(1, 0, 0, [])));
    expect(zero.ok && zero.query.edns?.clientSubnet).to.deep.include({ sourcePrefix: 0 });
  });

  it("answers FORMERR to a malformed option or two of them (§7.1.1)", () => {
    for (const [what, option] of [
      ["bits set past the source prefix", ecs(1, 24, 0, [127, 1, 2, 7])],
      ["host bits in the last byte", ecs(1, 23, 0, [127, 1, 3])],
      ["unknown family", ecs(3, 8, 0, [1])],
      ["source prefix past the family", ecs(1, 33, 0, [1, 2, 3, 4, 5])],
      ["address too short for the prefix", ecs(1, 24, 0, [127, 1])],
      ["too short to hold the header", Buffer.from([0, 8, 0, 2, 0, 1])],
    ] as const) {
      const result = rejected(withOptions(option));
      expect(result.action, what).to.equal("formerr");
      expect(result.reason, what).to.match(/Client Subnet/);
    }
    expect(rejected(withOptions(ecs(1, 8, 0, [127]), ecs(1, 8, 0, [127]))).action).to.equal("formerr");
  });
});
