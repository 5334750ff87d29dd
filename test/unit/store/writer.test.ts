import { expect } from "chai";
import { serviceUnitOf } from "../../../src/federation/keys.ts";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import type { TxnCompare } from "../../../src/store/kv.ts";
import { createMemoryBackend, type MemoryBackend } from "../../../src/store/memory-kv.ts";
import { NotLeaderError, RECORD_CODEC, RecordWriter } from "../../../src/store/writer.ts";

const OWNER = "fedns/myfed";
const GLOBAL = "/skydns/com/example/svc/myfed/default/nginx";
const ZONE = "/skydns/com/example/us-east-1/us-east-1a/svc/myfed/default/nginx";
const OTHER_SERVICE = "/skydns/com/example/svc/myfed/default/redis";

function record(host: string, extra: Partial<SkydnsService> = {}): SkydnsService {
  return { host, ttl: 30, owner: OWNER, cluster: "east-a", ...extra };
}

function desired(entries: [string, SkydnsService][]): Map<string, SkydnsService> {
  return new Map(entries);
}

async function metric(registry: ReturnType<typeof newRegistry>, name: string, labels: Record<string, string>) {
  const found = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  const value = found?.values.find((entry) =>
    Object.entries(labels).every(([label, wanted]) => entry.labels[label] === wanted),
  );
  return value?.value ?? 0;
}

