// The transfer service's guards and parts: concurrent transfers capped per source and in total,
// the IXFR journal bounded (older serials fall back to a full transfer), the ACL, RFC 1982 serials,
// versions built in slices that yield and reused name by name.
import { expect } from "chai";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { findTsig, parseTsig, signRequest, TsigKeyring } from "../../../src/dns/tsig.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { Registry } from "../../../src/obs/metrics.ts";
import type { IndexChange } from "../../../src/records/index.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import { TransferAcl } from "../../../src/xfr/acl.ts";
import { applyChanges, buildVersion } from "../../../src/xfr/content.ts";
import { Journal } from "../../../src/xfr/journal.ts";
import { compareSerials, isCurrent } from "../../../src/xfr/serial.ts";
import { requestSerial, Transfers } from "../../../src/xfr/service.ts";
import { buildQuery, replyHeader } from "../../support/dns.ts";

const ZONE = "example.com";
const zones = new ZoneSet(resolveZones([ZONE]));

function liveWith(names: number) {
  const live = new LiveIndex({ prefix: "/skydns" });
  const index = live.create();
  let revision = 1;
  index.apply(
    Array.from({ length: names }, (_, i) => ({
      type: "put" as const,
      key: `/skydns/com/example/n${i}`,
      value: JSON.stringify({ host: `10.0.${i >> 8}.${i & 255}` }),
      revision: revision++,
    })),
  );
  live.swap(index);
  const put = (name: string, host: string) => {
    const change = {
      type: "put" as const,
      key: `/skydns/com/example/${name}`,
      value: JSON.stringify({ host }),
      revision: revision++,
    };
    live.current.apply([change]);
    return change;
  };
  return { live, put };
}

