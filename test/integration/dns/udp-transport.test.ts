// The UDP transports on their own (no DNS): the contract both keep (round trip with the source's
// address, IPv4 and IPv6, 64 KiB datagrams both ways, one reply per datagram), and what only the
// native one has: fixed receive slots (a larger datagram is dropped and counted), the bounded send
// queue (replies wait while the socket is full, the excess is dropped and counted), batching.
import { createSocket, type Socket } from "node:dgram";
import { readdirSync } from "node:fs";
import { expect } from "chai";
import { listenDgram } from "../../../src/dns/udp/dgram.ts";
import { listenNative } from "../../../src/dns/udp/native.ts";
import type { Datagram, OnBatch, UdpListenOptions, UdpTransport } from "../../../src/dns/udp/transport.ts";
import { eventually } from "../../support/fedns.ts";
import { describeEachUdpTransport, describeNativeUdp } from "../../support/udp-transports.ts";

/** The largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP). */
const MAX_IPV4_PAYLOAD = 65_507;

interface Client {
  socket: Socket;
  replies: Buffer[];
  port: number;
  send(data: Buffer | string, port: number): void;
  close(): void;
}

async function client(host: string): Promise<Client> {
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  socket.setRecvBufferSize(4 * 1024 * 1024);
  const replies: Buffer[] = [];
  socket.on("message", (message) => replies.push(message));
  return {
    socket,
    replies,
    port: socket.address().port,
    send: (data, port) => socket.send(data, port, host),
    close: () => socket.close(),
  };
}

/** Echoes "<address> <port> <family> <datagram>" to every datagram; records what it saw. */
function echo(seen: { address: string; port: number; family: number; length: number }[]): OnBatch {
  return (batch: readonly Datagram[], reply) => {
    batch.forEach((datagram, i) => {
      seen.push({
        address: datagram.address,
        port: datagram.port,
        family: datagram.family,
        length: datagram.data.length,
      });
      reply(i, Buffer.concat([Buffer.from(`${datagram.address} ${datagram.port} ${datagram.family} `), datagram.data]));
    });
  };
}

function listen(kind: "dgram" | "native", options: UdpListenOptions): Promise<UdpTransport> {
  return kind === "native" ? listenNative(options) : listenDgram(options);
}

