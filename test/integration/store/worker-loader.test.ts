// The loader worker on a real etcd (store/load-worker.ts, worker-loader.ts; issue 8): a full load through it
// gives the very index the main thread's own load gives (bad values logged, counted and skipped the same way),
// at one revision, followed by the watch from the next one; it connects with the DNS servers' etcd identity;
// and a worker that crashes, exits half-way, posts a bad page, contradicts itself or goes silent is logged,
// counted and replaced by the main thread's load, with nothing served from what it delivered.
import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import type { RecordIndex } from "../../../src/records/index.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type RecordSource, type RecordSourceOptions, startRecordSource } from "../../../src/store/source.ts";
import { workerLoader } from "../../../src/store/worker-loader.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { type EtcdAuth, enableEtcdAuth } from "../../support/etcd-auth.ts";

const PREFIX = "/skydns";
const OWNER = "fedns/myfed";

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  return Number(found?.values[0]?.value ?? 0);
}

/** Keys of every shape the index knows, two bad values, and keys just outside the prefix. */
function dataset(): [string, string][] {
  const kvs: [string, string][] = [];
  for (let s = 0; s < 40; s++) {
    const name = `svc-${s}.ns-${s % 4}.myfed.svc.example.com`;
    const key = `${PREFIX}/com/example/svc/myfed/ns-${s % 4}/svc-${s}`;
    for (const cluster of ["east", "west", "north"]) {
      const host = `10.${s}.0.${cluster.length}`;
      kvs.push([`${key}/${cluster}-a1b2c3d4`, JSON.stringify({ host, ttl: 30, group: name, owner: OWNER, cluster })]);
    }
    kvs.push([
      `${key}/_tcp/_http/p80`,
      JSON.stringify({ host: name, port: 80, group: `_http._tcp.${name}`, owner: OWNER }),
    ]);
  }
  kvs.push(
    [`${PREFIX}/org/example/v6`, JSON.stringify({ host: "2001:db8::7", priority: 5, weight: 2 })],
    [`${PREFIX}/org/example/txt/Long-Leaf-Label-Here`, JSON.stringify({ host: "", text: "hi", mail: true })],
    [`${PREFIX}/org/example/alias`, JSON.stringify({ host: "target.example.org", targetstrip: 1, group: "g" })],
    [`${PREFIX}/org/example/bad-json`, "{not json"],
    [`${PREFIX}/org/example/bad-host`, JSON.stringify({ host: "198.51.100.300" })],
    [`${PREFIX}0/outside`, JSON.stringify({ host: "10.9.9.9" })],
  );
  return kvs;
}

async function fill(backend: KvBackend, kvs: readonly [string, string][]): Promise<void> {
  for (let i = 0; i < kvs.length; i += 100) {
    await backend.txn(
      [],
      kvs.slice(i, i + 100).map(([key, value]) => ({ type: "put" as const, key, value })),
    );
  }
}

function reading(index: RecordIndex): unknown[] {
  return index.all().map((record) => ({
    key: record.key,
    owner: record.owner,
    type: record.type,
    ttl: record.ttl,
    service: record.service,
    modRevision: record.modRevision,
  }));
}

interface Started {
  source: RecordSource;
  live: LiveIndex;
  registry: Registry;
  /** The size of the index at each complete load swapped in. */
  swaps: number[];
}

