// TCP abuse: a thousand connections from one address, each trickling a byte at a time (each byte
// keeps the idle timer alive). The per-source cap keeps them from taking every slot and the
// per-message deadline closes each one soon after its message started, while `dig +tcp` from
// another address is answered throughout.
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { expect } from "chai";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import { buildQuery, dig, indexWith } from "../../support/dns.ts";

// Five times the global cap (200), twenty times the per-source cap (50), from another process.
const TRICKLERS = 1000;
const ATTACKER = "127.0.0.2";
const MESSAGE_TIMEOUT_MS = 300;
const IDLE_TIMEOUT_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const TRICKLER = new URL("../../support/trickler.ts", import.meta.url).pathname;

interface Trickler {
  /** Stops the attack; the lifetimes (ms) of the connections the server accepted and closed. */
  stop(): Promise<number[]>;
}

/** Starts the attacker process: `count` connections from `source`, each sending one byte every 100 ms. */
async function trickle(server: { host: string; port: number }, source: string, count: number): Promise<Trickler> {
  const child = spawn(process.execPath, [TRICKLER, server.host, String(server.port), source, String(count)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  while (!output.includes("started\n")) {
    if (child.exitCode !== null) throw new Error(`trickler exited: ${child.exitCode}`);
    await sleep(20);
  }
  return {
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      const last = output.trim().split("\n").pop() ?? "{}";
      return (JSON.parse(last) as { lifetimes?: number[] }).lifetimes ?? [];
    },
  };
}

describe("DNS over TCP: trickling clients from one address", function () {
  this.timeout(60_000);
  let server: DnsServer;
  let registry: Registry;

  before(async () => {
    const index = await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1", ttl: 30 } });
    registry = new Registry();
    server = await startDnsServer({
      index,
      zones: ["example.com"],
      listen: { host: "127.0.0.1", port: 0 },
      tcp: {
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        maxConnections: 200,
        maxConnectionsPerSource: 50,
        messageTimeoutMs: MESSAGE_TIMEOUT_MS,
      },
      registry,
    });
  });

  after(async () => {
    await server.close();
  });

  it("closes tricklers at the message deadline and keeps answering dig +tcp from elsewhere", async () => {
    const attack = await trickle(server.address, ATTACKER, TRICKLERS);
    let lifetimes: number[] = [];
    try {
      await sleep(1500);
      for (let i = 0; i < 10; i++) {
        const result = await dig(server.address, "web.example.com", "A", { tcp: true, extra: ["-b", "127.0.0.1"] });
        expect(result.status, `dig +tcp #${i} during the attack`).to.equal("NOERROR");
        expect(result.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
        await sleep(100);
      }
    } finally {
      lifetimes = await attack.stop();
    }
    expect(lifetimes.length, "trickling connections the server closed").to.be.greaterThan(0);
    // Each byte kept the idle timer alive: only the message deadline closes them this soon.
    expect(Math.max(...lifetimes)).to.be.below(IDLE_TIMEOUT_MS / 4);
    const timeouts = await registry.getSingleMetric("fedns_dns_tcp_message_timeouts_total")?.get();
    expect(timeouts?.values[0]?.value ?? 0).to.be.greaterThan(0);
    const refused = await registry.getSingleMetric("fedns_dns_tcp_refused_total")?.get();
    const bySource = refused?.values.find((value) => value.labels.cap === "source");
    expect(bySource?.value ?? 0, "connections refused by the per-source cap").to.be.greaterThan(0);
  });
});

/** Connects from `source`; resolves once the connection is open (the server may close it right after). */
function opened(server: { host: string; port: number }, source: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port, localAddress: source });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Resolves with the first reply frame's payload, or undefined when the server closed the connection first. */
function firstReply(socket: Socket, query: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let input = Buffer.alloc(0);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      input = Buffer.concat([input, chunk]);
      if (input.length >= 2 && input.length >= 2 + input.readUInt16BE(0)) resolve(input.subarray(2));
    });
    socket.once("close", () => resolve(undefined));
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    socket.write(framed);
  });
}

describe("DNS over TCP: a connect storm from a source at its cap", function () {
  this.timeout(30_000);
  const PER_SOURCE = 4;
  const STORM = 30;
  let server: DnsServer;
  let registry: Registry;

  before(async () => {
    const index = await indexWith({ "/skydns/com/example/web": { host: "10.0.0.1", ttl: 30 } });
    registry = new Registry();
    server = await startDnsServer({
      index,
      zones: ["example.com"],
      listen: { host: "127.0.0.1", port: 0 },
      tcp: { maxConnections: 100, maxConnectionsPerSource: PER_SOURCE, messageTimeoutMs: 5000 },
      registry,
    });
  });

  after(async () => {
    await server.close();
  });

  const metric = async (name: string, cap?: string): Promise<number> => {
    const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    return values.find((value) => cap === undefined || value.labels.cap === cap)?.value ?? 0;
  };

  it("closes the storm before it reaches the server's JS, counts the source once, and lets it back when a slot frees", async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < PER_SOURCE; i++) held.push(await opened(server.address, ATTACKER));
      // One after the other: each is closed by the server; only the first past the cap is seen in JS.
      for (let i = 0; i < STORM; i++) {
        const socket = await opened(server.address, ATTACKER);
        expect(await firstReply(socket, buildQuery("web.example.com", 1)), `storm connection #${i}`).to.equal(
          undefined,
        );
      }
      expect(await metric("fedns_dns_tcp_refused_total", "source"), "refusals that reached fedns").to.equal(1);
      expect(await metric("fedns_dns_tcp_sources_at_cap")).to.equal(1);
      const other = await dig(server.address, "web.example.com", "A", { tcp: true, extra: ["-b", "127.0.0.1"] });
      expect(other.status, "another source meanwhile").to.equal("NOERROR");

      held.pop()?.destroy();
      const deadline = Date.now() + 5000;
      while ((await metric("fedns_dns_tcp_sources_at_cap")) > 0 && Date.now() < deadline) await sleep(20);
      expect(await metric("fedns_dns_tcp_sources_at_cap"), "unblocked once a connection closed").to.equal(0);
      const again = await opened(server.address, ATTACKER);
      held.push(again);
      const reply = await firstReply(again, buildQuery("web.example.com", 1));
      expect(reply, "the freed slot answers").to.not.equal(undefined);
      expect(reply?.readUInt16BE(6), "answer count").to.equal(1);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });
});
