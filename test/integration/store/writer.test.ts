import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { RecordWriter } from "../../../src/store/writer.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";

const OWNER = "fedns/myfed";
const MAX_TXN_OPS = 8;

function serviceKey(service: string, leaf: string, region?: string): string {
  const location = region === undefined ? "" : `${region}/`;
  return `/skydns/com/example/${location}svc/myfed/default/${service}/${leaf}`;
}

function records(service: string, count: number, ttl = 30): Map<string, SkydnsService> {
  const wanted = new Map<string, SkydnsService>();
  for (let i = 0; i < count; i++) {
    const host = `198.51.100.${i + 1}`;
    wanted.set(serviceKey(service, `east-a-${String(i).padStart(8, "0")}`), {
      host,
      ttl,
      owner: OWNER,
      cluster: "east-a",
    });
    wanted.set(serviceKey(service, `east-a-${String(i).padStart(8, "0")}`, "us-east-1"), {
      host,
      ttl,
      owner: OWNER,
      cluster: "east-a",
    });
  }
  return wanted;
}

describe("store: RecordWriter on a real etcd", function () {
  this.timeout(30_000);
  let etcd: EtcdProcess;
  let backend: KvBackend;

  before(async () => {
    configureLogging("silent");
    etcd = await startEtcd({ maxTxnOps: MAX_TXN_OPS });
    backend = createEtcdBackend({ endpoints: [etcd.endpoint], maxTxnOps: MAX_TXN_OPS });
  });
  after(async () => {
    await backend?.close();
    await etcd?.destroy();
  });

  it("writes each unit in exactly one txn, and a restarted writer with the same state writes nothing", async () => {
    const desired = { nginx: records("nginx", 2), redis: records("redis", 1), web: records("web", 2) };
    const writer = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER });
    const start = await etcd.revision();
    for (const [service, wanted] of Object.entries(desired)) {
      const result = await writer.writeUnit(`default/${service}`, wanted);
      expect(result.txns).to.equal(1);
    }
    expect(await etcd.revision()).to.equal(start + 3);
    const stored = JSON.parse(
      await etcd.etcdctl(["get", serviceKey("nginx", "east-a-00000000", "us-east-1"), "--print-value-only"]),
    ) as SkydnsService;
    expect(stored).to.deep.equal({ host: "198.51.100.1", ttl: 30, owner: OWNER, cluster: "east-a" });

    const restarted = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER });
    expect(await restarted.ownedUnits()).to.deep.equal(["default/nginx", "default/redis", "default/web"]);
    for (const [service, wanted] of Object.entries(desired)) await restarted.writeUnit(`default/${service}`, wanted);
    expect(await etcd.revision()).to.equal(start + 3);

    // A unit that disappeared while the writer was away is deleted in one txn.
    await restarted.deleteUnit("default/redis");
    expect(await etcd.revision()).to.equal(start + 4);
    expect(
      await etcd.etcdctl(["get", "--prefix", "/skydns/com/example/svc/myfed/default/redis/", "--keys-only"]),
    ).to.equal("");
  });

  it("leaves keys of other owners alone, even inside the unit's names", async () => {
    const foreign = JSON.stringify({ host: "192.0.2.1", owner: "fedns/otherfed" });
    const manual = JSON.stringify({ host: "192.0.2.2" });
    await etcd.etcdctl(["put", serviceKey("shared", "east-a-00000000"), foreign]);
    await etcd.etcdctl(["put", serviceKey("shared", "manual"), manual]);
    const writer = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER });
    const result = await writer.writeUnit("default/shared", records("shared", 1));
    expect(result).to.include({ puts: 1, skipped: 1 });
    await writer.deleteUnit("default/shared");
    expect(
      (await etcd.etcdctl(["get", serviceKey("shared", "east-a-00000000"), "--print-value-only"])).trim(),
    ).to.equal(foreign);
    expect((await etcd.etcdctl(["get", serviceKey("shared", "manual"), "--print-value-only"])).trim()).to.equal(manual);
    expect(await etcd.etcdctl(["get", serviceKey("shared", "east-a-00000000", "us-east-1"), "--keys-only"])).to.equal(
      "",
    );
  });

  it("splits a unit only past etcd's --max-txn-ops", async () => {
    const writer = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER });
    const start = await etcd.revision();
    const exactlyAtLimit = await writer.writeUnit("default/big", records("big", MAX_TXN_OPS / 2));
    expect(exactlyAtLimit.txns).to.equal(1);
    expect(await etcd.revision()).to.equal(start + 1);
    const grown = await writer.writeUnit("default/big", records("big", 10, 60));
    expect(grown).to.include({ puts: 20, deletes: 0, txns: 3 });
    expect(await etcd.revision()).to.equal(start + 4);
    const keys = (await etcd.etcdctl(["get", "--prefix", "/skydns/com/example/", "--keys-only"]))
      .split("\n")
      .filter((key) => key.includes("/big/"));
    expect(keys).to.have.length(20);
  });
});
