// TCP abuse: a thousand connections from one address, each trickling a byte at a time (each byte
// keeps the idle timer alive). The per-source cap keeps them from taking every slot and the
// per-message deadline closes each one soon after its message started, while `dig +tcp` from
// another address is answered throughout.
import { connect, type Socket } from "node:net";
import { expect } from "chai";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import { dig, indexWith } from "../../support/dns.ts";

// Twice the global cap (200) and eight times the per-source cap (50): without the per-source cap the
// tricklers would hold every slot. (bench/abuse runs the 1,000-connection attack from another process.)
const TRICKLERS = 400;
const ATTACKER = "127.0.0.2";
const MESSAGE_TIMEOUT_MS = 300;
const IDLE_TIMEOUT_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Trickler {
  stop(): void;
  /** How long each connection the server accepted (it received bytes) lived, in ms. */
  lifetimes: number[];
}

/** Keeps `count` connections from `source` open, each sending one byte every 100 ms; reconnects when closed. */
function trickle(server: { host: string; port: number }, source: string, count: number): Trickler {
  const lifetimes: number[] = [];
  const sockets = new Set<Socket>();
  let stopped = false;
  const open = (): void => {
    if (stopped) return;
    const socket = connect({ host: server.host, port: server.port, localAddress: source });
    sockets.add(socket);
    let connectedAt = 0;
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on("connect", () => {
      connectedAt = Date.now();
      // A length prefix announcing a 300-byte message, then one byte at a time.
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(Buffer.from([sent++ === 0 ? 1 : 0x2c]));
      }, 100);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      sockets.delete(socket);
      // Accepted connections get to send; those refused at the cap close before a second byte.
      const accepted = connectedAt > 0 && sent > 2;
      if (accepted) lifetimes.push(Date.now() - connectedAt);
      // Refused connections come back a little later: a connect storm in this very process would
      // starve the test's own dig on a busy machine, and the per-source cap is hit either way.
      setTimeout(open, accepted ? 20 : 250);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    lifetimes,
    stop: () => {
      stopped = true;
      for (const socket of sockets) socket.destroy();
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
    const attack = trickle(server.address, ATTACKER, TRICKLERS);
    try {
      await sleep(1500);
      for (let i = 0; i < 10; i++) {
        const result = await dig(server.address, "web.example.com", "A", { tcp: true, extra: ["-b", "127.0.0.1"] });
        expect(result.status, `dig +tcp #${i} during the attack`).to.equal("NOERROR");
        expect(result.answer.map((record) => record.data)).to.deep.equal(["10.0.0.1"]);
        await sleep(100);
      }
    } finally {
      attack.stop();
    }
    expect(attack.lifetimes.length, "trickling connections the server closed").to.be.greaterThan(0);
    // Each byte kept the idle timer alive: only the message deadline closes them this soon.
    expect(Math.max(...attack.lifetimes)).to.be.below(IDLE_TIMEOUT_MS / 4);
    const timeouts = await registry.getSingleMetric("fedns_dns_tcp_message_timeouts_total")?.get();
    expect(timeouts?.values[0]?.value ?? 0).to.be.greaterThan(0);
    const refused = await registry.getSingleMetric("fedns_dns_tcp_refused_total")?.get();
    const bySource = refused?.values.find((value) => value.labels.cap === "source");
    expect(bySource?.value ?? 0, "connections refused by the per-source cap").to.be.greaterThan(0);
  });
});
