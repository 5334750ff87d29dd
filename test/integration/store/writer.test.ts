import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { NotLeaderError, RecordWriter } from "../../../src/store/writer.ts";
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
    await restarted.ready();
    expect(restarted.ownedUnits()).to.deep.equal(["default/nginx", "default/redis", "default/web"]);
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
    // Each name (10 puts) is larger than one transaction (8 ops): it is split alone, puts first, 8 + 2 per name.
    expect(grown).to.include({ puts: 20, deletes: 0, txns: 4 });
    expect(await etcd.revision()).to.equal(start + 5);
    const keys = (await etcd.etcdctl(["get", "--prefix", "/skydns/com/example/", "--keys-only"]))
      .split("\n")
      .filter((key) => key.includes("/big/"));
    expect(keys).to.have.length(20);
  });

  describe("leader fencing", () => {
    const keysOf = async (service: string): Promise<string[]> =>
      (await etcd.etcdctl(["get", "--prefix", "/skydns/com/example/", "--keys-only"]))
        .split("\n")
        .filter((key) => key.includes(`/myfed/default/${service}/`));

    it("writes while elected, and fails with NotLeaderError once another candidate took over", async () => {
      const a = backend.campaign("fedns/test/fence-resign", "a", 5);
      await a.elected;
      const writer = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER, fence: () => a.fence() });
      expect((await writer.writeUnit("default/fenced", records("fenced", 1))).txns).to.equal(1);

      await a.resign();
      const b = backend.campaign("fedns/test/fence-resign", "b", 5);
      await b.elected;
      const revision = await etcd.revision();
      const failed = await writer.writeUnit("default/fenced", records("fenced", 2)).catch((err: unknown) => err);
      expect(failed).to.be.instanceOf(NotLeaderError);
      expect(await etcd.revision()).to.equal(revision);
      expect(await keysOf("fenced")).to.have.length(2);
      await b.resign();
    });

    it("keeps a deposed leader that has not noticed from committing anything", async () => {
      const a = backend.campaign("fedns/test/fence-deposed", "a", 5);
      await a.elected;
      const fenceA = a.fence();
      if (fenceA === undefined) throw new Error("no fence while leader");
      expect(fenceA.key).to.match(/^election\/fedns\/test\/fence-deposed\//);
      const writer = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER, fence: () => a.fence() });
      expect((await writer.writeUnit("default/deposed", records("deposed", 1))).txns).to.equal(1);

      // A's election key goes away behind its back (as when its lease expired during a pause or partition):
      // A still believes it leads, B wins.
      await etcd.etcdctl(["del", fenceA.key]);
      const b = backend.campaign("fedns/test/fence-deposed", "b", 5);
      await b.elected;
      expect(a.isLeader()).to.equal(true);
      expect(a.fence()).to.deep.equal(fenceA);

      const revision = await etcd.revision();
      const failed = await writer.writeUnit("default/deposed", records("deposed", 2)).catch((err: unknown) => err);
      expect(failed).to.be.instanceOf(NotLeaderError);
      expect(await etcd.revision()).to.equal(revision);
      expect(await keysOf("deposed")).to.have.length(2);

      // B's writer, fenced by B, writes the same change.
      const writerB = new RecordWriter({ backend, prefix: "/skydns", owner: OWNER, fence: () => b.fence() });
      expect((await writerB.writeUnit("default/deposed", records("deposed", 2))).puts).to.equal(2);
      expect(await keysOf("deposed")).to.have.length(4);
      await a.resign();
      await b.resign();
    });
  });
});
