import { expect } from "chai";
import { zoneSerial } from "../../../src/dns/records.ts";
import { serialMarkerKey, serialMarkerValue } from "../../../src/federation/keys.ts";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import type { KvBackend, RangeOptions, WatchHandlers } from "../../../src/store/kv.ts";
import { createMemoryBackend, type MemoryBackend } from "../../../src/store/memory-kv.ts";
import { type RecordSource, startRecordSource } from "../../../src/store/source.ts";

const NAME = "nginx.default.myfed.svc.example.com";
const KEY = "/skydns/com/example/svc/myfed/default/nginx";

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  return Number(found?.values[0]?.value ?? 0);
}

function hosts(index: LiveIndex, name: string): string[] {
  return (index.current.lookup(name) ?? []).map((record) => record.service.host).sort();
}

describe("store: record source (memory backend)", () => {
  let kv: MemoryBackend;
  let index: LiveIndex;
  let registry: Registry;
  let source: RecordSource | undefined;
  before(() => configureLogging("silent"));
  beforeEach(() => {
    kv = createMemoryBackend();
    index = new LiveIndex({ prefix: "/skydns" });
    registry = newRegistry();
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });

  it("loads the prefix, then follows puts and deletes", async () => {
    await kv.put(`${KEY}/a`, JSON.stringify({ host: "198.51.100.1" }));
    await kv.put("/skydnsother/com/example/x", JSON.stringify({ host: "198.51.100.9" }));
    source = startRecordSource({ backend: kv, prefix: "/skydns", index, registry });
    await source.loaded;
    expect(hosts(index, NAME)).to.deep.equal(["198.51.100.1"]);
    expect(source.status()).to.include({ ready: true, revision: 2 });
    await kv.put(`${KEY}/b`, JSON.stringify({ host: "198.51.100.2" }));
    await eventually(() => hosts(index, NAME).length === 2, "the put");
    await kv.delete(`${KEY}/a`);
    await kv.delete(`${KEY}/b`);
    await eventually(() => index.current.lookup(NAME) === undefined, "the deletes");
    expect(source.status().revision).to.equal(kv.revision);
    expect(source.status().lastEventAt).to.be.a("number");
    expect(await metric(registry, "fedns_store_revision")).to.equal(kv.revision);
  });

  it("skips bad values, logging and counting each distinct bad value once, and serves the rest", async () => {
    await kv.put(`${KEY}/bad-json`, "{not json");
    await kv.put(`${KEY}/good`, JSON.stringify({ host: "198.51.100.1" }));
    source = startRecordSource({ backend: kv, prefix: "/skydns", index, registry });
    await source.loaded;
    expect(hosts(index, NAME)).to.deep.equal(["198.51.100.1"]);
    expect(await metric(registry, "fedns_store_bad_records_total")).to.equal(1);

    await kv.put(`${KEY}/bad-type`, JSON.stringify({ host: "198.51.100.3", port: "80" }));
    await kv.put(`${KEY}/bad-type`, JSON.stringify({ host: "198.51.100.3", port: "80" }));
    await kv.put(`${KEY}/bad-address`, JSON.stringify({ host: "300.1.2.3.4:x" }));
    await eventually(async () => (await metric(registry, "fedns_store_bad_records_total")) === 3, "bad values");
    expect(await metric(registry, "fedns_store_bad_keys")).to.equal(3);
    // A fixed value is served and the key no longer counts as bad.
    await kv.put(`${KEY}/bad-type`, JSON.stringify({ host: "198.51.100.3", port: 80 }));
    await eventually(() => hosts(index, NAME).length === 2, "the fixed value");
    expect(await metric(registry, "fedns_store_bad_keys")).to.equal(2);
    expect(await metric(registry, "fedns_store_bad_records_total")).to.equal(3);
    expect(source.status().ready).to.equal(true);
  });

  it("reports not ready with a reason while the store is away, keeps serving, and catches up", async () => {
    await kv.put(`${KEY}/a`, JSON.stringify({ host: "198.51.100.1" }));
    source = startRecordSource({ backend: kv, prefix: "/skydns", index, registry });
    await source.loaded;
    kv.setAvailable(false);
    const status = source.status();
    expect(status.ready).to.equal(false);
    expect(status.reason).to.match(/disconnected/);
    expect(hosts(index, NAME)).to.deep.equal(["198.51.100.1"]);
    kv.setAvailable(true);
    await kv.put(`${KEY}/b`, JSON.stringify({ host: "198.51.100.2" }));
    await eventually(() => hosts(index, NAME).length === 2, "catching up");
    expect(source.status().ready).to.equal(true);
  });

  it("reloads after compaction while answers keep coming from the old index", async () => {
    await kv.put(`${KEY}/a`, JSON.stringify({ host: "198.51.100.1" }));
    source = startRecordSource({ backend: kv, prefix: "/skydns", index, registry });
    await source.loaded;
    // Written and compacted before the watch delivers it (the memory backend delivers on a later tick).
    await kv.txn(
      [],
      [
        { type: "put", key: `${KEY}/b`, value: JSON.stringify({ host: "198.51.100.2" }) },
        { type: "delete", key: `${KEY}/a` },
      ],
    );
    kv.compact();
    expect(hosts(index, NAME)).to.deep.equal(["198.51.100.1"]);
    await eventually(() => hosts(index, NAME).join() === "198.51.100.2", "the reload");
    expect(await metric(registry, "fedns_store_reloads_total")).to.equal(1);
    await kv.put(`${KEY}/c`, JSON.stringify({ host: "198.51.100.3" }));
    await eventually(() => hosts(index, NAME).length === 2, "watching again after the reload");
  });

  it("starts with the store down, retries with backoff and becomes ready when it returns", async () => {
    await kv.put(`${KEY}/a`, JSON.stringify({ host: "198.51.100.1" }));
    kv.setAvailable(false);
    source = startRecordSource({ backend: kv, prefix: "/skydns", index, registry, retry: { initialMs: 5, maxMs: 20 } });
    await eventually(() => source?.status().reason?.includes("loading records failed") ?? false, "first failure");
    expect(source.status().ready).to.equal(false);
    expect(index.current.size).to.equal(0);
    kv.setAvailable(true);
    await source.loaded;
    expect(source.status().ready).to.equal(true);
    expect(hosts(index, NAME)).to.deep.equal(["198.51.100.1"]);
  });

  it("reads the prefix in pages and indexes all of them before answering from it", async () => {
    for (let i = 0; i < 25; i++)
      await kv.put(`${KEY}/r${String(i).padStart(2, "0")}`, JSON.stringify({ host: `198.51.100.${i + 1}` }));
    const pages: RangeOptions[] = [];
    const counting: KvBackend = Object.assign(Object.create(kv) as KvBackend, {
      range: (prefix: string, options?: RangeOptions) => {
        if (prefix.startsWith("/skydns/")) pages.push(options ?? {});
        else markerReads.push(options ?? {});
        return kv.range(prefix, options);
      },
    });
    const markerReads: RangeOptions[] = [];
    source = startRecordSource({ backend: counting, prefix: "/skydns", index, registry, pageSize: 4 });
    expect(index.loaded).to.equal(false);
    await source.loaded;
    expect(index.loaded).to.equal(true);
    expect(hosts(index, NAME)).to.have.length(25);
    expect(pages).to.have.length(7);
    expect(pages.every((page) => page.limit === 4)).to.equal(true);
    expect(pages.slice(1).every((page) => page.revision === 25 && page.after !== undefined)).to.equal(true);
    // The serial markers once, at the records' revision.
    expect(markerReads.map((read) => read.revision)).to.deep.equal([25]);
  });

  it("calls beforeFirstSwap once, with the first load complete and nothing served yet, and not on reloads", async () => {
    for (let i = 0; i < 5; i++) await kv.put(`${KEY}/a${i}`, JSON.stringify({ host: `198.51.100.${i + 1}` }));
    const watches: WatchHandlers[] = [];
    const watched: KvBackend = Object.assign(Object.create(kv) as KvBackend, {
      watch: (prefix: string, from: number, handlers: WatchHandlers) => {
        watches.push(handlers);
        return kv.watch(prefix, from, handlers);
      },
    });
    const calls: { loaded: boolean }[] = [];
    source = startRecordSource({
      backend: watched,
      prefix: "/skydns",
      index,
      registry,
      pageSize: 2,
      beforeFirstSwap: () => calls.push({ loaded: index.loaded }),
    });
    await source.loaded;
    expect(calls).to.deep.equal([{ loaded: false }]);
    const previous = index.current;
    watches[0]!.onCompacted(kv.revision); // a reload
    await eventually(() => index.current !== previous, "the reload's swap");
    expect(await metric(registry, "fedns_store_reloads_total")).to.equal(1);
    expect(calls).to.have.length(1);
  });

  it("builds a reload off to the side: the previous index answers, whole, until the new one is complete", async () => {
    for (let i = 0; i < 6; i++) await kv.put(`${KEY}/old${i}`, JSON.stringify({ host: `198.51.100.${i + 1}` }));
    let hold: Promise<void> | undefined;
    let release: () => void = () => {};
    const gated: KvBackend = Object.assign(Object.create(kv) as KvBackend, {
      range: async (prefix: string, options?: RangeOptions) => {
        const page = await kv.range(prefix, options);
        if (options?.after !== undefined && hold !== undefined) await hold;
        return page;
      },
    });
    source = startRecordSource({ backend: gated, prefix: "/skydns", index, registry, pageSize: 2 });
    await source.loaded;
    const previous = index.current;
    hold = new Promise((resolve) => {
      release = resolve;
    });
    // Every old key replaced by a new one in one txn, compacted before the watch delivers it: a reload.
    await kv.txn(
      [],
      Array.from({ length: 6 }, (_, i) => [
        { type: "delete" as const, key: `${KEY}/old${i}` },
        { type: "put" as const, key: `${KEY}/new${i}`, value: JSON.stringify({ host: `203.0.113.${i + 1}` }) },
      ]).flat(),
    );
    kv.compact();
    await eventually(() => source?.status().reason?.includes("reloading") ?? false, "the reload to start");
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The first page of the new data has been read and indexed, yet nothing of it is served.
    expect(index.current).to.equal(previous);
    expect(hosts(index, NAME)).to.deep.equal([
      "198.51.100.1",
      "198.51.100.2",
      "198.51.100.3",
      "198.51.100.4",
      "198.51.100.5",
      "198.51.100.6",
    ]);
    release();
    await eventually(() => index.current !== previous, "the swap");
    expect(hosts(index, NAME)).to.deep.equal([
      "203.0.113.1",
      "203.0.113.2",
      "203.0.113.3",
      "203.0.113.4",
      "203.0.113.5",
      "203.0.113.6",
    ]);
    await eventually(() => source?.status().ready === true, "ready again");
  });
});

