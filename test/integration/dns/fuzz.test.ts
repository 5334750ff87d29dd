// Hostile input: tens of thousands of random and mutated packets over UDP and TCP at a running
// server. It must not crash or hang, must not throw inside (internalErrors stays 0), and must keep
// answering valid queries sent in between.
import { createSocket } from "node:dgram";
import { expect } from "chai";
import fc from "fast-check";
import { TYPE } from "../../../src/dns/constants.ts";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import type { RecordIndex } from "../../../src/records/index.ts";
import { buildQuery, frame, indexWith, replyHeader, sendUdp, TcpDnsClient } from "../../support/dns.ts";

const NAMES = ["web.example.com", "Web.EXAMPLE.com", "big.example.com", "nope.example.com", "example.com", "x.org", ""];

/** Packets shaped to hit parser edges: valid queries mutated, truncated, with absurd counts, pointer loops, long labels. */
const hostilePacket: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
  fc
    .record({
      name: fc.constantFrom(...NAMES),
      qtype: fc.integer({ min: 0, max: 65535 }),
      edns: fc.option(fc.integer({ min: 0, max: 65535 })),
      cut: fc.integer({ min: 0, max: 80 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      tail: fc.uint8Array({ maxLength: 40 }),
    })
    .map(({ name, qtype, edns, cut, flips, tail }) => {
      const packet = Buffer.concat([buildQuery(name, qtype, { ednsPayload: edns ?? undefined }), Buffer.from(tail)]);
      for (const [at, value] of flips) packet[at % packet.length] = value;
      return packet.subarray(0, Math.max(0, packet.length - cut));
    }),
  fc
    .record({
      counts: fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 4, maxLength: 4 }),
      id: fc.nat(0xffff),
    })
    .map(({ counts, id }) => {
      const packet = buildQuery("web.example.com", TYPE.A, { id });
      for (const [i, count] of counts.entries()) packet.writeUInt16BE(count, 4 + 2 * i);
      return packet;
    }),
  fc.integer({ min: 0, max: 0x3fff }).map((target) => {
    // A question followed by records whose names are compression pointers (loops, forward, self).
    const query = buildQuery("web.example.com", TYPE.A);
    query.writeUInt16BE(3, 10);
    const self = query.length;
    const record = (pointer: number): Buffer =>
      Buffer.from([0xc0 | (pointer >> 8), pointer & 0xff, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    return Buffer.concat([query, record(self), record(target), record(self + 12)]);
  }),
  fc
    .integer({ min: 64, max: 255 })
    .map((length) =>
      Buffer.concat([buildQuery("", TYPE.A).subarray(0, 12), Buffer.from([length]), Buffer.alloc(300, 0x61)]),
    ),
);

async function expectAnswered(server: DnsServer, id: number): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const reply = await sendUdp(server.address, buildQuery("web.example.com", TYPE.A, { id }), 1000);
    if (reply !== undefined) {
      expect(replyHeader(reply)).to.include({ id, rcode: 0, ancount: 1 });
      return;
    }
  }
  throw new Error("valid query not answered in 5 attempts");
}

describe("DNS server under hostile input", function () {
  this.timeout(120_000);
  let index: RecordIndex;

  before(async () => {
    const big: Record<string, object> = {};
    for (let i = 0; i < 80; i++)
      big[`/skydns/com/example/big/k${i}`] = { host: `10.1.${i}.1`, text: i % 2 ? "t" : undefined };
    index = await indexWith({
      "/skydns/com/example/web": { host: "10.0.0.1" },
      "/skydns/com/example/alias": { host: "web.example.com" },
      ...big,
    });
  });

  it("the handler never throws and always replies with the query's id or drops (property)", () => {
    const handler = new QueryHandler({
      index,
      zones: new ZoneSet(resolveZones(["example.com"])),
      udpPayloadSize: 1232,
      metrics: new DnsMetrics(),
    });
    fc.assert(
      fc.property(hostilePacket, fc.constantFrom("udp" as const, "tcp" as const), (packet, transport) => {
        const reply = handler.handle(packet, transport);
        if (reply !== undefined) {
          expect(reply.length).to.be.at.least(12);
          expect(reply.readUInt16BE(0)).to.equal(packet.readUInt16BE(0));
          expect(reply.length).to.be.at.most(transport === "udp" ? 1232 : 65535);
        }
      }),
      { numRuns: 20_000 },
    );
    expect(handler.internalErrors).to.equal(0);
  });

  it("keeps answering valid queries over UDP and TCP while flooded with garbage", async () => {
    const server = await startDnsServer({
      index,
      zones: ["example.com"],
      listen: { host: "127.0.0.1", port: 0 },
      tcp: { idleTimeoutMs: 2000, maxConnections: 50 },
    });
    const packets = fc.sample(hostilePacket, 30_000);
    const socket = createSocket("udp4");
    try {
      let lagMax = 0;
      let last = Date.now();
      const lagTimer = setInterval(() => {
        const now = Date.now();
        lagMax = Math.max(lagMax, now - last - 10);
        last = now;
      }, 10);
      // UDP: bursts of garbage, a valid query after each burst.
      for (let start = 0; start < 20_000; start += 500) {
        for (const packet of packets.slice(start, start + 500)) socket.send(packet, server.address.port, "127.0.0.1");
        await expectAnswered(server, start & 0xffff);
      }
      // TCP: framed garbage (which must not stop the connection), then raw garbage that breaks framing.
      const client = await TcpDnsClient.connect(server.address);
      for (let start = 20_000; start < 30_000; start += 1000) {
        client.writeRaw(Buffer.concat(packets.slice(start, start + 1000).map((packet) => frame(packet))));
        const marker = 0xbeef;
        const before = client.replies.length;
        client.send(buildQuery("web.example.com", TYPE.A, { id: marker }));
        const deadline = Date.now() + 5000;
        while (
          !client.replies.slice(before).some((reply) => replyHeader(reply).id === marker) &&
          Date.now() < deadline
        ) {
          await client.waitFor(client.replies.length + 1, 200);
        }
        expect(client.replies.slice(before).some((reply) => replyHeader(reply).id === marker)).to.equal(true);
      }
      client.close();
      for (let i = 0; i < 20; i++) {
        const raw = await TcpDnsClient.connect(server.address);
        raw.writeRaw(Buffer.from(fc.sample(fc.uint8Array({ minLength: 1, maxLength: 3000 }), 1)[0] ?? []));
        raw.close();
      }
      await expectAnswered(server, 4242);
      const tcp = await TcpDnsClient.connect(server.address);
      tcp.send(buildQuery("web.example.com", TYPE.A, { id: 7 }));
      const [reply] = await tcp.waitFor(1);
      tcp.close();
      expect(reply && replyHeader(reply).id).to.equal(7);
      clearInterval(lagTimer);
      // No single packet may stall the event loop (generous bound: CI machines are noisy).
      expect(lagMax).to.be.below(1000);
    } finally {
      socket.close();
      await server.close();
    }
  });
});
