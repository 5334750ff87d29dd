// Response-rate limiting seen by real clients, from several loopback source addresses: a flood
// from one address is cut to the rate with the slipped replies truncated (dig then retries over
// TCP and gets the answer), an exempt network and a client echoing a valid server cookie are never
// limited, and a client with a wrong cookie is sent BADCOOKIE instead of a slip.
import { createSocket } from "node:dgram";
import { expect } from "chai";
import { parseNetwork } from "../../../src/dns/client-address.ts";
import { TYPE } from "../../../src/dns/constants.ts";
import { RRL_DEFAULTS } from "../../../src/dns/rrl.ts";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import { buildQuery, type DigResult, dig, indexWith, replyHeader } from "../../support/dns.ts";
import { describeEachUdpTransport } from "../../support/udp-transports.ts";

const RATE = 5;

/** Sends `count` queries from `source` back to back; counts full answers, truncated replies and silence. */
async function flood(
  server: { host: string; port: number },
  source: string,
  count: number,
  cookieHex?: string,
): Promise<{ answered: number; truncated: number; silent: number; badCookie: number }> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, source, resolve));
  const replies = new Map<number, Buffer>();
  socket.on("message", (message) => replies.set(message.readUInt16BE(0), message));
  for (let id = 1; id <= count; id++) {
    socket.send(
      withCookie(buildQuery("web.example.com", TYPE.A, { id, ednsPayload: 1232 }), cookieHex),
      server.port,
      server.host,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  socket.close();
  let answered = 0;
  let truncated = 0;
  let badCookie = 0;
  for (const reply of replies.values()) {
    const header = replyHeader(reply);
    // BADCOOKIE is 23: 7 in the header, the high bits (1) in the OPT record's TTL.
    if (header.rcode === 7 && header.ancount === 0) badCookie++;
    else if (header.tc && header.ancount === 0) truncated++;
    else if (header.ancount > 0) answered++;
  }
  return { answered, truncated, silent: count - replies.size, badCookie };
}

/**
 * Keeps sending queries from `source` (about 250 a second, 50 times the rate) until stopped: the source's
 * bucket stays empty. Not more: a flood that fills the server's socket buffer on a busy machine would drop
 * dig's own query before the limiter sees it.
 */
async function keepFlooding(server: { host: string; port: number }, source: string): Promise<() => void> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, source, resolve));
  let id = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) {
      id = (id + 1) & 0xffff;
      socket.send(buildQuery("web.example.com", TYPE.A, { id, ednsPayload: 1232 }), server.port, server.host);
    }
  }, 20);
  return () => {
    clearInterval(timer);
    socket.close();
  };
}

/** The query with a COOKIE option (hex: client cookie, optionally followed by a server cookie) in its OPT. */
function withCookie(query: Buffer, cookieHex: string | undefined): Buffer {
  if (cookieHex === undefined) return query;
  const cookie = Buffer.from(cookieHex, "hex");
  const option = Buffer.alloc(4);
  option.writeUInt16BE(10, 0);
  option.writeUInt16BE(cookie.length, 2);
  const out = Buffer.concat([query, option, cookie]);
  out.writeUInt16BE(option.length + cookie.length, query.length - 2);
  return out;
}

/** dig, with a dropped reply (dig times out) as status "TIMEOUT". */
async function digOrSilence(server: { host: string; port: number }, extra: string[]): Promise<DigResult | "TIMEOUT"> {
  try {
    return await dig(server, "web.example.com", "A", { extra: [...extra, "+time=1"] });
  } catch {
    return "TIMEOUT";
  }
}