describe("store: record source, serial markers", () => {
  before(() => configureLogging("silent"));

  it("a marker that arrives before its txn's record events waits for them: the serial never leads the content", async () => {
    const kv = createMemoryBackend();
    await kv.put("/skydns/com/example/web/a", JSON.stringify({ host: "198.51.100.1" }));
    await kv.put("/skydns/com/example/web/b", JSON.stringify({ host: "198.51.100.2" }));
    // The records watch's events are held back here (another watcher, another stream: no order between them).
    let holding = false;
    const held: (() => void)[] = [];
    const backend = Object.create(kv) as KvBackend;
    backend.watch = (prefix, from, handlers) =>
      kv.watch(prefix, from, {
        ...handlers,
        onEvents: (events, revision) => {
          if (holding && prefix === "/skydns/") held.push(() => handlers.onEvents(events, revision));
          else handlers.onEvents(events, revision);
        },
      });
    const index = new LiveIndex({ prefix: "/skydns" });
    const source = startRecordSource({ backend, prefix: "/skydns", index });
    try {
      await source.loaded;
      const before = zoneSerial(index.current, "example.com");
      holding = true;
      const { revision } = await kv.txn(
        [],
        [
          { type: "delete", key: "/skydns/com/example/web/b" },
          { type: "put", key: serialMarkerKey("example.com"), value: serialMarkerValue("fedns/myfed") },
        ],
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(held, "the records event is held back").to.have.length(1);
      expect(hosts(index, "web.example.com")).to.deep.equal(["198.51.100.1", "198.51.100.2"]);
      expect(zoneSerial(index.current, "example.com"), "the serial waits for the content").to.equal(before);
      holding = false;
      for (const deliver of held.splice(0)) deliver();
      expect(hosts(index, "web.example.com")).to.deep.equal(["198.51.100.1"]);
      expect(index.current.serialMarks("example.com")).to.equal(revision);
      expect(zoneSerial(index.current, "example.com")).to.equal(revision);
    } finally {
      await source.stop();
    }
  });
});