function ixfrQuery(serial: number): Buffer {
  const query = buildQuery(ZONE, 251);
  const soa = Buffer.alloc(36);
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

describe("zone transfer service", () => {
  const setup = (options: {
    maxConcurrent?: number;
    maxConcurrentPerSource?: number;
    journalRecords?: number;
    names?: number;
  }) => {
    const { live, put } = liveWith(options.names ?? 2000);
    const registry = new Registry();
    const metrics = new DnsMetrics(registry);
    const transfers = new Transfers({
      live,
      zones,
      transferZones: [{ zone: ZONE, allow: [{ networks: ["10.0.0.0/8"] }], notify: [] }],
      metrics,
      journalRecords: options.journalRecords ?? 1000,
      maxConcurrent: options.maxConcurrent ?? 8,
      maxConcurrentPerSource: options.maxConcurrentPerSource ?? 2,
      notifyDebounceMs: 1000,
    });
    const handler = new QueryHandler({ index: live, zones, udpPayloadSize: 1232, metrics, transfers });
    const start = (address: string, packet = buildQuery(ZONE, 252)) => {
      const stream = handler.transfer(packet, { address, port: 5353 });
      if (stream === undefined) throw new Error("not taken as a transfer");
      return stream[Symbol.asyncIterator]();
    };
    return { live, put, transfers, handler, start, registry };
  };

  it("caps concurrent transfers per source: the next one from that source is REFUSED, others go on", async () => {
    const { start } = setup({ maxConcurrentPerSource: 1 });
    const first = start("10.0.0.1");
    const message = await first.next();
    expect(replyHeader(message.value as Buffer).rcode).to.equal(0);
    const second = await start("10.0.0.1").next();
    expect(replyHeader(second.value as Buffer).rcode).to.equal(5);
    const elsewhere = start("10.0.0.2");
    expect(replyHeader((await elsewhere.next()).value as Buffer).rcode).to.equal(0);
    await elsewhere.return?.();
    await first.return?.();
    const again = start("10.0.0.1");
    expect(replyHeader((await again.next()).value as Buffer).rcode).to.equal(0);
    await again.return?.();
  });

  it("caps concurrent transfers in total", async () => {
    const { start } = setup({ maxConcurrent: 2, maxConcurrentPerSource: 2 });
    const open = [start("10.0.0.1"), start("10.0.0.2")];
    for (const stream of open) expect(replyHeader((await stream.next()).value as Buffer).rcode).to.equal(0);
    expect(replyHeader((await start("10.0.0.3").next()).value as Buffer).rcode).to.equal(5);
    for (const stream of open) await stream.return?.();
    expect(replyHeader((await start("10.0.0.3").next()).value as Buffer).rcode).to.equal(0);
  });

  it("refuses sources outside the ACL and zones it does not transfer; UDP AXFR is not a stream", async () => {
    const { start, handler } = setup({});
    expect(replyHeader((await start("192.0.2.1").next()).value as Buffer).rcode).to.equal(5);
    expect(replyHeader((await start("10.0.0.1", buildQuery(`n1.${ZONE}`, 252)).next()).value as Buffer).rcode).to.equal(
      5,
    );
    expect(handler.transfer(buildQuery(ZONE, 1), { address: "10.0.0.1", port: 1 })).to.equal(undefined);
    expect(replyHeader(handler.handle(buildQuery(ZONE, 252), "udp", { address: "10.0.0.1", port: 1 })!).rcode).to.equal(
      5,
    );
  });

  it("IXFR from a serial the bounded journal no longer holds is a full transfer", async () => {
    const { start, put, transfers, registry } = setup({ journalRecords: 4 });
    await transfers.refresh();
    const serials: number[] = [];
    for (let i = 0; i < 4; i++) {
      serials.push((await soaSerialOf(start)) >>> 0);
      transfers.changed([put(`n${i}`, `10.9.0.${i}`)]);
      await transfers.refresh();
    }
    const drain = async (serial: number): Promise<number> => {
      let records = 0;
      for await (const message of { [Symbol.asyncIterator]: () => start("10.0.0.1", ixfrQuery(serial)) }) {
        records += (message as Buffer).readUInt16BE(6);
      }
      return records;
    };
    // Each change is one deletion and one addition: the journal keeps the last two changes only.
    expect(await drain(serials[3]!)).to.equal(1 + 1 + 1 + 1 + 1 + 1);
    expect(await drain(serials[2]!)).to.equal(1 + 2 * (1 + 1 + 1 + 1) + 1);
    expect(await drain(serials[1]!)).to.equal(2000 + 2);
    const metrics = await registry.getSingleMetricAsString("fedns_dns_transfers_total");
    expect(metrics).to.contain('kind="ixfr-full",result="done"} 1');
  });

  it("a full transfer in flight keeps its version while the next one is made", async () => {
    // Names go out in key order: n999 is in the last message.
    const { start, put, transfers } = setup({ names: 6000 });
    const stream = start("10.0.0.1");
    const messages: Buffer[] = [(await stream.next()).value as Buffer];
    transfers.changed([put("n999", "10.99.99.99")]);
    await transfers.refresh();
    for (let next = await stream.next(); !next.done; next = await stream.next()) messages.push(next.value as Buffer);
    const all = Buffer.concat(messages);
    expect(all.includes(Buffer.from([10, 99, 99, 99]))).to.equal(false);
    expect(messages.length).to.be.greaterThan(1);
    expect(all.includes(Buffer.from([10, 0, 3, 231]))).to.equal(true);
    // The next full transfer has the change.
    const after: Buffer[] = [];
    for await (const message of { [Symbol.asyncIterator]: () => start("10.0.0.2") }) after.push(message as Buffer);
    expect(Buffer.concat(after).includes(Buffer.from([10, 99, 99, 99]))).to.equal(true);
  });

  it("a change while a full transfer holds a large version copies it in slices, not in one block", async () => {
    const { start, put, transfers } = setup({ names: 150_000 });
    const stream = start("10.0.0.1");
    await stream.next();
    transfers.changed([put("n5", "10.98.98.98")]);
    let turns = 0;
    let done = false;
    const tick = (): void => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    await transfers.refresh();
    done = true;
    await stream.return?.(undefined);
    // The copy of 150,000 names and keys took several turns (applyChanges alone copies it in one).
    expect(turns, "turns of the event loop during the copy").to.be.greaterThan(3);
    const after: Buffer[] = [];
    for await (const message of { [Symbol.asyncIterator]: () => start("10.0.0.2") }) after.push(message as Buffer);
    expect(Buffer.concat(after).includes(Buffer.from([10, 98, 98, 98]))).to.equal(true);
  });

  it("reads the client's serial from an IXFR request", () => {
    expect(requestSerial(ixfrQuery(12345))).to.equal(12345);
    expect(requestSerial(buildQuery(ZONE, 251))).to.equal(undefined);
  });
});

async function soaSerialOf(start: (address: string, packet?: Buffer) => AsyncIterator<unknown>): Promise<number> {
  const stream = start("10.0.0.1", ixfrQuery(0x7fffffff));
  const first = (await stream.next()).value as Buffer;
  await stream.return?.();
  // The reply's first answer is the SOA: after the question (zone + 4), name pointer (2), type..rdlength (10).
  const answer = 12 + ZONE.length + 2 + 4;
  const rdata = answer + 12;
  // mname and rname are compressed or literal names; skip them.
  let offset = rdata;
  for (let names = 0; names < 2; names++) {
    while (first[offset]! !== 0 && (first[offset]! & 0xc0) !== 0xc0) offset += first[offset]! + 1;
    offset += first[offset] === 0 ? 1 : 2;
  }
  return first.readUInt32BE(offset);
}

describe("IXFR journal", () => {
  const diff = (n: number) => ({
    deleted: Array.from({ length: n }, () => ({ name: "a", ttl: 1, data: { type: 1 as const, address: "10.0.0.1" } })),
    added: [],
  });

  it("keeps a chain of diffs, bounded by records, oldest dropped first", () => {
    const journal = new Journal(5);
    journal.add(1, 2, diff(2));
    journal.add(2, 3, diff(2));
    expect(journal.since(1, 3)).to.have.length(2);
    journal.add(3, 4, diff(2));
    expect(journal.size).to.be.at.most(5);
    expect(journal.since(1, 4)).to.equal(undefined);
    expect(journal.since(2, 4)).to.have.length(2);
    expect(journal.since(2, 3)).to.equal(undefined);
  });

  it("resets on a diff that does not continue the chain or exceeds the bound", () => {
    const journal = new Journal(5);
    journal.add(1, 2, diff(1));
    journal.add(7, 8, diff(1));
    expect(journal.since(1, 8)).to.equal(undefined);
    expect(journal.since(7, 8)).to.have.length(1);
    journal.add(8, 9, diff(6));
    expect(journal.length).to.equal(0);
  });
});

describe("transfer ACL", () => {
  it("allows a rule's networks, its key, or only both together when it names both", () => {
    const acl = new TransferAcl([
      { networks: ["10.0.0.0/8"] },
      { key: "k1" },
      { networks: ["192.0.2.0/24"], key: "k2" },
    ]);
    expect(acl.allows("10.1.2.3", undefined)).to.equal(true);
    expect(acl.allows("::ffff:10.1.2.3", undefined)).to.equal(true);
    expect(acl.allows("198.51.100.1", "k1")).to.equal(true);
    expect(acl.allows("198.51.100.1", undefined)).to.equal(false);
    expect(acl.allows("192.0.2.1", undefined)).to.equal(false);
    expect(acl.allows("192.0.2.1", "k2")).to.equal(true);
    expect(acl.allows("198.51.100.1", "k2")).to.equal(false);
    expect(new TransferAcl([]).allows("10.0.0.1", "k1")).to.equal(false);
  });
});

describe("RFC 1982 serials", () => {
  it("compares across the wrap", () => {
    expect(compareSerials(1, 2)).to.equal(-1);
    expect(compareSerials(2, 1)).to.equal(1);
    expect(compareSerials(0xffffffff, 1)).to.equal(-1);
    expect(compareSerials(1, 0xffffffff)).to.equal(1);
    expect(compareSerials(0, 2 ** 31)).to.equal(undefined);
    expect(isCurrent(5, 5)).to.equal(true);
    expect(isCurrent(6, 5)).to.equal(true);
    expect(isCurrent(4, 5)).to.equal(false);
  });
});

describe("zone versions", () => {
  it("are built in slices that let the event loop run, then follow changes name by name", async () => {
    const { live, put } = liveWith(20_000);
    const zone = zones.all[0]!;
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const first = await buildVersion(live.current, zone, zones);
    clearInterval(ticker);
    expect(first.size).to.equal(20_000);
    expect(turns, "timers ran while building").to.be.greaterThan(0);
    const changes = [
      put("n5", "10.9.9.9"),
      put("fresh", "10.9.9.10"),
      { type: "delete" as const, key: "/skydns/com/example/n7", revision: 1_000_000 },
    ];
    live.current.apply([changes[2]!]);
    const { version: second, diff } = applyChanges(first, changes, live.current, zones);
    expect(second.serial).to.be.greaterThan(first.serial);
    expect(second.size).to.equal(20_000);
    expect(second.names.get(`n6.${ZONE}`)).to.equal(first.names.get(`n6.${ZONE}`));
    expect(second.names.get(`n5.${ZONE}`)?.records[0]?.data).to.deep.equal({ type: 1, address: "10.9.9.9" });
    expect(second.names.has(`n7.${ZONE}`)).to.equal(false);
    const line = (record: { name: string; data: unknown }) => `${record.name} ${JSON.stringify(record.data)}`;
    expect(diff.added.map(line).sort()).to.deep.equal([
      `fresh.${ZONE} {"type":1,"address":"10.9.9.10"}`,
      `n5.${ZONE} {"type":1,"address":"10.9.9.9"}`,
    ]);
    expect(diff.deleted.map(line).sort()).to.deep.equal([
      `n5.${ZONE} {"type":1,"address":"10.0.0.5"}`,
      `n7.${ZONE} {"type":1,"address":"10.0.0.7"}`,
    ]);
    // The same content as a full build of the index as it is now.
    const full = await buildVersion(live.current, zone, zones);
    const all = (version: typeof full) =>
      [...version.names.values()].flatMap((content) => content.records.map(line)).sort();
    expect(all(second)).to.deep.equal(all(full));
  });
});

describe("signed transfer requests", () => {
  it("sign every message of the stream with the request's key", async () => {
    const { live } = liveWith(6000);
    const key = { name: "k", algorithm: "hmac-sha256" as const, secret: Buffer.alloc(32, 1) };
    const metrics = new DnsMetrics();
    const transfers = new Transfers({
      live,
      zones,
      transferZones: [{ zone: ZONE, allow: [{ key: "k" }], notify: [] }],
      metrics,
      journalRecords: 10,
      maxConcurrent: 1,
      maxConcurrentPerSource: 1,
      notifyDebounceMs: 1000,
    });
    const handler = new QueryHandler({
      index: live,
      zones,
      udpPayloadSize: 1232,
      metrics,
      transfers,
      tsig: new TsigKeyring([key]),
    });
    const now = Math.floor(Date.now() / 1000);
    const messages: Buffer[] = [];
    for await (const message of handler.transfer(signRequest(buildQuery(ZONE, 252), key, now).bytes)!) {
      messages.push(message);
    }
    expect(messages.length).to.be.greaterThan(1);
    for (const message of messages) {
      const tsig = parseTsig(message, findTsig(message)!);
      expect(tsig?.keyName).to.equal("k");
      expect(message.length).to.be.at.most(65535);
    }
  });
});

describe("change debounce", () => {
  it("collects changes for notifyDebounceMs before building and notifying once", () => {
    const { live } = liveWith(10);
    const scheduled: number[] = [];
    const callbacks: (() => void)[] = [];
    const timers = {
      now: () => 0,
      setTimeout: (callback: () => void, ms: number) => {
        scheduled.push(ms);
        callbacks.push(callback);
        return { cancel: () => undefined };
      },
    };
    const transfers = new Transfers({
      live,
      zones,
      transferZones: [{ zone: ZONE, allow: [], notify: [] }],
      metrics: new DnsMetrics(),
      journalRecords: 10,
      maxConcurrent: 1,
      maxConcurrentPerSource: 1,
      notifyDebounceMs: 1000,
      timers,
    });
    for (let i = 0; i < 5; i++) transfers.changed();
    expect(scheduled).to.deep.equal([1000]);
    callbacks[0]!();
    transfers.changed();
    expect(scheduled).to.deep.equal([1000, 1000]);
    transfers.close();
  });
});

describe("zone versions under a changing index", () => {
  const line = (record: { name: string; data: unknown }) => `${record.name} ${JSON.stringify(record.data)}`;
  const all = (version: { names: Map<string, { records: readonly { name: string; data: unknown }[] }> }) =>
    [...version.names.values()].flatMap((content) => content.records.map(line)).sort();

  it("a sliced build, plus the changes made while it walked, is the content of the index at the end", async () => {
    const { live, put } = liveWith(30_000);
    const zone = zones.all[0]!;
    const index = live.current;
    const changes: IndexChange[] = [];
    let revision = 10_000_000;
    let turns = 0;
    // Every turn of the loop the build lets run: changes all over the tree (already walked or not yet):
    // new names, replaced addresses, deletes, a key moved to another owner (group), a put then a delete.
    const ticker = setInterval(() => {
      const i = turns++;
      const batch: IndexChange[] = [
        put(`n${(i * 7919) % 30_000}`, `10.200.${i & 255}.1`),
        put(`new${i}`, `10.201.${i & 255}.1`),
        { type: "delete", key: `/skydns/com/example/n${(i * 104_729) % 30_000}`, revision: revision++ },
        {
          type: "put",
          key: `/skydns/com/example/moved/m${i}`,
          value: JSON.stringify({ host: "10.202.0.1", group: i % 2 === 0 ? "example.com" : "moved.example.com" }),
          revision: revision++,
        },
        {
          type: "put",
          key: `/skydns/com/example/moved/m${i}`,
          value: JSON.stringify({ host: "10.202.0.2", group: "moved.example.com" }),
          revision: revision++,
        },
        {
          type: "put",
          key: `/skydns/com/example/flap${i}`,
          value: JSON.stringify({ host: "10.203.0.1" }),
          revision: revision++,
        },
        { type: "delete", key: `/skydns/com/example/flap${i}`, revision: revision++ },
      ];
      index.apply(batch.slice(2));
      changes.push(...batch);
    }, 0);
    const built = await buildVersion(index, zone, zones);
    clearInterval(ticker);
    expect(turns, "the index changed while the build walked it").to.be.greaterThan(2);
    const { version } = applyChanges(built, changes, index, zones);
    const fresh = await buildVersion(index, zone, zones, { sliced: false });
    expect(all(version)).to.deep.equal(all(fresh));
    expect(version.serial).to.equal(fresh.serial);
    expect(all(version).filter((entry) => entry.startsWith("flap"))).to.deep.equal([]);
  });

  it("a record whose owner moves deeper while the walk is between the two names is transferred once", async () => {
    const { live } = liveWith(0);
    const zone = zones.all[0]!;
    const index = live.current;
    let revision = 1000;
    const fedns = (j: number, group: string): IndexChange => ({
      type: "put",
      key: `/skydns/com/example/g/b/k${j}`,
      value: JSON.stringify({ host: `10.220.0.${j}`, group, owner: "fedns/myfed" }),
      revision: revision++,
    });
    // g.example.com owns the fedns keys at first, and holds many leaves the walk reads before b.g.example.com.
    index.apply(Array.from({ length: 100 }, (_, j) => fedns(j, "g.example.com")));
    index.apply(
      Array.from({ length: 20_000 }, (_, i) => ({
        type: "put" as const,
        key: `/skydns/com/example/g/l${i}`,
        value: JSON.stringify({ host: `10.221.${i >> 8}.${i & 255}` }),
        revision: revision++,
      })),
    );
    const changes: IndexChange[] = [];
    let turns = 0;
    const ticker = setInterval(() => {
      if (turns++ !== 0) return;
      const moved = Array.from({ length: 100 }, (_, j) => fedns(j, "b.g.example.com"));
      index.apply(moved);
      changes.push(...moved);
    }, 0);
    const built = await buildVersion(index, zone, zones);
    clearInterval(ticker);
    expect(turns).to.be.greaterThan(1);
    const { version } = applyChanges(built, changes, index, zones);
    const fresh = await buildVersion(index, zone, zones, { sliced: false });
    expect(all(version)).to.deep.equal(all(fresh));
    expect(version.names.has("g.example.com")).to.equal(false);
  });

  it("a put then a delete of the same key in one batch leaves it out", async () => {
    const { live, put } = liveWith(10);
    const zone = zones.all[0]!;
    const first = await buildVersion(live.current, zone, zones);
    const changes: IndexChange[] = [
      put("n3", "10.9.9.9"),
      { type: "delete", key: "/skydns/com/example/n3", revision: 99 },
    ];
    live.current.apply([changes[1]!]);
    const { version, diff } = applyChanges(first, changes, live.current, zones);
    expect(version.names.has(`n3.${ZONE}`)).to.equal(false);
    expect(diff.deleted.map(line)).to.deep.equal([`n3.${ZONE} {"type":1,"address":"10.0.0.3"}`]);
    expect(all(version)).to.deep.equal(all(await buildVersion(live.current, zone, zones, { sliced: false })));
  });

  it("the service serves a full build with the changes that arrived during it", async () => {
    const { live, put } = liveWith(30_000);
    const transfers = new Transfers({
      live,
      zones,
      transferZones: [{ zone: ZONE, allow: [{ networks: ["127.0.0.0/8"] }], notify: [] }],
      metrics: new DnsMetrics(new Registry()),
      journalRecords: 1000,
      maxConcurrent: 2,
      maxConcurrentPerSource: 2,
      notifyDebounceMs: 1_000_000,
    });
    let turns = 0;
    const ticker = setInterval(() => {
      const i = turns++;
      transfers.changed([put(`during${i}`, "10.210.0.1"), put(`n${i}`, "10.211.0.1")]);
    }, 0);
    await transfers.refresh();
    clearInterval(ticker);
    transfers.close();
    expect(turns).to.be.greaterThan(2);
    const served = await (transfers as unknown as { version(state: unknown): Promise<ZoneVersionLike> }).version(
      (transfers as unknown as { states: Map<string, unknown> }).states.get(ZONE),
    );
    const fresh = await buildVersion(live.current, zones.all[0]!, zones, { sliced: false });
    expect(all(served)).to.deep.equal(all(fresh));
    expect(served.serial).to.equal(fresh.serial);
  });
});

type ZoneVersionLike = Awaited<ReturnType<typeof buildVersion>>;