describe("store: RecordWriter (memory backend)", () => {
  let kv: MemoryBackend;
  before(() => configureLogging("silent"));
  beforeEach(() => {
    kv = createMemoryBackend();
  });

  it("maps fedns keys to their service unit", () => {
    const unitOf = serviceUnitOf("/skydns", "myfed");
    expect(unitOf(`${ZONE}/east-a-0a0b0c0d`)).to.equal("default/nginx");
    expect(unitOf(`${GLOBAL}/_tcp/_http/east-a-01020304`)).to.equal("default/nginx");
    expect(unitOf("/skydns/com/svc/myfed/svc/myfed/ns/s/leaf")).to.equal("ns/s");
    // Namespace "svc" holding a service named like the federation, with SRV labels below it.
    expect(unitOf("/skydns/com/example/svc/myfed/svc/myfed/_tcp/_http/leaf")).to.equal("svc/myfed");
    expect(unitOf("/skydns/com/example/svc/otherfed/default/nginx/x")).to.equal(undefined);
    expect(unitOf("/elsewhere/com/example/svc/myfed/default/nginx/x")).to.equal(undefined);
  });

  it("writes a unit in one txn with owner set, and writing the same state again writes nothing", async () => {
    const registry = newRegistry();
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, registry });
    const want = desired([
      [`${GLOBAL}/east-a-00000001`, record("198.51.100.1")],
      [`${ZONE}/east-a-00000001`, record("198.51.100.1", { owner: undefined })],
      [`${GLOBAL}/_tcp/_http/east-a-00000001`, record(`nginx.default.myfed.svc.example.com`, { port: 80 })],
    ]);
    const first = await writer.writeUnit("default/nginx", want);
    expect(first).to.deep.equal({ puts: 3, deletes: 0, txns: 1, skipped: 0 });
    expect(kv.revision).to.equal(1);
    expect(JSON.parse(kv.get(`${ZONE}/east-a-00000001`)?.value ?? "{}").owner).to.equal(OWNER);

    const again = await writer.writeUnit("default/nginx", want);
    expect(again).to.deep.equal({ puts: 0, deletes: 0, txns: 0, skipped: 0 });
    // A restarted controller (fresh writer) with the same desired state writes nothing either.
    const restarted = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    await restarted.writeUnit("default/nginx", want);
    expect(kv.revision).to.equal(1);
    expect(await metric(registry, "fedns_controller_records_written_total", { op: "put" })).to.equal(3);
    expect(await metric(registry, "fedns_controller_txn_total", { result: "success" })).to.equal(1);
  });

  it("does not rewrite values that differ only in formatting", async () => {
    await kv.put(
      `${GLOBAL}/east-a-00000001`,
      '{ "ttl": 30, "cluster": "east-a", "owner": "fedns/myfed", "host": "198.51.100.1" }',
    );
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    const result = await writer.writeUnit(
      "default/nginx",
      desired([[`${GLOBAL}/east-a-00000001`, record("198.51.100.1")]]),
    );
    expect(result.puts).to.equal(0);
    expect(kv.revision).to.equal(1);
  });

  it("replaces changed records and deletes undesired owned ones in the same txn", async () => {
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    await writer.writeUnit(
      "default/nginx",
      desired([
        [`${GLOBAL}/east-a-00000001`, record("198.51.100.1")],
        [`${GLOBAL}/east-a-00000002`, record("198.51.100.2")],
      ]),
    );
    const result = await writer.writeUnit(
      "default/nginx",
      desired([
        [`${GLOBAL}/east-a-00000001`, record("198.51.100.1", { ttl: 60 })],
        [`${GLOBAL}/east-a-00000003`, record("198.51.100.3")],
      ]),
    );
    expect(result).to.deep.equal({ puts: 2, deletes: 1, txns: 1, skipped: 0 });
    expect(kv.revision).to.equal(2);
    const keys = (await kv.range("/skydns/")).kvs.map((entry) => entry.key);
    expect(keys).to.deep.equal([`${GLOBAL}/east-a-00000001`, `${GLOBAL}/east-a-00000003`]);
  });

  it("never changes or deletes keys of other owners or without owner", async () => {
    const foreign = JSON.stringify({ host: "192.0.2.9", owner: "someone-else" });
    const unowned = JSON.stringify({ host: "192.0.2.10" });
    await kv.put(`${GLOBAL}/manual`, unowned);
    await kv.put(`${GLOBAL}/east-a-00000001`, foreign);
    const registry = newRegistry();
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, registry });
    const result = await writer.writeUnit(
      "default/nginx",
      desired([
        [`${GLOBAL}/east-a-00000001`, record("198.51.100.1")],
        [`${GLOBAL}/east-a-00000002`, record("198.51.100.2")],
      ]),
    );
    expect(result).to.deep.equal({ puts: 1, deletes: 0, txns: 1, skipped: 1 });
    await writer.deleteUnit("default/nginx");
    expect(kv.get(`${GLOBAL}/east-a-00000001`)?.value).to.equal(foreign);
    expect(kv.get(`${GLOBAL}/manual`)?.value).to.equal(unowned);
    expect(kv.get(`${GLOBAL}/east-a-00000002`)).to.equal(undefined);
    expect(await metric(registry, "fedns_controller_records_skipped_total", { reason: "foreign-owner" })).to.equal(1);
  });

  it("re-reads and retries when someone else wrote a key meanwhile, without clobbering it", async () => {
    const registry = newRegistry();
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, registry });
    await writer.load();
    const foreign = JSON.stringify({ host: "192.0.2.9", owner: "fedns/otherfed" });
    await kv.put(`${GLOBAL}/east-a-00000001`, foreign);
    const result = await writer.writeUnit(
      "default/nginx",
      desired([
        [`${GLOBAL}/east-a-00000001`, record("198.51.100.1")],
        [`${GLOBAL}/east-a-00000002`, record("198.51.100.2")],
      ]),
    );
    expect(kv.get(`${GLOBAL}/east-a-00000001`)?.value).to.equal(foreign);
    expect(kv.get(`${GLOBAL}/east-a-00000002`)).to.not.equal(undefined);
    expect(result.txns).to.equal(1);
    expect(await metric(registry, "fedns_controller_txn_total", { result: "conflict" })).to.equal(1);
  });

  it("splits a unit only past the backend's op limit, puts before deletes", async () => {
    kv = createMemoryBackend({ maxTxnOps: 4 });
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    const keys = Array.from({ length: 4 }, (_, i) => `${GLOBAL}/east-a-0000000${i}`);
    const four = await writer.writeUnit(
      "default/nginx",
      desired(keys.map((key, i) => [key, record(`198.51.100.${i}`)])),
    );
    expect(four.txns).to.equal(1);
    const replacement = Array.from({ length: 6 }, (_, i) => `${GLOBAL}/east-b-0000000${i}`);
    const seen: string[][] = [];
    const originalTxn = kv.txn.bind(kv);
    kv.txn = async (compares, ops) => {
      seen.push(ops.map((op) => op.type));
      return originalTxn(compares, ops);
    };
    const result = await writer.writeUnit(
      "default/nginx",
      desired(replacement.map((key, i) => [key, record(`198.51.100.${i}`, { cluster: "east-b" })])),
    );
    expect(result).to.deep.equal({ puts: 6, deletes: 4, txns: 3, skipped: 0 });
    expect(seen).to.deep.equal([
      ["put", "put", "put", "put"],
      ["put", "put", "delete", "delete"],
      ["delete", "delete"],
    ]);
    expect((await kv.range(`${GLOBAL}/`)).kvs.map((entry) => entry.key)).to.deep.equal(replacement);
  });

  it("lists owned units after a restart so orphans can be deleted", async () => {
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    await writer.writeUnit("default/nginx", desired([[`${ZONE}/east-a-00000001`, record("198.51.100.1")]]));
    await writer.writeUnit("default/redis", desired([[`${OTHER_SERVICE}/east-a-00000001`, record("198.51.100.7")]]));
    await kv.put(`${OTHER_SERVICE}/foreign`, JSON.stringify({ host: "192.0.2.1", owner: "fedns/otherfed" }));
    await kv.put("/skydns/com/example/stray", JSON.stringify({ host: "192.0.2.2", owner: OWNER }));

    const restarted = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    await restarted.ready();
    expect(restarted.ownedUnits()).to.deep.equal(["", "default/nginx", "default/redis"]);
    expect([...restarted.storedClusters("default/nginx")]).to.deep.equal(["east-a"]);
    const revision = kv.revision;
    const removed = await restarted.deleteUnit("default/redis");
    expect(removed).to.deep.equal({ puts: 0, deletes: 1, txns: 1, skipped: 0 });
    await restarted.deleteUnit("");
    expect(kv.revision).to.equal(revision + 2);
    expect(restarted.ownedUnits()).to.deep.equal(["default/nginx"]);
    expect(kv.get(`${OTHER_SERVICE}/foreign`)).to.not.equal(undefined);
  });

  it("reads the store in pages of a bounded number of keys, and its view is the same as one read of all", async () => {
    for (let i = 0; i < 25; i++) {
      const key = `/skydns/com/example/svc/myfed/default/s${i}/east-a-0000000${i % 10}`;
      await kv.put(key, JSON.stringify({ ...record(`198.51.100.${i}`), cluster: i % 2 === 0 ? "east-a" : "west" }));
    }
    const limits: (number | undefined)[] = [];
    const counting = Object.create(kv) as MemoryBackend;
    counting.range = (prefix, options) => {
      limits.push(options?.limit);
      return kv.range(prefix, options);
    };
    const paged = new RecordWriter({ backend: counting, prefix: "/skydns", owner: OWNER, loadPageKeys: 4 });
    await paged.ready();
    expect(limits).to.have.length(7);
    expect(limits.every((limit) => limit === 4)).to.equal(true);
    const whole = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, loadPageKeys: 1000 });
    await whole.ready();
    expect(paged.ownedUnits()).to.have.length(25);
    expect(paged.ownedUnits()).to.deep.equal(whole.ownedUnits());
    for (const unit of whole.ownedUnits()) {
      expect([...paged.storedClusters(unit)]).to.deep.equal([...whole.storedClusters(unit)]);
    }
  });
  it("refuses keys outside the prefix or of another unit, and invalid values", async () => {
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    const result = await writer.writeUnit(
      "default/nginx",
      desired([
        ["/elsewhere/x", record("198.51.100.1")],
        [`${OTHER_SERVICE}/east-a-00000001`, record("198.51.100.1")],
        [`${GLOBAL}/bad`, record("not an address!")],
        [`${GLOBAL}/good`, record("198.51.100.1")],
      ]),
    );
    expect(result).to.deep.equal({ puts: 1, deletes: 0, txns: 1, skipped: 3 });
    expect((await kv.range("/")).kvs.map((entry) => entry.key)).to.deep.equal([`${GLOBAL}/good`]);
  });

  it("checks a desired value's validity only where the store does not hold it already", async () => {
    let checked = 0;
    const codec = {
      ...RECORD_CODEC,
      desired: (service: SkydnsService, owner: string) => {
        checked += 1;
        return RECORD_CODEC.desired(service, owner);
      },
    };
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, codec });
    const want = desired([
      [`${GLOBAL}/east-a-00000001`, record("198.51.100.1")],
      [`${GLOBAL}/east-a-00000002`, record("198.51.100.2")],
    ]);
    await writer.writeUnit("default/nginx", want);
    expect(checked).to.equal(2);
    checked = 0;
    // One record changed: only that one is checked (and written).
    want.set(`${GLOBAL}/east-a-00000002`, record("198.51.100.3"));
    expect((await writer.writeUnit("default/nginx", want)).puts).to.equal(1);
    expect(checked).to.equal(1);
    checked = 0;
    expect((await writer.writeUnit("default/nginx", want)).puts).to.equal(0);
    expect(checked).to.equal(0);
  });

  it("still refuses an invalid desired value that the store holds with our owner (and deletes it)", async () => {
    const key = `${GLOBAL}/east-a-00000001`;
    await kv.put(key, JSON.stringify({ host: "not an address!", ttl: 30, owner: OWNER, cluster: "east-a" }));
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    const result = await writer.writeUnit("default/nginx", desired([[key, record("not an address!")]]));
    expect(result).to.deep.equal({ puts: 0, deletes: 1, txns: 1, skipped: 1 });
    expect(kv.get(key)).to.equal(undefined);
  });

  it("serialises writes of one unit", async () => {
    const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER });
    const a = desired([[`${GLOBAL}/east-a-00000001`, record("198.51.100.1")]]);
    const b = desired([[`${GLOBAL}/east-a-00000002`, record("198.51.100.2")]]);
    await Promise.all([writer.writeUnit("default/nginx", a), writer.writeUnit("default/nginx", b)]);
    expect((await kv.range(`${GLOBAL}/`)).kvs.map((entry) => entry.key)).to.deep.equal([`${GLOBAL}/east-a-00000002`]);
  });

  describe("leader fencing", () => {
    const nginx = desired([[`${GLOBAL}/east-a-00000001`, record("198.51.100.1")]]);
    const nginx2 = desired([[`${GLOBAL}/east-a-00000002`, record("198.51.100.2")]]);

    it("writes while the fence holds, and refuses without a txn when the campaign is not leader", async () => {
      const a = kv.campaign("fedns/myfed/leader", "a", 5);
      await a.elected;
      const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, fence: () => a.fence() });
      expect((await writer.writeUnit("default/nginx", nginx)).txns).to.equal(1);
      await a.resign();
      let txns = 0;
      const originalTxn = kv.txn.bind(kv);
      kv.txn = async (compares, ops) => {
        txns++;
        return originalTxn(compares, ops);
      };
      const revision = kv.revision;
      const refused = await writer.writeUnit("default/nginx", nginx2).catch((err: unknown) => err);
      expect(refused).to.be.instanceOf(NotLeaderError);
      expect(txns).to.equal(0);
      expect(kv.revision).to.equal(revision);
    });

    it("stops with NotLeaderError, writing nothing and not retrying, once another candidate leads", async () => {
      const registry = newRegistry();
      const a = kv.campaign("fedns/myfed/leader", "a", 5);
      await a.elected;
      const fenceA = a.fence();
      expect(fenceA).to.not.equal(undefined);
      // A deposed leader that has not noticed yet (GC pause, partition) still hands out its old fence.
      let stale: TxnCompare | undefined = fenceA;
      const writer = new RecordWriter({
        backend: kv,
        prefix: "/skydns",
        owner: OWNER,
        registry,
        fence: () => stale,
      });
      expect((await writer.writeUnit("default/nginx", nginx)).txns).to.equal(1);
      const b = kv.campaign("fedns/myfed/leader", "b", 5);
      await a.resign();
      await b.elected;
      expect(b.fence()).to.not.deep.equal(fenceA);
      expect(a.fence()).to.equal(undefined);

      let txns = 0;
      const originalTxn = kv.txn.bind(kv);
      kv.txn = async (compares, ops) => {
        txns++;
        return originalTxn(compares, ops);
      };
      const revision = kv.revision;
      const failed = await writer.writeUnit("default/nginx", nginx2).catch((err: unknown) => err);
      expect(failed).to.be.instanceOf(NotLeaderError);
      expect(kv.revision).to.equal(revision);
      expect(kv.get(`${GLOBAL}/east-a-00000001`)).to.not.equal(undefined);
      // The write and the check of the fence alone; no reload-and-retry rounds.
      expect(txns).to.equal(2);
      expect(await metric(registry, "fedns_controller_txn_total", { result: "not-leader" })).to.equal(1);
      expect(await metric(registry, "fedns_controller_txn_total", { result: "conflict" })).to.equal(0);

      // The new leader's writer, fenced by b, writes; a conflict on a key is still retried as before.
      stale = undefined;
      const writerB = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, fence: () => b.fence() });
      await writerB.load();
      await kv.put(`${GLOBAL}/east-a-00000001`, JSON.stringify({ host: "198.51.100.9", owner: OWNER }));
      const result = await writerB.writeUnit("default/nginx", nginx2);
      expect(result).to.deep.equal({ puts: 1, deletes: 1, txns: 1, skipped: 0 });
      expect((await kv.range(`${GLOBAL}/`)).kvs.map((entry) => entry.key)).to.deep.equal([`${GLOBAL}/east-a-00000002`]);
    });

    it("leaves room for the fence compare within the backend's op limit", async () => {
      kv = createMemoryBackend({ maxTxnOps: 4 });
      const a = kv.campaign("fedns/myfed/leader", "a", 5);
      await a.elected;
      const writer = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, fence: () => a.fence() });
      const keys = Array.from({ length: 4 }, (_, i) => `${GLOBAL}/east-a-0000000${i}`);
      const result = await writer.writeUnit(
        "default/nginx",
        desired(keys.map((key, i) => [key, record(`198.51.100.${i}`)])),
      );
      expect(result).to.deep.equal({ puts: 4, deletes: 0, txns: 2, skipped: 0 });
    });
  });
});

