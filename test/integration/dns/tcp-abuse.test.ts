// TCP abuse: a thousand connections from one address, each trickling a byte at a time (each byte
// keeps the idle timer alive). The per-source cap keeps them from taking every slot and the
// per-message deadline closes each one soon after its message started, while `dig +tcp` from
// another address is answered throughout.
import { spawn } from "node:child_process";
import { expect } from "chai";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import { dig, indexWith } from "../../support/dns.ts";

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
