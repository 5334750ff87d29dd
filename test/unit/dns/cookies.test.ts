import { expect } from "chai";
import { addressBytes, inNetwork, parseNetwork } from "../../../src/dns/client-address.ts";
import { parseCookieSecret, ServerCookies } from "../../../src/dns/cookies.ts";
import { siphash24 } from "../../../src/dns/siphash.ts";

const hex = (text: string) => Buffer.from(text, "hex");

describe("SipHash-2-4", () => {
  it("matches the reference vectors (key 00..0f, message 00..n-1)", () => {
    const key = hex("000102030405060708090a0b0c0d0e0f");
    const vectors: [number, string][] = [
      [0, "310e0edd47db6f72"],
      [1, "fd67dc93c539f874"],
      [7, "37d1018bf50002ab"],
      [8, "6224939a79f5f593"],
      [15, "e545be4961ca29a1"],
      [63, "724506eb4c328a95"],
    ];
    for (const [length, expected] of vectors) {
      const message = Buffer.from(Array.from({ length }, (_, i) => i));
      expect(siphash24(key, message).toString("hex"), `${length} bytes`).to.equal(expected);
    }
  });
});

describe("server cookies (RFC 7873, RFC 9018)", () => {
  const secret = hex("e5e973e5a6b2a43f48e7dc849e37bfcf");
  const client = hex("2464c4abcf10c957");
  const address = addressBytes("198.51.100.100");
  // RFC 9018 Appendix A.1: this client, address, secret and time give this server cookie.
  const timestamp = 1559731985;
  const expected = "010000005cf79f111f8130c3eee29480";

  it("makes the RFC 9018 test vector's server cookie for a client cookie alone", () => {
    const cookies = new ServerCookies(secret, () => timestamp * 1000);
    const check = cookies.check(client, undefined, address);
    expect(check.status).to.equal("new");
    expect(check.reply.toString("hex")).to.equal(`2464c4abcf10c957${expected}`);
  });

  it("recognises its cookie for an hour, echoes it for half an hour, then renews it", () => {
    let now = timestamp * 1000;
    const cookies = new ServerCookies(secret, () => now);
    now += 60_000;
    expect(cookies.check(client, hex(expected), address)).to.deep.include({ status: "valid" });
    expect(cookies.check(client, hex(expected), address).reply.subarray(8).toString("hex")).to.equal(expected);
    now = (timestamp + 2000) * 1000;
    const renewed = cookies.check(client, hex(expected), address);
    expect(renewed.status).to.equal("valid");
    expect(renewed.reply.subarray(8).toString("hex")).to.not.equal(expected);
    expect(cookies.check(client, renewed.reply.subarray(8), address).status).to.equal("valid");
    now = (timestamp + 3601) * 1000;
    expect(cookies.check(client, hex(expected), address).status).to.equal("invalid");
  });

  it("rejects a cookie from another address, another client cookie, another secret, or the future", () => {
    const cookies = new ServerCookies(secret, () => timestamp * 1000);
    expect(cookies.check(client, hex(expected), addressBytes("198.51.100.101")).status).to.equal("invalid");
    expect(cookies.check(hex("2464c4abcf10c958"), hex(expected), address).status).to.equal("invalid");
    const other = new ServerCookies(hex("00000000000000000000000000000001"), () => timestamp * 1000);
    expect(other.check(client, hex(expected), address).status).to.equal("invalid");
    const early = new ServerCookies(secret, () => (timestamp - 301) * 1000);
    expect(early.check(client, hex(expected), address).status).to.equal("invalid");
    // A wrong-length or other-version server cookie is not ours either (answered with a new one).
    expect(cookies.check(client, hex(expected.slice(0, 16)), address).status).to.equal("invalid");
    const invalid = cookies.check(client, hex(`02${expected.slice(2)}`), address);
    expect(invalid.status).to.equal("invalid");
    expect(invalid.reply.subarray(8).toString("hex")).to.equal(expected);
  });

  it("reads the secret as 32 hex digits only", () => {
    expect(parseCookieSecret(" e5e973e5a6b2a43f48e7dc849e37bfcf\n")?.toString("hex")).to.equal(secret.toString("hex"));
    expect(parseCookieSecret("e5e973")).to.equal(undefined);
    expect(() => new ServerCookies(hex("00"))).to.throw(/16 bytes/);
  });
});

describe("client addresses", () => {
  it("reads IPv4, IPv6 and IPv4-mapped IPv6, and matches networks", () => {
    expect(Array.from(addressBytes("127.0.0.2"))).to.deep.equal([127, 0, 0, 2]);
    expect(Array.from(addressBytes("::ffff:10.1.2.3"))).to.deep.equal([10, 1, 2, 3]);
    expect(addressBytes("2001:db8::1")).to.have.length(16);
    expect(addressBytes("not an address")).to.have.length(0);
    expect(addressBytes("1.2.3.256")).to.have.length(0);
    expect(inNetwork(addressBytes("10.1.2.3"), parseNetwork("10.0.0.0/8"))).to.equal(true);
    expect(inNetwork(addressBytes("11.1.2.3"), parseNetwork("10.0.0.0/8"))).to.equal(false);
    expect(inNetwork(addressBytes("127.0.0.3"), parseNetwork("127.0.0.2/31"))).to.equal(true);
    expect(inNetwork(addressBytes("127.0.0.4"), parseNetwork("127.0.0.2/31"))).to.equal(false);
    expect(inNetwork(addressBytes("2001:db8::5"), parseNetwork("2001:db8::/32"))).to.equal(true);
    expect(inNetwork(addressBytes("10.1.2.3"), parseNetwork("2001:db8::/32"))).to.equal(false);
    expect(inNetwork(addressBytes("192.0.2.1"), parseNetwork("192.0.2.1"))).to.equal(true);
  });
});
