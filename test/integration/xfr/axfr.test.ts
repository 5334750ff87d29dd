// AXFR and IXFR from the DNS server over real sockets, read by kdig (Knot's client parses and
// TSIG-verifies every message): multi-message transfers with the SOA first and last and no record
// twice, the ACL by key and by network, TSIG errors, IXFR from the journal and its fallbacks.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { signRequest, TsigKeyring, verifyReply } from "../../../src/dns/tsig.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import { buildQuery, replyHeader, sendUdp } from "../../support/dns.ts";

const run = promisify(execFile);
const ZONE = "example.com";
const SECRET = Buffer.alloc(32, 5);
const KEY = `hmac-sha256:xfr-key:${SECRET.toString("base64")}`;
const NAMES = 6000;

interface Transfer {
  ok: boolean;
  records: string[][];
  messages: number;
  output: string;
}

async function kdigTransfer(server: DnsServer, args: string[]): Promise<Transfer> {
  const address = server.address;
  const full = ["@127.0.0.1", "-p", String(address.port), "+time=5", "+retry=0", "+nocomments", ...args];
  let output: string;
  let ok = true;
  try {
    output = (await run("kdig", full, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    ok = false;
    output = `${(err as { stdout?: string }).stdout ?? ""}${(err as { stderr?: string }).stderr ?? ""}`;
  }
  const records = output
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith(";"))
    .map((line) => line.split(/\s+/))
    .filter((fields) => fields[3] !== "TSIG");
  const messages = Number(/\((\d+) messages/.exec(output)?.[1] ?? "0");
  return { ok, records, messages, output };
}

/** An IXFR query for ZONE with the client's SOA (serial) in the authority section (RFC 1995 §3). */
function ixfrQuery(serial: number): Buffer {
  const query = buildQuery(ZONE, 251);
  const soa = Buffer.alloc(2 + 10 + 2 + 2 + 20);
  soa.writeUInt16BE(0xc00c, 0);
  soa.writeUInt16BE(6, 2);
  soa.writeUInt16BE(1, 4);
  soa.writeUInt16BE(24, 10);
  soa.writeUInt16BE(0xc00c, 12);
  soa.writeUInt16BE(0xc00c, 14);
  soa.writeUInt32BE(serial >>> 0, 16);
  const out = Buffer.concat([query, soa]);
  out.writeUInt16BE(1, 8);
  return out;
}

describe("zone transfers (kdig)", function () {
  this.timeout(60_000);
  let live: LiveIndex;
  let server: DnsServer;
  let revision = 1;

  const put = (key: string, value: object): void => {
    const change = { type: "put" as const, key, value: JSON.stringify(value), revision: revision++ };
    live.current.apply([change]);
    server.indexChanged([change]);
  };

  before(async () => {
    live = new LiveIndex({ prefix: "/skydns" });
    const index = live.create();
    const changes = [];
    for (let i = 0; i < NAMES; i++) {
      changes.push({
        type: "put" as const,
        key: `/skydns/com/example/svc/s${i}/x1`,
        value: JSON.stringify({ host: `10.1.${i >> 8}.${i & 255}`, group: `s${i}.svc.example.com`, owner: "fedns/t" }),
        revision: revision++,
      });
    }
    changes.push({
      type: "put" as const,
      key: "/skydns/com/example/dns/ns/ns1",
      value: JSON.stringify({ host: "192.0.2.53" }),
      revision: revision++,
    });
    index.apply(changes);
    live.swap(index);
    server = await startDnsServer({
      index: live,
      zones: [ZONE],
      listen: { host: "127.0.0.1", port: 0 },
      tsig: new TsigKeyring([{ name: "xfr-key", algorithm: "hmac-sha256", secret: SECRET }]),
      transfers: {
        zones: [{ zone: ZONE, allow: [{ key: "xfr-key" }, { networks: ["10.0.0.0/8"] }], notify: [] }],
        notifyDebounceMs: 10,
      },
    });
  });

  after(async () => {
    await server.close();
  });

  it("AXFR with TSIG: several messages, each verified by kdig, SOA first and last, no record twice", async () => {
    const transfer = await kdigTransfer(server, [ZONE, "AXFR", "-y", KEY]);
    expect(transfer.ok, transfer.output.slice(-500)).to.equal(true);
    expect(transfer.messages, transfer.output.slice(-300)).to.be.greaterThan(1);
    const types = transfer.records.map((fields) => fields[3]);
    expect(types[0]).to.equal("SOA");
    expect(types.at(-1)).to.equal("SOA");
    expect(transfer.records[0]!.join(" ")).to.equal(transfer.records.at(-1)!.join(" "));
    const body = transfer.records.slice(1, -1).map((fields) => fields.join(" "));
    expect(new Set(body).size).to.equal(body.length);
    expect(types.filter((type) => type === "SOA")).to.have.length(2);
    // Each service name once with its address, the NS and its glue.
    expect(body.filter((line) => / A 10\.1\./.test(line))).to.have.length(NAMES);
    expect(body).to.include("s42.svc.example.com. 300 IN A 10.1.0.42");
    expect(body).to.include("example.com. 300 IN NS ns1.ns.dns.example.com.");
    expect(body).to.include("ns1.ns.dns.example.com. 300 IN A 192.0.2.53");
  });

  it("refused without the key (loopback is not in the ACL's networks), and over UDP", async () => {
    const unsigned = await kdigTransfer(server, [ZONE, "AXFR"]);
    expect(unsigned.ok).to.equal(false);
    expect(unsigned.output).to.contain("REFUSED");
    const other = await kdigTransfer(server, [`svc.${ZONE}`, "AXFR", "-y", KEY]);
    expect(other.output).to.contain("REFUSED");
    const udp = await kdigTransfer(server, [ZONE, "AXFR", "+notcp", "+comments", "-y", KEY]);
    expect(udp.output).to.match(/REFUSED|error/);
  });

  it("a wrong secret is BADSIG, an unknown key BADKEY; nothing transferred", async () => {
    const wrong = `hmac-sha256:xfr-key:${Buffer.alloc(32, 6).toString("base64")}`;
    const badsig = await kdigTransfer(server, [ZONE, "AXFR", "-y", wrong]);
    expect(badsig.ok).to.equal(false);
    expect(badsig.output).to.match(/BADSIG|NOTAUTH/);
    expect(badsig.records).to.have.length(0);
    const badkey = await kdigTransfer(server, [ZONE, "AXFR", "-y", `hmac-sha256:nokey:${SECRET.toString("base64")}`]);
    expect(badkey.output).to.match(/BADKEY|NOTAUTH/);
    expect(badkey.records).to.have.length(0);
  });

  it("IXFR: the changes since a journaled serial; current: the SOA alone; unknown serial: full transfer", async () => {
    const before = await kdigTransfer(server, [ZONE, "AXFR", "-y", KEY]);
    const oldSerial = Number(before.records[0]![6]);
    put("/skydns/com/example/svc/s1/x1", { host: "10.9.9.9", group: "s1.svc.example.com", owner: "fedns/t" });
    put("/skydns/com/example/svc/new/x1", { host: "10.9.9.10", group: "new.svc.example.com", owner: "fedns/t" });
    const ixfr = await kdigTransfer(server, [ZONE, `IXFR=${oldSerial}`, "-y", KEY]);
    expect(ixfr.ok, ixfr.output.slice(-500)).to.equal(true);
    const lines = ixfr.records.map((fields) => `${fields[0]} ${fields[3]} ${fields.slice(4).join(" ")}`);
    const newSerial = Number(ixfr.records[0]![6]);
    expect(newSerial).to.be.greaterThan(oldSerial);
    expect(lines).to.deep.equal([
      `example.com. SOA ns.dns.example.com. hostmaster.example.com. ${newSerial} 7200 1800 86400 30`,
      `example.com. SOA ns.dns.example.com. hostmaster.example.com. ${oldSerial} 7200 1800 86400 30`,
      "s1.svc.example.com. A 10.1.0.1",
      `example.com. SOA ns.dns.example.com. hostmaster.example.com. ${newSerial} 7200 1800 86400 30`,
      "s1.svc.example.com. A 10.9.9.9",
      "new.svc.example.com. A 10.9.9.10",
      `example.com. SOA ns.dns.example.com. hostmaster.example.com. ${newSerial} 7200 1800 86400 30`,
    ]);
    const current = await kdigTransfer(server, [ZONE, `IXFR=${newSerial}`, "-y", KEY]);
    expect(current.records).to.have.length(1);
    const unknown = await kdigTransfer(server, [ZONE, `IXFR=${oldSerial - 7}`, "-y", KEY]);
    expect(unknown.records.length).to.equal(before.records.length + 1);
    expect(unknown.records[0]![3]).to.equal("SOA");
    expect(unknown.records.at(-1)![3]).to.equal("SOA");
  });

  it("IXFR over UDP: the SOA when current, else TC", async () => {
    const soa = await kdigTransfer(server, [ZONE, "SOA", "+notcp", "-y", KEY]);
    const serial = Number(soa.records[0]![6]);
    const current = await kdigTransfer(server, [ZONE, `IXFR=${serial}`, "+notcp", "-y", KEY]);
    expect(current.records.map((fields) => fields[3])).to.deep.equal(["SOA"]);
    // kdig reads no flags of an IXFR reply: ask with a raw signed query.
    const key = { name: "xfr-key", algorithm: "hmac-sha256" as const, secret: SECRET };
    const request = signRequest(ixfrQuery(serial - 1), key, Math.floor(Date.now() / 1000));
    const reply = await sendUdp(server.address, request.bytes);
    expect(reply).to.not.equal(undefined);
    expect(replyHeader(reply!)).to.include({ tc: true, rcode: 0, ancount: 0 });
    expect(verifyReply(reply!, key, request.mac, Math.floor(Date.now() / 1000))).to.equal(true);
  });
});