describeEachUdpTransport("UDP transport", function (kind) {
  this.timeout(20_000);
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close();
  });

  for (const host of ["127.0.0.1", "::1"]) {
    it(`answers a datagram with the source's address, port and family (${host})`, async () => {
      const seen: { address: string; port: number; family: number; length: number }[] = [];
      const transport = await listen(kind, { host, port: 0, onBatch: echo(seen) });
      open.push(transport);
      expect(transport.kind).to.equal(kind);
      const c = await client(host);
      open.push(c);
      c.send("hello", transport.port);
      await eventually("reply", async () => expect(c.replies).to.have.length(1));
      const family = host === "::1" ? 6 : 4;
      expect(c.replies[0]!.toString()).to.equal(`${host} ${c.port} ${family} hello`);
      expect(seen).to.deep.equal([{ address: host, port: c.port, family, length: 5 }]);
      const stats = transport.stats();
      expect(stats.received).to.equal(1);
      expect(stats.sent).to.equal(1);
    });
  }

  it("carries 64 KiB datagrams whole, both ways", async () => {
    const seen: { address: string; port: number; family: number; length: number }[] = [];
    const transport = await listen(kind, {
      host: "127.0.0.1",
      port: 0,
      onBatch: (batch, reply) => {
        batch.forEach((datagram, i) => {
          seen.push({ ...datagram, length: datagram.data.length });
          // The reply is as large as UDP allows, and carries the query's last byte back.
          const big = Buffer.alloc(MAX_IPV4_PAYLOAD, 0x61);
          big[big.length - 1] = datagram.data[datagram.data.length - 1]!;
          reply(i, big);
        });
      },
    });
    open.push(transport);
    const c = await client("127.0.0.1");
    open.push(c);
    const query = Buffer.alloc(MAX_IPV4_PAYLOAD, 0x62);
    query[query.length - 1] = 0x7a;
    c.send(query, transport.port);
    await eventually("the 64 KiB reply", async () => expect(c.replies).to.have.length(1));
    expect(seen.map((datagram) => datagram.length)).to.deep.equal([MAX_IPV4_PAYLOAD]);
    expect(c.replies[0]!.length).to.equal(MAX_IPV4_PAYLOAD);
    expect(c.replies[0]![MAX_IPV4_PAYLOAD - 1]).to.equal(0x7a);
  });

  it("answers each of many datagrams once, and refuses a reply to a datagram not in the batch", async () => {
    let misuse: unknown;
    const transport = await listen(kind, {
      host: "127.0.0.1",
      port: 0,
      onBatch: (batch, reply) => {
        for (const [i, datagram] of batch.entries()) reply(i, datagram.data);
        try {
          reply(batch.length, Buffer.from("x"));
        } catch (err) {
          misuse = err;
        }
      },
    });
    open.push(transport);
    const c = await client("127.0.0.1");
    open.push(c);
    for (let i = 0; i < 200; i++) c.send(`q${i}`, transport.port);
    await eventually("200 replies", async () => expect(c.replies).to.have.length(200), 5000);
    expect(new Set(c.replies.map(String)).size).to.equal(200);
    expect(misuse).to.be.instanceOf(RangeError);
    const stats = transport.stats();
    expect(stats.received).to.equal(200);
    expect(stats.batches).to.be.within(1, 200);
  });

  it("releases the port on close, and a second bind to a taken port fails", async () => {
    const first = await listen(kind, { host: "127.0.0.1", port: 0, onBatch: () => {} });
    const port = first.port;
    let error: unknown;
    await listen(kind, { host: "127.0.0.1", port, onBatch: () => {} }).then(
      (second) => second.close(),
      (err: unknown) => {
        error = err;
      },
    );
    expect((error as NodeJS.ErrnoException | undefined)?.code).to.equal("EADDRINUSE");
    await first.close();
    const again = await listen(kind, { host: "127.0.0.1", port, onBatch: () => {} });
    open.push(again);
    expect(again.port).to.equal(port);
  });

  it("shares a port between two sockets with reusePort", async () => {
    const first = await listen(kind, { host: "127.0.0.1", port: 0, reusePort: true, onBatch: () => {} });
    open.push(first);
    const second = await listen(kind, { host: "127.0.0.1", port: first.port, reusePort: true, onBatch: () => {} });
    open.push(second);
    expect(second.port).to.equal(first.port);
  });
});

