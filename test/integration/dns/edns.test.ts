// EDNS details seen by real clients: NSID only when asked (RFC 5001), Extended DNS Errors
// (RFC 8914), OPT in FORMERR/NOTIMP/REFUSED replies (RFC 6891 §7), NOTIMP copying RD only.
import { expect } from "chai";
import { TYPE } from "../../../src/dns/constants.ts";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { buildQuery, dig, indexWith, kdig, replyHeader, sendUdp } from "../../support/dns.ts";
import { describeEachUdpTransport } from "../../support/udp-transports.ts";

const NSID = "fedns-test-1";

/** The additional-section records of a reply, as (type, rdata) pairs. */
function additionalRecords(reply: Buffer): { type: number; ttl: number; rdata: Buffer }[] {
  const header = replyHeader(reply);
  let offset = 12;
  if (header.qdcount === 1) {
    while (reply[offset] !== 0) offset += reply[offset]! + 1;
    offset += 5;
  }
  const records: { type: number; ttl: number; rdata: Buffer }[] = [];
  for (let i = 0; i < header.ancount + header.nscount + header.arcount; i++) {
    while (reply[offset] !== 0 && (reply[offset]! & 0xc0) !== 0xc0) offset += reply[offset]! + 1;
    offset += reply[offset] === 0 ? 1 : 2;
    const type = reply.readUInt16BE(offset);
    const ttl = reply.readUInt32BE(offset + 4);
    const length = reply.readUInt16BE(offset + 8);
    if (i >= header.ancount + header.nscount) {
      records.push({ type, ttl, rdata: reply.subarray(offset + 10, offset + 10 + length) });
    }
    offset += 10 + length;
  }
  return records;
}

describeEachUdpTransport(
  "EDNS in replies: NSID, Extended DNS Errors, OPT on errors (dig/kdig)",
  function (udpTransport) {
    this.timeout(30_000);
    let server: DnsServer;

    before(async () => {
      const index = await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1", ttl: 30 } });
      server = await startDnsServer({
        udpTransport,
        index,
        zones: ["example.com"],
        listen: { host: "127.0.0.1", port: 0 },
        nsid: NSID,
      });
    });

    after(async () => {
      await server.close();
    });

    it("sends NSID only to queries that ask, also when the answer comes from the cache", async () => {
      for (let round = 0; round < 2; round++) {
        const asked = await dig(server.address, "web.example.com", "A", { extra: ["+nsid"] });
        expect(asked.raw).to.include(`("${NSID}")`);
        expect(asked.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
        const plain = await dig(server.address, "web.example.com", "A");
        expect(plain.raw).to.not.include("NSID");
        expect(plain.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
      }
      const viaKdig = await kdig(server.address, "web.example.com", "A", { extra: ["+nsid"] });
      expect(viaKdig.raw).to.match(new RegExp(`NSID: [0-9A-F]+ "${NSID}"`));
    });

    it("answers REFUSED with EDE 20 (Not Authoritative) in the OPT record", async () => {
      const refused = await dig(server.address, "example.org", "A");
      expect(refused.status).to.equal("REFUSED");
      expect(refused.raw).to.match(/EDE: 20 \(Not Authoritative\)/);
      const withoutEdns = await dig(server.address, "example.org", "A", { extra: ["+noedns"] });
      expect(withoutEdns.raw).to.not.include("EDE");
      expect(withoutEdns.raw).to.not.include("OPT PSEUDOSECTION");
    });

    it("echoes OPT in NOTIMP replies and copies RD only (not CD), as Knot does", async () => {
      const result = await dig(server.address, "example.com", "SOA", { extra: ["+opcode=2", "+rec", "+cdflag"] });
      expect(result.status).to.equal("NOTIMP");
      expect(result.flags).to.include("rd");
      expect(result.flags).to.not.include("cd");
      expect(result.raw).to.include("OPT PSEUDOSECTION");
      const nsid = await dig(server.address, "example.com", "SOA", { extra: ["+opcode=2", "+nsid"] });
      expect(nsid.raw).to.include(`("${NSID}")`);
    });

    it("echoes OPT in a FORMERR reply to a two-question query with a valid OPT", async () => {
      const query = buildQuery("example.com", TYPE.SOA, { ednsPayload: 1232, dnssecOk: true });
      // Duplicate the question: [header][q][q][opt], qdcount 2.
      const questionEnd = 12 + "example.com".length + 2 + 4;
      const twoQuestions = Buffer.concat([
        query.subarray(0, questionEnd),
        query.subarray(12, questionEnd),
        query.subarray(questionEnd),
      ]);
      twoQuestions.writeUInt16BE(2, 4);
      const reply = await sendUdp(server.address, twoQuestions);
      expect(reply).to.not.equal(undefined);
      expect(replyHeader(reply as Buffer).rcode).to.equal(1);
      const opt = additionalRecords(reply as Buffer).filter((record) => record.type === TYPE.OPT);
      expect(opt).to.have.length(1);
      expect(opt[0]?.ttl).to.equal(0x8000);
      const withoutOpt = await sendUdp(server.address, buildQuery("example.com", TYPE.SOA, { qclass: 1 }));
      expect(withoutOpt && additionalRecords(withoutOpt).filter((record) => record.type === TYPE.OPT)).to.have.length(
        0,
      );
    });
  },
);
