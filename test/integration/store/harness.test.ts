import { expect } from "chai";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";

describe("store: real etcd harness", () => {
  let etcd: EtcdProcess;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.destroy();
  });

  it("keeps data across restart and reports revisions", async () => {
    const before = await etcd.revision();
    await etcd.etcdctl(["put", "/harness/a", "1"]);
    expect(await etcd.revision()).to.equal(before + 1);
    await etcd.restart();
    expect((await etcd.etcdctl(["get", "/harness/a", "--print-value-only"])).trim()).to.equal("1");
    const compacted = await etcd.compact();
    expect(compacted).to.equal(before + 1);
  });
});
