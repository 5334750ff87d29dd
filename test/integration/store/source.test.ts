import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import { type KvBackend, rangePages, type WatchHandlers } from "../../../src/store/kv.ts";
import { type RecordSource, startRecordSource } from "../../../src/store/source.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  return Number(found?.values[0]?.value ?? 0);
}

function hosts(index: LiveIndex, name: string): string[] {
  return (index.current.lookup(name) ?? []).map((record) => record.service.host).sort();
}

/** Holds watch creation until released, so that a test can compact the history the watch needs. */
function gatedWatches(backend: KvBackend): { backend: KvBackend; release: () => void; waiting: () => boolean } {
  let open: () => void = () => {};
  let pending = false;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const wrapped: KvBackend = {
    description: backend.description,
    maxTxnOps: backend.maxTxnOps,
    range: (prefix, options) => backend.range(prefix, options),
    txn: (compares, ops) => backend.txn(compares, ops),
    campaign: (name, candidate, ttl) => backend.campaign(name, candidate, ttl),
    close: () => backend.close(),
    watch: async (prefix: string, from: number, handlers: WatchHandlers) => {
      pending = true;
      await gate;
      return backend.watch(prefix, from, handlers);
    },
  };
  return { backend: wrapped, release: () => open(), waiting: () => pending };
}

