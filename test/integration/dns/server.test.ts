// The DNS server over real sockets, checked with dig and kdig (no etcd: an in-memory index).
import { expect } from "chai";
import { TYPE } from "../../../src/dns/constants.ts";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import type { RecordIndex } from "../../../src/records/index.ts";
import { buildQuery, dig, indexWith, kdig, replyHeader, sendUdp, TcpDnsClient } from "../../support/dns.ts";
import { describeEachUdpTransport } from "../../support/udp-transports.ts";

describeEachUdpTransport("DNS server (dig/kdig, in-memory index)", function (udpTransport) {
  this.timeout(30_000);
  let index: RecordIndex;
  let server: DnsServer;
  let registry: Registry;
  let revision = 1000;

  before(async () => {
    const bigTxt: Record<string, object> = {};
    for (let i = 0; i < 40; i++) bigTxt[`/skydns/com/example/big/t${i}`] = { host: `10.2.${i}.1` };
    index = await indexWith({
      "/skydns/com/example/svc/myfed/default/nginx/east": {
        host: "10.0.0.1",
        ttl: 30,
        group: "nginx.default.myfed.svc.example.com",
      },
      "/skydns/com/example/us-east-1/svc/myfed/default/nginx/cname": {
        host: "nginx.default.myfed.svc.example.com",
        ttl: 30,
      },
      "/skydns/com/example/us-east-1/us-east-1a/svc/myfed/default/nginx/cname": {
        host: "nginx.default.myfed.svc.us-east-1.example.com",
        ttl: 30,
      },
      "/skydns/com/example/_tcp/_http/nginx/a": { host: "10.0.0.1", port: 80 },
      "/skydns/com/example/txt": { text: "v=hello" },
      "/skydns/com/example/dns/ns/ns1": { host: "10.0.0.53" },
      ...bigTxt,
    });
    registry = new Registry();
    server = await startDnsServer({
      udpTransport,
      index,
      zones: ["example.com"],
      listen: { host: "127.0.0.1", port: 0 },
      tcp: { idleTimeoutMs: 500, maxConnections: 3 },
      registry,
    });
  });

  after(async () => {
    await server?.close();
  });

  it("reports the ephemeral port it bound on both transports", () => {
    expect(server.address.port).to.be.greaterThan(0);
  });

  it("answers A over UDP and TCP, authoritative, with the question's case preserved", async () => {
    for (const tcp of [false, true]) {
      const result = await dig(server.address, "NGINX.default.MyFed.svc.example.com", "A", { tcp });
      expect(result.status).to.equal("NOERROR");
      expect(result.flags).to.include("aa");
      expect(result.flags).to.not.include("ra");
      expect(result.question).to.equal("NGINX.default.MyFed.svc.example.com.");
      expect(result.answer).to.deep.equal([
        { name: "NGINX.default.MyFed.svc.example.com.", ttl: 30, type: "A", data: "10.0.0.1" },
      ]);
    }
  });

  it("follows the zone -> region -> global CNAME chain (kdig)", async () => {
    const result = await kdig(server.address, "nginx.default.myfed.svc.us-east-1a.us-east-1.example.com", "A");
    expect(result.status).to.equal("NOERROR");
    expect(result.answer.map((record) => `${record.type} ${record.data}`)).to.deep.equal([
      "CNAME nginx.default.myfed.svc.us-east-1.example.com.",
      "CNAME nginx.default.myfed.svc.example.com.",
      "A 10.0.0.1",
    ]);
  });

  it("gives NXDOMAIN and NODATA with the SOA in authority", async () => {
    const nx = await dig(server.address, "missing.example.com", "A");
    expect(nx.status).to.equal("NXDOMAIN");
    expect(nx.authority.map((record) => record.type)).to.deep.equal(["SOA"]);
    expect(nx.authority[0]?.ttl).to.equal(30);
    const nodata = await kdig(server.address, "txt.example.com", "A");
    expect(nodata.status).to.equal("NOERROR");
    expect(nodata.answer).to.deep.equal([]);
    expect(nodata.authority.map((record) => record.type)).to.deep.equal(["SOA"]);
  });

  it("serves SRV with glue, TXT, NS and SOA", async () => {
    const srv = await dig(server.address, "_http._tcp.example.com", "SRV");
    expect(srv.answer.map((record) => record.data)).to.deep.equal(["10 100 80 a.nginx._http._tcp.example.com."]);
    expect(srv.additional.filter((record) => record.type === "A").map((record) => record.data)).to.deep.equal([
      "10.0.0.1",
    ]);
    expect((await kdig(server.address, "txt.example.com", "TXT")).answer[0]?.data).to.equal('"v=hello"');
    const ns = await dig(server.address, "example.com", "NS");
    expect(ns.answer.map((record) => record.data)).to.deep.equal(["ns1.ns.dns.example.com."]);
    expect(ns.additional.filter((record) => record.type === "A").map((record) => record.data)).to.deep.equal([
      "10.0.0.53",
    ]);
    const soa = await dig(server.address, "example.com", "SOA");
    expect(soa.answer[0]?.data).to.match(/^ns\.dns\.example\.com\. hostmaster\.example\.com\. \d+ 7200 1800 86400 30$/);
  });

  it("refuses other zones, rejects other opcodes with NOTIMP and EDNS version 1 with BADVERS", async () => {
    expect((await dig(server.address, "example.org", "A")).status).to.equal("REFUSED");
    expect((await dig(server.address, "example.com", "SOA", { extra: ["+opcode=2"] })).status).to.equal("NOTIMP");
    const badvers = await kdig(server.address, "example.com", "SOA", { extra: ["+edns=1"] });
    expect(badvers.status).to.equal("BADVERS");
  });

  it("answers FORMERR to a two-question packet and drops a runt, still answering afterwards", async () => {
    const twoQuestions = buildQuery("example.com", TYPE.SOA);
    twoQuestions.writeUInt16BE(2, 4);
    const reply = await sendUdp(server.address, twoQuestions);
    expect(reply && replyHeader(reply).rcode).to.equal(1);
    expect(await sendUdp(server.address, Buffer.alloc(5), 300)).to.equal(undefined);
    expect((await dig(server.address, "example.com", "SOA")).status).to.equal("NOERROR");
  });

  it("truncates over UDP without EDNS (TC), and the full answer comes over TCP", async () => {
    const udp = await dig(server.address, "big.example.com", "A", { extra: ["+noedns", "+ignore"] });
    expect(udp.flags).to.include("tc");
    const limited = await kdig(server.address, "big.example.com", "A", { extra: ["+bufsize=512", "+ignore"] });
    expect(limited.flags).to.include("tc");
    const viaFallback = await dig(server.address, "big.example.com", "A", { extra: ["+noedns"] });
    expect(viaFallback.answer).to.have.length(40);
    const edns = await dig(server.address, "big.example.com", "A", { extra: ["+bufsize=1232"] });
    expect(edns.flags).to.not.include("tc");
    expect(edns.answer).to.have.length(40);
  });

  it("answers ANY over UDP minimally (RFC 8482)", async () => {
    const result = await kdig(server.address, "txt.example.com", "ANY");
    expect(result.answer.map((record) => `${record.type} ${record.data}`)).to.deep.equal(['HINFO "RFC8482" ""']);
  });

  it("reflects index changes immediately, through the cache", async () => {
    const name = "live.example.com";
    expect((await dig(server.address, name, "A")).status).to.equal("NXDOMAIN");
    index.apply([{ type: "put", key: "/skydns/com/example/live", value: '{"host":"10.9.9.9"}', revision: ++revision }]);
    expect((await dig(server.address, name, "A")).answer[0]?.data).to.equal("10.9.9.9");
    index.apply([{ type: "delete", key: "/skydns/com/example/live", revision: ++revision }]);
    expect((await dig(server.address, name, "A")).status).to.equal("NXDOMAIN");
  });

  it("answers pipelined queries on one TCP connection, in order", async () => {
    const client = await TcpDnsClient.connect(server.address);
    const queries = Array.from({ length: 20 }, (_, i) =>
      buildQuery(i % 2 ? "txt.example.com" : "missing.example.com", TYPE.TXT, { id: i + 1 }),
    );
    client.send(...queries);
    const replies = await client.waitFor(20);
    client.close();
    expect(replies.map((reply) => replyHeader(reply).id)).to.deep.equal(queries.map((_, i) => i + 1));
    expect(replies.map((reply) => replyHeader(reply).rcode)).to.deep.equal(queries.map((_, i) => (i % 2 ? 0 : 3)));
  });

  it("reassembles a query split across TCP segments", async () => {
    const client = await TcpDnsClient.connect(server.address);
    const framed = Buffer.concat([Buffer.from([0, 0]), buildQuery("txt.example.com", TYPE.TXT, { id: 99 })]);
    framed.writeUInt16BE(framed.length - 2, 0);
    client.writeRaw(framed.subarray(0, 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.writeRaw(framed.subarray(1, 9));
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.writeRaw(framed.subarray(9));
    const [reply] = await client.waitFor(1);
    client.close();
    expect(reply && replyHeader(reply).id).to.equal(99);
  });

  it("closes idle TCP connections and caps their number", async () => {
    const idle = await TcpDnsClient.connect(server.address);
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(idle.closed).to.equal(true);

    const open = await Promise.all([1, 2, 3].map(() => TcpDnsClient.connect(server.address)));
    const extra = await TcpDnsClient.connect(server.address);
    extra.send(buildQuery("txt.example.com", TYPE.TXT));
    expect(await extra.waitFor(1, 500)).to.deep.equal([]);
    expect(extra.closed).to.equal(true);
    open[0]?.send(buildQuery("txt.example.com", TYPE.TXT, { id: 5 }));
    const [reply] = (await open[0]?.waitFor(1)) ?? [];
    expect(reply && replyHeader(reply).id).to.equal(5);
    for (const client of open) client.close();
  });

  it("exports the DNS metrics", async () => {
    const text = await registry.metrics();
    expect(text).to.match(/fedns_dns_queries_total\{qtype="A",rcode="NOERROR",transport="udp"\} [1-9]/);
    expect(text).to.match(/fedns_dns_queries_total\{qtype="TXT",rcode="NXDOMAIN",transport="tcp"\} [1-9]/);
    expect(text).to.match(/fedns_dns_request_duration_seconds_count [1-9]/);
    expect(text).to.match(/fedns_dns_malformed_total [1-9]/);
    expect(text).to.match(/fedns_dns_truncated_total [1-9]/);
    expect(text).to.match(/fedns_dns_tcp_connections \d/);
    expect(text, "the global cap, refused by node:net").to.match(/fedns_dns_tcp_refused_total\{cap="global"\} [1-9]/);
    // The UDP transport this suite runs on, and its counters (a runt was dropped by the handler, not the transport).
    expect(text).to.match(new RegExp(`^fedns_dns_udp_transport\\{transport="${udpTransport}"\\} 1$`, "m"));
    expect(text).to.match(/^fedns_dns_udp_batches_total [1-9]/m);
    expect(text).to.match(/^fedns_dns_udp_dropped_total\{reason="send_queue_full"\} 0$/m);
    expect(text).to.match(/^fedns_dns_udp_send_queue 0$/m);
  });
});