describeNativeUdp("native UDP transport: slots and the send queue", function () {
  this.timeout(20_000);
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close();
  });

  it("drops a datagram larger than its receive slot, counts it, and goes on", async () => {
    const seen: number[] = [];
    const transport = await listenNative(
      {
        host: "127.0.0.1",
        port: 0,
        onBatch: (batch, reply) =>
          batch.forEach((datagram, i) => {
            seen.push(datagram.data.length);
            reply(i, datagram.data);
          }),
      },
      { slotBytes: 512 },
    );
    open.push(transport);
    const c = await client("127.0.0.1");
    open.push(c);
    c.send(Buffer.alloc(513, 1), transport.port);
    c.send(Buffer.alloc(512, 2), transport.port);
    await eventually("the reply to the datagram that fits", async () => expect(c.replies).to.have.length(1));
    expect(seen).to.deep.equal([512]);
    expect(c.replies[0]!.equals(Buffer.alloc(512, 2))).to.equal(true);
    await eventually("counted", async () => expect(transport.stats().truncated).to.equal(1));
  });

  it("queues replies while the socket is full, up to the queue's size, drops the rest, then sends the queue", async () => {
    const transport = await listenNative(
      {
        host: "127.0.0.1",
        port: 0,
        onBatch: (batch, reply) => {
          for (const [i, d] of batch.entries()) reply(i, d.data);
        },
      },
      { queueSlots: 8 },
    );
    open.push(transport);
    const c = await client("127.0.0.1");
    open.push(c);
    transport.blockSends(true);
    for (let i = 0; i < 20; i++) c.send(`q${i}`, transport.port);
    await eventually("all 20 received", async () => expect(transport.stats().received).to.equal(20));
    let stats = transport.stats();
    expect(stats.queued).to.equal(8);
    expect(stats.dropped).to.equal(12);
    expect(stats.sent).to.equal(0);
    expect(c.replies).to.have.length(0);
    transport.blockSends(false);
    await eventually("the queued replies", async () => expect(c.replies).to.have.length(8));
    // Oldest first: the queue kept the first eight.
    expect(c.replies.map(String)).to.deep.equal(Array.from({ length: 8 }, (_, i) => `q${i}`));
    stats = transport.stats();
    expect(stats).to.include({ queued: 0, dropped: 12, sent: 8 });
    // Sending works normally afterwards.
    c.send("after", transport.port);
    await eventually("a reply after the queue drained", async () => expect(c.replies).to.have.length(9));
  });

  it("never sends a reply larger than its slot: dropped and counted", async () => {
    const transport = await listenNative(
      {
        host: "127.0.0.1",
        port: 0,
        onBatch: (batch, reply) => {
          for (let i = 0; i < batch.length; i++) reply(i, Buffer.alloc(batch[i]!.data[0] === 1 ? 513 : 512, 7));
        },
      },
      { slotBytes: 512 },
    );
    open.push(transport);
    const c = await client("127.0.0.1");
    open.push(c);
    c.send(Buffer.from([1]), transport.port);
    c.send(Buffer.from([2]), transport.port);
    await eventually("the reply that fits", async () => expect(c.replies).to.have.length(1));
    expect(c.replies[0]!.length).to.equal(512);
    expect(transport.stats()).to.include({ received: 2, sent: 1, sendErrors: 1 });
  });

  it("can be closed from inside its batch callback, and leaks no descriptor over many binds", async () => {
    let closing: Promise<void> | undefined;
    let batches = 0;
    const transport = await listenNative({
      host: "127.0.0.1",
      port: 0,
      onBatch: (batch, reply) => {
        batches++;
        reply(0, batch[0]!.data);
        closing = transport.close();
      },
    });
    const c = await client("127.0.0.1");
    open.push(c);
    c.send("one", transport.port);
    await eventually("the batch", async () => expect(batches).to.equal(1));
    await closing;
    c.send("two", transport.port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(batches).to.equal(1);
    // The port is free again at once.
    const again = await listenNative({ host: "127.0.0.1", port: transport.port, onBatch: () => {} });
    await again.close();

    const descriptors = (): number => readdirSync("/proc/self/fd").length;
    const before = descriptors();
    for (let i = 0; i < 200; i++) {
      const t = await listenNative({ host: i % 2 === 0 ? "127.0.0.1" : "::1", port: 0, onBatch: () => {} });
      await t.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(descriptors()).to.be.at.most(before + 2);
  });

  it("rejects out-of-range tuning instead of passing it to the addon", async () => {
    const onBatch = (): void => {};
    for (const tuning of [
      { batch: 0 },
      { batch: 100_000 },
      { slotBytes: 100 },
      { slotBytes: 1 << 20 },
      { queueSlots: 0 },
    ]) {
      let error: unknown;
      await listenNative({ host: "127.0.0.1", port: 0, onBatch }, tuning).then(
        (transport) => transport.close(),
        (err: unknown) => {
          error = err;
        },
      );
      expect(error, JSON.stringify(tuning)).to.be.instanceOf(RangeError);
    }
  });
});
