// TSIG (RFC 8945) on its own: request verification with each error, reply signing chained over a
// multi-message stream, and the handler's answers to signed queries. Interoperability with another
// implementation (kdig signs and verifies) is in test/integration/xfr.
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import {
  findTsig,
  loadKey,
  parseTsig,
  ReplySigner,
  signRequest,
  TSIG_ERROR,
  type TsigKey,
  TsigKeyring,
  verifyReply,
  verifyRequest,
} from "../../../src/dns/tsig.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { buildQuery, indexWith, replyHeader } from "../../support/dns.ts";

const KEY: TsigKey = { name: "xfr.example", algorithm: "hmac-sha256", secret: Buffer.alloc(32, 7) };
const NOW = 1_800_000_000;

function signed(key: TsigKey = KEY, now = NOW): { bytes: Buffer; mac: Buffer } {
  return signRequest(buildQuery("example.com", 6), key, now);
}

describe("TSIG", () => {
  const keys = new TsigKeyring([KEY]);

  it("verifies a request signed with a known key", () => {
    const request = signed();
    const start = findTsig(request.bytes);
    expect(start).to.be.a("number");
    const verified = verifyRequest(request.bytes, start!, keys, NOW + 10);
    expect(verified.ok).to.equal(true);
  });

  it("BADKEY for an unknown key or another algorithm, BADSIG for a wrong secret", () => {
    const unknown = signed({ ...KEY, name: "other" });
    const result = verifyRequest(unknown.bytes, findTsig(unknown.bytes)!, keys, NOW);
    expect(result).to.include({ ok: false, error: TSIG_ERROR.BADKEY });
    const algorithm = signed({ ...KEY, algorithm: "hmac-sha512" });
    expect(verifyRequest(algorithm.bytes, findTsig(algorithm.bytes)!, keys, NOW)).to.include({
      error: TSIG_ERROR.BADKEY,
    });
    const wrong = signed({ ...KEY, secret: Buffer.alloc(32, 8) });
    expect(verifyRequest(wrong.bytes, findTsig(wrong.bytes)!, keys, NOW)).to.include({ error: TSIG_ERROR.BADSIG });
  });

  it("BADSIG when a signed byte changes", () => {
    const request = signed().bytes;
    request[13] = request[13]! ^ 1;
    expect(verifyRequest(request, findTsig(request)!, keys, NOW)).to.include({ error: TSIG_ERROR.BADSIG });
  });

  it("BADTIME outside the fudge (300 s), with a key to sign the error reply", () => {
    const request = signed();
    const result = verifyRequest(request.bytes, findTsig(request.bytes)!, keys, NOW + 301);
    expect(result).to.include({ ok: false, error: TSIG_ERROR.BADTIME });
    expect(verifyRequest(request.bytes, findTsig(request.bytes)!, keys, NOW + 300).ok).to.equal(true);
  });

  it("BADTRUNC for a truncated MAC, FORMERR for one shorter than half the hash", () => {
    const request = signed().bytes;
    const tsig = parseTsig(request, findTsig(request)!)!;
    const truncate = (length: number): Buffer => {
      // Rebuild the record with the first `length` bytes of the real MAC.
      const macAt = request.indexOf(tsig.mac);
      const out = Buffer.concat([
        request.subarray(0, macAt - 2),
        Buffer.from([0, length]),
        tsig.mac.subarray(0, length),
        request.subarray(macAt + tsig.mac.length),
      ]);
      const rdlengthAt = tsig.start + 1 + "xfr.example".length + 1 + 8;
      out.writeUInt16BE(out.readUInt16BE(rdlengthAt) - (tsig.mac.length - length), rdlengthAt);
      return out;
    };
    expect(verifyRequest(truncate(20), tsig.start, keys, NOW)).to.include({ error: TSIG_ERROR.BADTRUNC });
    expect(verifyRequest(truncate(8), tsig.start, keys, NOW)).to.deep.equal({ ok: false, error: "formerr" });
  });

  it("chains the MACs of a multi-message reply (RFC 8945 §5.3.1)", () => {
    const request = signed();
    const tsig = parseTsig(request.bytes, findTsig(request.bytes)!)!;
    const signer = new ReplySigner(KEY, tsig, () => NOW);
    const first = buildQuery("example.com", 252);
    first[2] = 0x84;
    const second = Buffer.from(first);
    const one = signer.sign(first);
    const two = signer.sign(second);
    // The first reply covers the request MAC and all variables: verifyReply checks exactly that.
    expect(verifyReply(one, KEY, request.mac, NOW)).to.equal(true);
    // The second covers the first's MAC, the message and the timers only.
    const oneMac = parseTsig(one, findTsig(one)!)!.mac;
    const twoTsig = parseTsig(two, findTsig(two)!)!;
    const timers = Buffer.alloc(8);
    timers.writeUIntBE(NOW, 0, 6);
    timers.writeUInt16BE(300, 6);
    const expected = createHmac("sha256", KEY.secret)
      .update(Buffer.from([0, oneMac.length]))
      .update(oneMac)
      .update(second)
      .update(timers)
      .digest();
    expect(twoTsig.mac.equals(expected)).to.equal(true);
    expect(verifyReply(two, KEY, request.mac, NOW)).to.equal(false);
  });

  it("loads a base64 secret from a file and never shows it", () => {
    const dir = mkdtempSync(join(tmpdir(), "fedns-tsig-"));
    const file = join(dir, "key");
    writeFileSync(file, `${Buffer.alloc(32, 9).toString("base64")}\n`);
    const key = loadKey("XFR.example.", "hmac-sha384", file);
    expect(key.name).to.equal("xfr.example");
    expect(key.secret.equals(Buffer.alloc(32, 9))).to.equal(true);
    expect(JSON.stringify(new TsigKeyring([key]))).to.not.contain(key.secret.toString("base64"));
    writeFileSync(file, "not base64!");
    expect(() => loadKey("k", "hmac-sha256", file))
      .to.throw(/must hold one base64 secret/)
      .and.not.match(/not base64/);
  });

  describe("signed queries through the handler", () => {
    let handler: QueryHandler;
    before(async () => {
      const index = await indexWith({ "/skydns/com/example/www": { host: "10.0.0.1" } });
      handler = new QueryHandler({
        index,
        zones: new ZoneSet(resolveZones(["example.com"])),
        udpPayloadSize: 1232,
        metrics: new DnsMetrics(),
        tsig: keys,
        nowSeconds: () => NOW,
      });
    });

    it("answers a signed query with a signed reply", () => {
      const request = signRequest(buildQuery("www.example.com", 1), KEY, NOW);
      const reply = handler.handle(request.bytes, "udp")!;
      expect(replyHeader(reply)).to.include({ rcode: 0, ancount: 1, arcount: 1 });
      expect(verifyReply(reply, KEY, request.mac, NOW)).to.equal(true);
    });

    it("NOTAUTH/BADKEY, unsigned, for a key it does not know", () => {
      const request = signRequest(buildQuery("www.example.com", 1), { ...KEY, name: "stranger" }, NOW);
      const reply = handler.handle(request.bytes, "udp")!;
      expect(replyHeader(reply)).to.include({ rcode: 9, ancount: 0, arcount: 1 });
      const tsig = parseTsig(reply, findTsig(reply)!)!;
      expect(tsig).to.include({ error: TSIG_ERROR.BADKEY, keyName: "stranger" });
      expect(tsig.mac.length).to.equal(0);
    });

    it("NOTAUTH/BADTIME signed, with our time in the other data", () => {
      const request = signRequest(buildQuery("www.example.com", 1), KEY, NOW - 1000);
      const reply = handler.handle(request.bytes, "udp")!;
      expect(replyHeader(reply).rcode).to.equal(9);
      const tsig = parseTsig(reply, findTsig(reply)!)!;
      expect(tsig.error).to.equal(TSIG_ERROR.BADTIME);
      expect(tsig.other.readUIntBE(0, 6)).to.equal(NOW);
      expect(tsig.mac.length).to.equal(32);
    });

    it("FORMERR for a TSIG that is not the last record", () => {
      const request = signRequest(buildQuery("www.example.com", 1, { ednsPayload: 1232 }), KEY, NOW).bytes;
      // Move the OPT record after the TSIG record.
      const tsigAt = findTsig(request)!;
      const optAt = tsigAt - 11;
      const reordered = Buffer.concat([
        request.subarray(0, optAt),
        request.subarray(tsigAt),
        request.subarray(optAt, tsigAt),
      ]);
      const reply = handler.handle(reordered, "udp")!;
      expect(replyHeader(reply).rcode).to.equal(1);
    });
  });
});
