import { expect } from "chai";
import { EDNS_OPTION, RCODE, TYPE } from "../../../src/dns/constants.ts";
import { encodeWithDns2 } from "../../../src/dns/dns2-codec.ts";
import { appendOptions, extendedErrorOption, option } from "../../../src/dns/edns.ts";
import { encodeResponse } from "../../../src/dns/encode.ts";
import type { DnsResponse, ReplyTo } from "../../../src/dns/message.ts";
import { parseQuery } from "../../../src/dns/query.ts";
import { buildQuery, replyHeader } from "../../support/dns.ts";
import { checkWire } from "./wire.ts";

const reply: ReplyTo = {
  id: 5,
  opcode: 0,
  recursionDesired: false,
  checkingDisabled: false,
  questionWire: buildQuery("web.example.com", TYPE.A).subarray(12),
  questionLabels: ["web", "example", "com"],
  questionPlain: true,
  qtype: TYPE.A,
  qclass: 1,
};

function response(extendedError?: DnsResponse["extendedError"]): DnsResponse {
  return {
    rcode: RCODE.NOERROR,
    authoritative: true,
    echoQuestion: true,
    answer: [{ name: "web.example.com", ttl: 5, data: { type: TYPE.A, address: "192.0.2.1" } }],
    authority: [],
    additional: [],
    edns: { payloadSize: 1232, dnssecOk: false },
    ...(extendedError === undefined ? {} : { extendedError }),
  };
}

/** A query with an OPT record holding the given options. */
function queryWithOptions(...options: Buffer[]): Buffer {
  const query = buildQuery("web.example.com", TYPE.A, { ednsPayload: 1232 });
  const data = Buffer.concat(options);
  query.writeUInt16BE(data.length, query.length - 2);
  return Buffer.concat([query, data]);
}

describe("EDNS options", () => {
  it("encodes an Extended DNS Error the same way in both encoders, inside the OPT record", () => {
    const withError = response({ code: 0, text: "answer cut at the budget" });
    const fast = encodeResponse(reply, withError, 1232).bytes;
    expect(fast.toString("hex")).to.equal(encodeWithDns2(reply, withError, 1232).bytes.toString("hex"));
    const opt = checkWire(fast).additional.find((record) => record.type === TYPE.OPT);
    expect(opt?.rdata.toString("hex")).to.equal(
      extendedErrorOption({ code: 0, text: "answer cut at the budget" }).toString("hex"),
    );
    expect(opt?.rdata.readUInt16BE(0)).to.equal(EDNS_OPTION.EXTENDED_ERROR);
    // Without an OPT record (the query had no EDNS) there is nowhere to put it.
    const noEdns = { ...withError, edns: undefined };
    expect(encodeResponse(reply, noEdns, 512).bytes.length).to.equal(
      encodeResponse(reply, response(), 512).bytes.length - 11,
    );
  });

  it("appends per-query options to the OPT record of an encoded reply", () => {
    const template = encodeResponse(reply, response({ code: 20, text: "" }), 1232).bytes;
    const nsid = option(EDNS_OPTION.NSID, Buffer.from("ns-1"));
    const out = appendOptions(template, nsid);
    expect(out.length).to.equal(template.length + nsid.length);
    const opt = checkWire(out).additional.find((record) => record.type === TYPE.OPT);
    expect(opt?.rdata.toString("hex")).to.equal(
      Buffer.concat([extendedErrorOption({ code: 20, text: "" }), nsid]).toString("hex"),
    );
    expect(replyHeader(out).arcount).to.equal(1);
    // No OPT record: nothing to append to, the reply is left alone.
    const plain = encodeResponse(reply, { ...response(), edns: undefined }, 512).bytes;
    expect(appendOptions(plain, nsid)).to.equal(plain);
  });

  it("reads NSID and COOKIE options from queries, and rejects a cookie of a bad length with OPT kept", () => {
    const client = Buffer.from("0102030405060708", "hex");
    const server = Buffer.from("01000000aabbccdd1122334455667788", "hex");
    const parsed = parseQuery(queryWithOptions(option(EDNS_OPTION.NSID, Buffer.alloc(0)), option(10, client)));
    expect(parsed.ok && parsed.query.edns?.nsid).to.equal(true);
    const cookie = parsed.ok ? parsed.query.edns?.cookie : undefined;
    expect(cookie !== undefined && cookie !== "malformed" && cookie.client.toString("hex")).to.equal(
      client.toString("hex"),
    );
    const both = parseQuery(queryWithOptions(option(10, Buffer.concat([client, server]))));
    const pair = both.ok ? both.query.edns?.cookie : undefined;
    expect(pair !== undefined && pair !== "malformed" && pair.server?.toString("hex")).to.equal(server.toString("hex"));
    for (const length of [0, 7, 9, 15, 41]) {
      const bad = parseQuery(queryWithOptions(option(10, Buffer.alloc(length))));
      expect(bad.ok, `cookie of ${length} bytes`).to.equal(false);
      if (bad.ok) continue;
      expect(bad.rejected.action).to.equal("formerr");
      expect(bad.rejected.edns?.payloadSize).to.equal(1232);
    }
  });

  it("keeps a valid OPT for NOTIMP and FORMERR replies but not a malformed one", () => {
    const notimp = parseQuery(buildQuery("web.example.com", TYPE.A, { opcode: 2, ednsPayload: 4096 }));
    expect(!notimp.ok && notimp.rejected.action === "notimp" && notimp.rejected.edns?.payloadSize).to.equal(4096);
    const badOptions = buildQuery("web.example.com", TYPE.A, { opcode: 2, ednsPayload: 4096 });
    badOptions.writeUInt16BE(3, badOptions.length - 2);
    const malformed = parseQuery(Buffer.concat([badOptions, Buffer.from([0, 3, 0])]));
    expect(!malformed.ok && malformed.rejected.edns).to.equal(undefined);
  });
});
