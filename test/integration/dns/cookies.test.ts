// DNS cookies with a real client: dig +cookie learns our server cookie, echoing it is recognised,
// a wrong one is answered normally with a fresh cookie, a malformed COOKIE option is FORMERR.
import { expect } from "chai";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import { dig, indexWith } from "../../support/dns.ts";
import { describeEachUdpTransport } from "../../support/udp-transports.ts";

/** The COOKIE dig printed (client + server cookie, hex), if any. */
function cookieOf(raw: string): string | undefined {
  return /; COOKIE: ([0-9a-f]+)/.exec(raw)?.[1];
}

async function cookieCounts(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric("fedns_dns_cookies_total")?.get();
  const counts: Record<string, number> = {};
  for (const value of metric?.values ?? []) counts[String(value.labels.status)] = value.value;
  return counts;
}

describeEachUdpTransport("DNS cookies (dig +cookie)", function (udpTransport) {
  this.timeout(30_000);
  let server: DnsServer;
  let registry: Registry;
  const clientCookie = "0102030405060708";

  before(async () => {
    const index = await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1", ttl: 30 } });
    registry = new Registry();
    server = await startDnsServer({
      udpTransport,
      index,
      zones: ["example.com"],
      listen: { host: "127.0.0.1", port: 0 },
      cookieSecret: Buffer.from("000102030405060708090a0b0c0d0e0f", "hex"),
      registry,
    });
  });

  after(async () => {
    await server.close();
  });

  it("answers a client cookie with a server cookie, and recognises it when echoed", async () => {
    const first = await dig(server.address, "web.example.com", "A", { extra: [`+cookie=${clientCookie}`] });
    expect(first.status).to.equal("NOERROR");
    const learned = cookieOf(first.raw);
    expect(learned, first.raw).to.match(/^0102030405060708[0-9a-f]{32}$/);
    expect(first.raw).to.include("(good)");
    const before = await cookieCounts(registry);
    const second = await dig(server.address, "web.example.com", "A", { extra: [`+cookie=${learned}`] });
    expect(second.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
    expect(cookieOf(second.raw)).to.equal(learned);
    const after = await cookieCounts(registry);
    expect((after.valid ?? 0) - (before.valid ?? 0)).to.equal(1);
  });

  it("answers a wrong server cookie normally, with a new server cookie, and counts it invalid", async () => {
    const wrong = `${clientCookie}01000000${"ab".repeat(12)}`;
    const before = await cookieCounts(registry);
    const result = await dig(server.address, "web.example.com", "A", { extra: [`+cookie=${wrong}`] });
    expect(result.status).to.equal("NOERROR");
    expect(result.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
    const fresh = cookieOf(result.raw);
    expect(fresh).to.match(/^0102030405060708[0-9a-f]{32}$/);
    expect(fresh).to.not.equal(wrong);
    const after = await cookieCounts(registry);
    expect((after.invalid ?? 0) - (before.invalid ?? 0)).to.equal(1);
    // dig's default: a random client cookie, which dig then checks is echoed.
    const plain = await dig(server.address, "web.example.com", "A", { extra: ["+cookie"] });
    expect(plain.raw).to.include("(good)");
  });

  it("answers FORMERR, with OPT, to a COOKIE option of a bad length", async () => {
    const result = await dig(server.address, "web.example.com", "A", { extra: ["+ednsopt=10:01020304"] });
    expect(result.status).to.equal("FORMERR");
    expect(result.raw).to.include("OPT PSEUDOSECTION");
  });
});
