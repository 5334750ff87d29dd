// startServing when a port is taken: it rejects with a message naming the address, and leaves
// nothing running (record source stopped, backend closed, DNS sockets released).
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { expect } from "chai";
import { startServing } from "../../../src/cli/serve.ts";
import { parseConfig } from "../../../src/config/load.ts";
import type { FednsConfig } from "../../../src/config/schema.ts";
import { configureLogging } from "../../../src/obs/log.ts";
import { createMemoryBackend, type MemoryBackend } from "../../../src/store/memory-kv.ts";

function config(dnsListen: string, metricsListen: string): FednsConfig {
  return parseConfig({
    domain: "example.com",
    etcd: { endpoints: ["http://127.0.0.1:1"], prefix: "/skydns" },
    dns: { listen: dnsListen },
    metrics: { listen: metricsListen },
    log: { level: "silent" },
  });
}

/** A memory backend whose close() calls are counted. */
function spiedBackend(): { backend: MemoryBackend; closes: () => number } {
  const backend = createMemoryBackend();
  let closes = 0;
  const close = backend.close.bind(backend);
  backend.close = async () => {
    closes++;
    await close();
  };
  return { backend, closes: () => closes };
}

/** Open UDP sockets and TCP servers, once handles closed just now have finished closing. */
async function openSockets(): Promise<{ udp: number; tcpServers: number }> {
  await new Promise((resolve) => setImmediate(resolve));
  const open = process.getActiveResourcesInfo();
  return {
    udp: open.filter((kind) => kind === "UDPWrap").length,
    tcpServers: open.filter((kind) => kind === "TCPServerWrap").length,
  };
}

async function bindUdp(): Promise<UdpSocket> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return socket;
}

async function listenTcp(port = 0): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}

function portOf(server: Server | UdpSocket): number {
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("not bound");
  return address.port;
}

describe("startServing with a port already taken", () => {
  before(() => configureLogging(process.env.FEDNS_TEST_LOGS === "1" ? "debug" : "silent"));

  it("rejects naming the DNS address, and stops the record source and closes the backend", async () => {
    const taken = await bindUdp();
    const metrics = await listenTcp();
    const metricsPort = portOf(metrics);
    await new Promise<void>((resolve) => metrics.close(() => resolve()));
    const { backend, closes } = spiedBackend();
    const before = await openSockets();
    try {
      const address = `127.0.0.1:${portOf(taken)}`;
      let error: Error | undefined;
      await startServing(config(address, `127.0.0.1:${metricsPort}`), backend).then(
        (serving) => serving.stop(),
        (err: Error) => {
          error = err;
        },
      );
      expect(error?.message).to.match(new RegExp(`cannot listen on ${address} for DNS: .*EADDRINUSE`));
      expect(closes()).to.equal(1);
      expect(await openSockets(), "sockets left open").to.deep.equal(before);
      // The metrics port was never bound: it is free.
      const again = await listenTcp(metricsPort);
      await new Promise<void>((resolve) => again.close(() => resolve()));
    } finally {
      taken.close();
    }
  });

  it("closes the DNS server it started when the metrics port is taken", async () => {
    const before = await openSockets();
    const metrics = await listenTcp();
    const { backend, closes } = spiedBackend();
    try {
      let error: Error | undefined;
      await startServing(config("127.0.0.1:0", `127.0.0.1:${portOf(metrics)}`), backend).then(
        (serving) => serving.stop(),
        (err: Error) => {
          error = err;
        },
      );
      expect(error?.message).to.match(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${portOf(metrics)} for metrics`));
      expect(closes()).to.equal(1);
      // Only our own metrics listener is left: the DNS server's UDP socket and TCP listener are closed.
      expect(await openSockets(), "sockets left open").to.deep.equal({ ...before, tcpServers: before.tcpServers + 1 });
    } finally {
      await new Promise<void>((resolve) => metrics.close(() => resolve()));
    }
  });
});