describe("store: record source on a real etcd", function () {
  this.timeout(30_000);
  let etcd: EtcdProcess;
  let backend: KvBackend;
  let source: RecordSource | undefined;
  let registry: Registry;

  before(async () => {
    configureLogging(process.env.FEDNS_TEST_LOGS === "1" ? "debug" : "silent");
    etcd = await startEtcd();
    backend = createEtcdBackend({ endpoints: [etcd.endpoint], watchBackoff: { initialMs: 50, maxMs: 500 } });
  });
  after(async () => {
    await backend?.close();
    await etcd?.destroy();
  });
  beforeEach(() => {
    registry = newRegistry();
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });

  it("pages a prefix as sub-ranges: every key once, in order, at the first page's revision", async () => {
    const keys: string[] = [];
    for (let s = 0; s < 60; s++) {
      keys.push(
        `/paged/com/example/ns-${s % 3}/svc-${s}/_tcp/_http/p80`,
        `/paged/com/example/ns-${s % 3}/svc-${s}/c-${s * 31}`,
      );
    }
    keys.push("/paged/a", "/paged/zzzz/~~~", "/paged0", "/pagedX"); // the last two are outside the prefix
    for (let i = 0; i < keys.length; i += 100) {
      await backend.txn(
        [],
        keys.slice(i, i + 100).map((key) => ({ type: "put" as const, key, value: key })),
      );
    }
    const read: string[] = [];
    let revision: number | undefined;
    let pages = 0;
    for await (const page of rangePages(backend, "/paged/", 7)) {
      revision ??= page.revision;
      expect(page.revision).to.equal(revision);
      if (pages++ === 0) await backend.txn([], [{ type: "put", key: "/paged/b-after-the-snapshot", value: "x" }]);
      read.push(...page.kvs.map((kv) => kv.key));
    }
    const expected = keys.filter((key) => key.startsWith("/paged/")).sort();
    expect(read).to.deep.equal(expected);
  });

  it("serves what etcdctl puts and stops serving what it deletes", async () => {
    const index = new LiveIndex({ prefix: "/follow" });
    await etcd.etcdctl(["put", "/follow/com/example/web/a", JSON.stringify({ host: "198.51.100.1" })]);
    source = startRecordSource({ backend, prefix: "/follow", index, registry });
    await source.loaded;
    expect(hosts(index, "web.example.com")).to.deep.equal(["198.51.100.1"]);
    await etcd.etcdctl(["put", "/follow/com/example/web/b", JSON.stringify({ host: "2001:db8::1" })]);
    await eventually(() => hosts(index, "web.example.com").length === 2, "the put");
    await etcd.etcdctl(["del", "--prefix", "/follow/com/example/web/"]);
    await eventually(() => index.current.lookup("web.example.com") === undefined, "the delete");
    expect(source.status()).to.include({ ready: true, revision: await etcd.revision() });
  });

  it("skips and counts bad values and keeps serving the good ones", async () => {
    const index = new LiveIndex({ prefix: "/bad" });
    source = startRecordSource({ backend, prefix: "/bad", index, registry });
    await source.loaded;
    await etcd.etcdctl(["put", "/bad/com/example/web/json", "{oops"]);
    await etcd.etcdctl(["put", "/bad/com/example/web/type", JSON.stringify({ host: "198.51.100.5", ttl: "30" })]);
    await etcd.etcdctl(["put", "/bad/com/example/web/addr", JSON.stringify({ host: "2001:db8::zz" })]);
    await etcd.etcdctl(["put", "/bad/com/example/web/good", JSON.stringify({ host: "198.51.100.1" })]);
    await eventually(() => hosts(index, "web.example.com").length === 1, "the good record");
    expect(hosts(index, "web.example.com")).to.deep.equal(["198.51.100.1"]);
    expect(await metric(registry, "fedns_store_bad_records_total")).to.equal(3);
    expect(source.status().ready).to.equal(true);
  });

  it("reloads when etcd has compacted the history the watch needs", async () => {
    const index = new LiveIndex({ prefix: "/compact" });
    await etcd.etcdctl(["put", "/compact/com/example/web/a", JSON.stringify({ host: "198.51.100.1" })]);
    const gated = gatedWatches(backend);
    source = startRecordSource({ backend: gated.backend, prefix: "/compact", index, registry });
    await eventually(() => gated.waiting(), "the watch to be requested");
    await etcd.etcdctl(["put", "/compact/com/example/web/b", JSON.stringify({ host: "198.51.100.2" })]);
    await etcd.etcdctl(["del", "/compact/com/example/web/a"]);
    await etcd.compact();
    gated.release();
    await eventually(() => hosts(index, "web.example.com").join() === "198.51.100.2", "the reload");
    expect(await metric(registry, "fedns_store_reloads_total")).to.equal(1);
    await etcd.etcdctl(["put", "/compact/com/example/web/c", JSON.stringify({ host: "198.51.100.3" })]);
    await eventually(() => hosts(index, "web.example.com").length === 2, "following the watch after the reload");
  });

  it("keeps serving while etcd is stopped, says why it is not ready, and catches up after a restart", async () => {
    const index = new LiveIndex({ prefix: "/outage" });
    await etcd.etcdctl(["put", "/outage/com/example/web/a", JSON.stringify({ host: "198.51.100.1" })]);
    source = startRecordSource({ backend, prefix: "/outage", index, registry, retry: { initialMs: 50, maxMs: 500 } });
    await source.loaded;
    await etcd.stop();
    await eventually(() => source?.status().ready === false, "not ready", 10_000);
    expect(source.status().reason).to.match(/disconnected/);
    expect(hosts(index, "web.example.com")).to.deep.equal(["198.51.100.1"]);

    await etcd.start();
    // A write by another client right after the restart, possibly before the watch is back.
    await etcd.etcdctl(["put", "/outage/com/example/web/b", JSON.stringify({ host: "198.51.100.2" })]);
    await eventually(() => hosts(index, "web.example.com").length === 2, "the write made right after restart", 10_000);
    await eventually(() => source?.status().ready === true, "ready again", 10_000);
    await etcd.etcdctl(["del", "/outage/com/example/web/a"]);
    await eventually(() => hosts(index, "web.example.com").join() === "198.51.100.2", "a later delete");
  });

  it("starts while etcd is down, then loads and becomes ready when it comes up", async () => {
    const index = new LiveIndex({ prefix: "/late" });
    await etcd.etcdctl(["put", "/late/com/example/web/a", JSON.stringify({ host: "198.51.100.1" })]);
    await etcd.stop();
    const fresh = createEtcdBackend({ endpoints: [etcd.endpoint], requestTimeoutMs: 1000 });
    try {
      source = startRecordSource({
        backend: fresh,
        prefix: "/late",
        index,
        registry,
        retry: { initialMs: 50, maxMs: 500 },
      });
      await eventually(
        () => source?.status().reason?.includes("loading records failed") ?? false,
        "a failed load",
        10_000,
      );
      expect(source.status().ready).to.equal(false);
      await etcd.start();
      await source.loaded;
      expect(source.status().ready).to.equal(true);
      expect(hosts(index, "web.example.com")).to.deep.equal(["198.51.100.1"]);
    } finally {
      await source?.stop();
      source = undefined;
      await fresh.close();
    }
  });
});