describe("store: RecordWriter following the store", () => {
  let kv: MemoryBackend;
  let drifted: string[][];
  let writer: RecordWriter;
  const nginx = desired([[`${ZONE}/east-a-00000001`, record("198.51.100.1")]]);
  const until = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  };

  before(() => configureLogging("silent"));
  beforeEach(async () => {
    kv = createMemoryBackend();
    drifted = [];
    writer = new RecordWriter({
      backend: kv,
      prefix: "/skydns",
      owner: OWNER,
      onDrift: (units) => drifted.push(units),
    });
    await writer.follow();
    await writer.writeUnit("default/nginx", nginx);
    await until(() => false);
    drifted = [];
  });
  afterEach(() => writer.stop());

  it("reports an owned key deleted or edited by somebody else, and writing the unit again repairs it", async () => {
    await kv.delete(`${ZONE}/east-a-00000001`);
    await until(() => drifted.length > 0);
    expect(drifted).to.deep.equal([["default/nginx"]]);
    expect((await writer.writeUnit("default/nginx", nginx)).puts).to.equal(1);

    drifted = [];
    await kv.put(`${ZONE}/east-a-00000001`, JSON.stringify({ ...record("203.0.113.66"), owner: OWNER }));
    await until(() => drifted.length > 0);
    expect(drifted).to.deep.equal([["default/nginx"]]);
    expect((await writer.writeUnit("default/nginx", nginx)).puts).to.equal(1);
    expect(JSON.parse(kv.get(`${ZONE}/east-a-00000001`)!.value).host).to.equal("198.51.100.1");
  });

  it("does not take its own write for drift when the watch shows it before the txn returns (as etcd may)", async () => {
    // A backend whose txn responses come back only after the watch has delivered the txn's events.
    const slow = createMemoryBackend();
    const late: typeof slow = Object.assign(Object.create(slow) as typeof slow, {
      txn: async (...args: Parameters<typeof slow.txn>) => {
        const outcome = await slow.txn(...args);
        for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
        return outcome;
      },
    });
    const seen: string[][] = [];
    const own = new RecordWriter({ backend: late, prefix: "/skydns", owner: OWNER, onDrift: (u) => seen.push(u) });
    try {
      await own.follow();
      await own.writeUnit("default/nginx", nginx);
      await own.writeUnit("default/nginx", desired([[`${ZONE}/east-a-00000002`, record("198.51.100.2")]]));
      await until(() => false);
      expect(seen).to.deep.equal([]);
      // Somebody else's change to a key while our txn on it is in flight is still drift, once the txn returns.
      const writing = own.writeUnit("default/nginx", desired([[`${ZONE}/east-a-00000003`, record("198.51.100.3")]]));
      await new Promise((resolve) => setImmediate(resolve));
      await slow.put(`${ZONE}/east-a-00000003`, JSON.stringify({ ...record("203.0.113.9"), owner: OWNER }));
      await writing;
      await until(() => seen.length > 0);
      expect(seen).to.deep.equal([["default/nginx"]]);
    } finally {
      await own.stop();
      await slow.close();
    }
  });

  it("does not report its own writes once they are seen, and leaves other owners' keys alone", async () => {
    await writer.writeUnit("default/nginx", desired([[`${ZONE}/east-a-00000002`, record("198.51.100.2")]]));
    await until(() => false);
    expect(drifted).to.deep.equal([]);
    await kv.put(`${OTHER_SERVICE}/foreign`, JSON.stringify({ host: "192.0.2.1", owner: "someone-else" }));
    await until(() => drifted.length > 0);
    // Reported (its unit is ours to look at again), but the writer never touches it.
    expect(drifted).to.deep.equal([["default/redis"]]);
    const result = await writer.writeUnit("default/redis", new Map());
    expect(result).to.deep.equal({ puts: 0, deletes: 0, txns: 0, skipped: 0 });
    expect(kv.get(`${OTHER_SERVICE}/foreign`)).to.not.equal(undefined);
  });

  it("a full re-read reports what changed while it did not watch (after compaction too)", async () => {
    const plain = new RecordWriter({ backend: kv, prefix: "/skydns", owner: OWNER, onDrift: (u) => drifted.push(u) });
    await plain.ready();
    await kv.delete(`${ZONE}/east-a-00000001`);
    await plain.load();
    expect(drifted.at(-1)).to.deep.equal(["default/nginx"]);
    drifted = [];
    await plain.load();
    expect(drifted).to.deep.equal([]);
  });
});
