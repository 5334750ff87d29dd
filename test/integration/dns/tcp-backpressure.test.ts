// A TCP client that pipelines queries with large answers and does not read its replies: the server
// must stop answering it at a bounded amount of queued output (not buffer every reply), keep the
// unanswered queries in a bounded buffer, answer other clients meanwhile, and deliver every reply
// in order once the client reads.
import { expect } from "chai";
import { TYPE } from "../../../src/dns/constants.ts";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import {
  listenTcp,
  MAX_PENDING_INPUT,
  TCP_DEFAULTS,
  type TcpTransport,
  WRITE_HIGH_WATER,
} from "../../../src/dns/tcp.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { buildQuery, indexWith, replyHeader, TcpDnsClient } from "../../support/dns.ts";

const BIG_RECORDS = 4000;
const BIG_QUERIES = 600;
const SMALL_QUERIES = 3000;

/** Counts the queries the transport handed over (each produces one reply here). */
class CountingHandler extends QueryHandler {
  handled = 0;

  override handle(packet: Buffer, transport: "udp" | "tcp"): Buffer | undefined {
    this.handled++;
    return super.handle(packet, transport);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("DNS over TCP: bounded buffering for a client that does not read", function () {
  this.timeout(60_000);
  let handler: CountingHandler;
  let transport: TcpTransport;
  const address = () => ({ host: "127.0.0.1", port: transport.port });

  before(async () => {
    const entries: Record<string, object> = { "/skydns/com/example/txt": { text: "v=hello" } };
    for (let i = 0; i < BIG_RECORDS; i++) {
      entries[`/skydns/com/example/big/r${i}`] = { host: `10.${(i >> 8) & 0xff}.${i & 0xff}.1` };
    }
    const index = await indexWith(entries);
    const metrics = new DnsMetrics();
    handler = new CountingHandler({
      index,
      zones: new ZoneSet(resolveZones(["example.com"], {})),
      udpPayloadSize: 1232,
      metrics,
    });
    transport = await listenTcp("127.0.0.1", 0, handler, metrics, {
      ...TCP_DEFAULTS,
      idleTimeoutMs: 30_000,
      maxConnections: 10,
    });
  });

  after(async () => {
    await transport?.close();
  });

  it("stops answering at the high-water mark, answers others, then delivers every reply in order", async () => {
    const hostile = await TcpDnsClient.connect(address());
    hostile.socket.pause();
    const queries = [
      ...Array.from({ length: BIG_QUERIES }, (_, i) => buildQuery("big.example.com", TYPE.A, { id: i + 1 })),
      ...Array.from({ length: SMALL_QUERIES }, (_, i) =>
        buildQuery("txt.example.com", TYPE.TXT, { id: BIG_QUERIES + i + 1 }),
      ),
    ];
    hostile.send(...queries);

    // Let the server go as far as it will while the client reads nothing.
    let handled = -1;
    for (let waited = 0; handled !== handler.handled && waited < 10_000; waited += 300) {
      handled = handler.handled;
      await sleep(300);
    }
    const stats = transport.stats();
    expect(stats.maxQueuedReplyBytes, "reply bytes queued in the socket").to.be.at.most(WRITE_HIGH_WATER + 2 + 0xffff);
    expect(stats.maxQueuedReplyBytes).to.be.greaterThan(0);
    expect(stats.maxPendingQueryBytes, "query bytes held unanswered").to.be.at.most(MAX_PENDING_INPUT);
    // Only as many replies as the socket buffers (ours plus the kernel's) hold were produced, far
    // from the ~38 MB an unbounded server would have queued.
    expect(handled, "replies produced before the client reads").to.be.greaterThan(0).and.below(BIG_QUERIES);
    expect(hostile.replies).to.have.length(0);

    const other = await TcpDnsClient.connect(address());
    other.send(buildQuery("txt.example.com", TYPE.TXT, { id: 7 }));
    const [otherReply] = await other.waitFor(1);
    other.close();
    expect(otherReply && replyHeader(otherReply).id).to.equal(7);

    hostile.socket.resume();
    const replies = await hostile.waitFor(queries.length, 30_000);
    hostile.close();
    expect(replies).to.have.length(queries.length);
    expect(replies.map((reply) => replyHeader(reply).id)).to.deep.equal(queries.map((_, i) => i + 1));
    const big = replies.slice(0, BIG_QUERIES).map((reply) => replyHeader(reply));
    expect(big.every((header) => header.rcode === 0 && header.ancount === BIG_RECORDS && !header.tc)).to.equal(true);
    expect(replies[0]!.length).to.be.greaterThan(60_000);
    const small = replies.slice(BIG_QUERIES).map((reply) => replyHeader(reply));
    expect(small.every((header) => header.rcode === 0 && header.ancount === 1)).to.equal(true);
    expect(transport.stats().maxQueuedReplyBytes).to.be.at.most(WRITE_HIGH_WATER + 2 + 0xffff);
  });
});