describeEachUdpTransport("response-rate limiting (dig, several source addresses)", function (udpTransport) {
  this.timeout(60_000);
  let server: DnsServer;
  let registry: Registry;

  before(async () => {
    const index = await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1", ttl: 30 } });
    registry = new Registry();
    server = await startDnsServer({
      udpTransport,
      index,
      zones: ["example.com"],
      listen: { host: "127.0.0.1", port: 0 },
      cookieSecret: Buffer.from("000102030405060708090a0b0c0d0e0f", "hex"),
      rrl: {
        ...RRL_DEFAULTS,
        responsesPerSecond: RATE,
        slip: 2,
        // One bucket per address here, so each test's source starts afresh.
        ipv4PrefixLength: 32,
        exempt: [parseNetwork("127.0.0.3/32")],
      },
      registry,
    });
  });

  after(async () => {
    await server.close();
  });

  it("cuts a flood from one address to the rate, dropping most and truncating every second one", async () => {
    const result = await flood(server.address, "127.0.0.2", 60);
    // The bucket holds one second's worth, and refills while the flood runs.
    expect(result.answered)
      .to.be.at.least(RATE)
      .and.at.most(RATE + 3);
    expect(result.truncated).to.be.greaterThan(20);
    expect(result.silent).to.be.greaterThan(20);
    const metric = await registry.getSingleMetric("fedns_dns_rrl_limited_total")?.get();
    const actions = Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.action), v.value]));
    expect(actions.dropped).to.be.greaterThan(20);
    expect(actions.slipped).to.be.greaterThan(20);
  });

  it("gives dig a truncated reply while limited, and dig's TCP retry gets the answer", async () => {
    // A flood from the same address runs alongside, so the bucket is empty whenever dig's query comes,
    // however slowly a busy machine starts dig; about every second limited reply is slipped.
    const stopFlood = await keepFlooding(server.address, "127.0.0.5");
    // Each limited reply is slipped or dropped by the bucket's count, so each try is a coin toss: 20 tries
    // all dropped is one in a million. What each try got is in the message if none was slipped.
    const outcomes: string[] = [];
    let sawTc = false;
    try {
      for (let i = 0; i < 20 && !sawTc; i++) {
        const udp = await digOrSilence(server.address, ["-b", "127.0.0.5", "+ignore", "+tries=1"]);
        sawTc = udp !== "TIMEOUT" && udp.flags.includes("tc") && udp.answer.length === 0;
        outcomes.push(udp === "TIMEOUT" ? "timeout" : `${udp.status} ${udp.flags.join(",")} an=${udp.answer.length}`);
      }
    } finally {
      stopFlood();
    }
    expect(sawTc, `a slipped (TC) reply; dig got: ${outcomes.join("; ")}`).to.equal(true);
    // Dropped or slipped, dig retries (UDP up to 5 tries, TCP after a TC): the answer comes through.
    const retried = await digOrSilence(server.address, ["-b", "127.0.0.5", "+tries=5"]);
    expect(retried !== "TIMEOUT" && retried.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
    // TCP is never limited: the source has proved its address.
    for (let i = 0; i < 3 * RATE; i++) {
      const tcp = await dig(server.address, "web.example.com", "A", { tcp: true, extra: ["-b", "127.0.0.5"] });
      expect(
        tcp.answer.map((record) => record.data),
        `TCP query ${i}`,
      ).to.deep.equal(["10.0.0.1"]);
    }
  });

  it("never limits an exempt network", async () => {
    const result = await flood(server.address, "127.0.0.3", 60);
    expect(result).to.deep.equal({ answered: 60, truncated: 0, silent: 0, badCookie: 0 });
  });

  it("never limits a client echoing a valid server cookie; sends BADCOOKIE to a wrong one", async () => {
    const first = await dig(server.address, "web.example.com", "A", {
      extra: ["-b", "127.0.0.4", "+cookie=0102030405060708"],
    });
    const cookie = /; COOKIE: ([0-9a-f]+)/.exec(first.raw)?.[1];
    expect(cookie).to.match(/^0102030405060708[0-9a-f]{32}$/);
    const valid = await flood(server.address, "127.0.0.4", 60, cookie);
    expect(valid).to.deep.equal({ answered: 60, truncated: 0, silent: 0, badCookie: 0 });
    const wrong = await flood(server.address, "127.0.0.4", 60, `0102030405060708${"00".repeat(16)}`);
    expect(wrong.answered).to.be.at.most(RATE + 3);
    // Every slip is a BADCOOKIE (the client then retries with its right cookie), never a bare TC.
    expect(wrong.badCookie).to.be.greaterThan(20);
    expect(wrong.truncated).to.equal(0);
  });
});
