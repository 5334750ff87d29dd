// NOTIFY to a secondary (a UDP socket standing in for it): signed with the secondary's key, retried
// with exponential backoff on the injected clock until acknowledged, a newer serial announced next,
// and an acknowledgement that does not verify ignored.
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { expect } from "chai";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { skipName } from "../../../src/dns/query.ts";
import { findTsig, ReplySigner, TsigKeyring, verifyRequest } from "../../../src/dns/tsig.ts";
import { resolveZones } from "../../../src/dns/zones.ts";
import type { Timers } from "../../../src/obs/clock.ts";
import { Notifier } from "../../../src/xfr/notify.ts";

const KEY = { name: "notify-key", algorithm: "hmac-sha256" as const, secret: Buffer.alloc(32, 4) };
const zone = resolveZones(["example.com"])[0]!;
const soa = (serial: number) => ({
  name: zone.name,
  ttl: 30,
  data: { type: 6 as const, serial, ...zone.soa },
});

class FakeTimers implements Timers {
  readonly pending: { callback: () => void; ms: number; cancelled: boolean }[] = [];
  now(): number {
    return 0;
  }
  setTimeout(callback: () => void, ms: number) {
    const timer = { callback, ms, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }
  /** The wait of the timer that is live, then runs it. */
  fire(): number {
    const timer = this.pending.filter((candidate) => !candidate.cancelled).at(-1);
    if (timer === undefined) throw new Error("no timer");
    timer.cancelled = true;
    timer.callback();
    return timer.ms;
  }
}

interface Received {
  packet: Buffer;
  serial: number;
  from: { address: string; port: number };
}

describe("NOTIFY", () => {
  let secondary: Socket;
  let port: number;
  const received: Received[] = [];
  let waiting: ((value: Received) => void) | undefined;
  const next = (): Promise<Received> =>
    new Promise((resolve) => {
      const ready = received.shift();
      if (ready !== undefined) resolve(ready);
      else waiting = resolve;
    });

  before(async () => {
    secondary = createSocket("udp4");
    secondary.on("message", (packet, from) => {
      // Question (example.com SOA IN), then the SOA: its serial after the two compressed names.
      const rdata = 12 + 13 + 4 + 12;
      const entry = { packet, serial: packet.readUInt32BE(skipName(packet, skipName(packet, rdata))), from };
      if (waiting !== undefined) {
        const resolve = waiting;
        waiting = undefined;
        resolve(entry);
      } else received.push(entry);
    });
    secondary.bind(0, "127.0.0.1");
    await once(secondary, "listening");
    port = secondary.address().port;
  });

  after(() => secondary.close());

  const ack = (request: Received, sign: boolean): void => {
    const verified = verifyRequest(request.packet, findTsig(request.packet)!, new TsigKeyring([KEY]), now());
    expect(verified.ok, "our NOTIFY is signed with the secondary's key").to.equal(true);
    const reply = Buffer.from(request.packet.subarray(0, 12 + 13 + 4));
    reply.writeUInt16BE(0, 6);
    reply.writeUInt16BE(0, 10);
    reply[2] = 0x80 | (4 << 3) | 0x04;
    const bytes = sign && verified.ok ? new ReplySigner(KEY, verified.tsig, now).sign(reply) : reply;
    secondary.send(bytes, request.from.port, request.from.address);
  };
  const now = (): number => Math.floor(Date.now() / 1000);

  it("retries with backoff until acknowledged, then announces a newer serial", async () => {
    const timers = new FakeTimers();
    const notifier = new Notifier({
      timers,
      metrics: new DnsMetrics(),
      retryInitialMs: 1000,
      retryMaxMs: 3000,
      nowSeconds: now,
    });
    const target = { host: "127.0.0.1", port, key: KEY };
    notifier.notify(zone, 100, soa, [target]);
    expect((await next()).serial).to.equal(100);
    expect(timers.fire()).to.equal(1000);
    expect((await next()).serial).to.equal(100);
    expect(timers.fire()).to.equal(2000);
    const third = await next();
    expect(timers.fire()).to.equal(3000);
    const fourth = await next();
    // A newer serial while the attempt is unanswered: the ack of the old one brings the new one at once.
    notifier.notify(zone, 101, soa, [target]);
    ack(third, true);
    ack(fourth, true);
    const newer = await next();
    expect(newer.serial).to.equal(101);
    ack(newer, true);
    for (let i = 0; i < 50 && notifier.pending > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(notifier.pending).to.equal(0);
    notifier.close();
  });

  it("ignores an acknowledgement without a valid TSIG and keeps retrying", async () => {
    const timers = new FakeTimers();
    const notifier = new Notifier({
      timers,
      metrics: new DnsMetrics(),
      retryInitialMs: 1000,
      retryMaxMs: 60_000,
      nowSeconds: now,
    });
    notifier.notify(zone, 7, soa, [{ host: "127.0.0.1", port, key: KEY }]);
    const first = await next();
    ack(first, false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(notifier.pending).to.equal(1);
    timers.fire();
    ack(await next(), true);
    for (let i = 0; i < 50 && notifier.pending > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(notifier.pending).to.equal(0);
    notifier.close();
  });
});