describe("store: loader worker on a real etcd", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let backend: KvBackend;
  const sources: RecordSource[] = [];
  const kvs = dataset();
  const good = kvs.filter(([key]) => key.startsWith(`${PREFIX}/`) && !key.includes("/bad-")).length;

  function start(options: Partial<RecordSourceOptions> = {}, through: KvBackend = backend): Started {
    const live = new LiveIndex({ prefix: PREFIX });
    const registry = newRegistry();
    const swaps: number[] = [];
    const source = startRecordSource({
      backend: through,
      prefix: PREFIX,
      index: live,
      registry,
      retry: { initialMs: 50, maxMs: 200 },
      onChange: (changes) => {
        if (changes === undefined) swaps.push(live.current.size);
      },
      ...options,
    });
    sources.push(source);
    return { source, live, registry, swaps };
  }

  before(async () => {
    configureLogging(process.env.FEDNS_TEST_LOGS === "1" ? "debug" : "silent");
    etcd = await startEtcd();
    backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
    await fill(backend, kvs);
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) await source.stop();
  });
  after(async () => {
    await backend?.close();
    await etcd?.destroy();
  });

  it("loads in pages exactly what the main thread loads, at one revision, then follows the watch", async () => {
    const inThread = start();
    const worker = start({ loader: workerLoader({ etcd: { endpoints: [etcd.endpoint] }, pageSize: 7 }) });
    await Promise.all([inThread.source.loaded, worker.source.loaded]);
    expect(worker.live.current.size).to.equal(good);
    expect(reading(worker.live.current)).to.deep.equal(reading(inThread.live.current));
    expect(worker.source.status().revision).to.equal(inThread.source.status().revision);
    expect(await metric(worker.registry, "fedns_store_bad_records_total")).to.equal(2);
    expect(await metric(worker.registry, "fedns_store_bad_keys")).to.equal(2);
    expect(await metric(worker.registry, "fedns_store_loader_worker_failures_total")).to.equal(0);
    expect(worker.swaps).to.deep.equal([good]);

    // The watch starts right after the load's revision: a change made now is seen, nothing before is replayed.
    await backend.txn([], [{ type: "put", key: `${PREFIX}/org/example/late`, value: '{"host":"10.1.2.3"}' }]);
    await eventually(() => worker.live.current.lookup("late.example.org") !== undefined, "the change after the load");
    expect(worker.live.current.size).to.equal(good + 1);
    await backend.txn([], [{ type: "delete", key: `${PREFIX}/org/example/late` }]);
    await eventually(() => worker.live.current.size === good, "the delete after the load");
  });

  const faults: [string, string, number?][] = [
    ["crashes on start", "crash.ts"],
    ["exits after one page of the load", "exit-midway.ts"],
    ["posts a page with a bad segment", "bad-page.ts"],
    ["changes the revision between pages", "wrong-revision.ts"],
    ["stays silent", "silent.ts", 300],
  ];
  for (const [what, file, idleMs] of faults) {
    it(`a worker that ${what} is logged and counted, and the main thread loads instead`, async () => {
      const loader = workerLoader({
        etcd: { endpoints: [etcd.endpoint] },
        workerUrl: new URL(`../../support/loader-workers/${file}`, import.meta.url),
        ...(idleMs === undefined ? {} : { idleMs }),
      });
      const started = start({ loader });
      await started.source.loaded;
      expect(await metric(started.registry, "fedns_store_loader_worker_failures_total")).to.equal(1);
      // The first index served is the complete one; nothing of what the worker delivered is in it.
      expect(started.swaps).to.deep.equal([good]);
      expect(started.live.current.lookup("partial.example.com")).to.equal(undefined);
      expect(started.live.current.lookup("x.example.com")).to.equal(undefined);
      expect(started.source.status().ready).to.equal(true);
    });
  }

  describe("with etcd authentication", () => {
    let authEtcd: EtcdProcess;
    let auth: EtcdAuth;

    before(async () => {
      authEtcd = await startEtcd();
      const open = createEtcdBackend({ endpoints: [authEtcd.endpoint] });
      try {
        await fill(open, kvs);
      } finally {
        await open.close();
      }
      auth = await enableEtcdAuth(authEtcd, PREFIX);
    });
    after(async () => {
      await authEtcd?.destroy();
    });

    it("the worker reads as the DNS servers' read-only user", async () => {
      const identity = { endpoints: [authEtcd.endpoint], username: auth.dns.username, password: auth.dns.password };
      const main = createEtcdBackend(identity);
      try {
        const started = start({ loader: workerLoader({ etcd: identity }) }, main);
        await started.source.loaded;
        expect(started.live.current.size).to.equal(good);
        expect(await metric(started.registry, "fedns_store_loader_worker_failures_total")).to.equal(0);
        await started.source.stop();
      } finally {
        await main.close();
      }
    });

    it("a refused identity fails the load (retried, not ready), which is no failure of the worker", async () => {
      const identity = { endpoints: [authEtcd.endpoint], username: auth.dns.username, password: "wrong" };
      const main = createEtcdBackend({ endpoints: [authEtcd.endpoint], ...auth.dns });
      try {
        const started = start({ loader: workerLoader({ etcd: identity }) }, main);
        await eventually(
          () => /loading records failed/.test(started.source.status().reason ?? ""),
          "the load to fail as the worker reports",
        );
        expect(started.live.loaded).to.equal(false);
        expect(await metric(started.registry, "fedns_store_loader_worker_failures_total")).to.equal(0);
        await started.source.stop();
      } finally {
        await main.close();
      }
    });
  });
});
