import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
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
});
