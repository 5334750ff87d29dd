import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend, LeaderCampaign } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { startProcess } from "../../support/processes.ts";

async function eventually(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("store: leader election on a real etcd", function () {
  this.timeout(40_000);
  let etcd: EtcdProcess;
  const backends: KvBackend[] = [];
  const client = (): KvBackend => {
    const backend = createEtcdBackend({ endpoints: [etcd.endpoint], requestTimeoutMs: 2000 });
    backends.push(backend);
    return backend;
  };

  before(async () => {
    configureLogging("silent");
    etcd = await startEtcd();
  });
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((backend) => backend.close()));
  });
  after(async () => {
    await etcd?.destroy();
  });

  it("elects exactly one of two candidates, and the other when the leader resigns", async () => {
    const a = client().campaign("fedns/test/resign", "a", 2);
    await a.elected;
    const b = client().campaign("fedns/test/resign", "b", 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(a.isLeader()).to.equal(true);
    expect(b.isLeader()).to.equal(false);
    const fenceA = a.fence();
    expect(fenceA?.key).to.match(/^election\/fedns\/test\/resign\//);
    expect(fenceA?.modRevision).to.be.greaterThan(0);
    expect(b.fence()).to.equal(undefined);
    await a.resign();
    await b.elected;
    expect(b.isLeader()).to.equal(true);
    expect(a.isLeader()).to.equal(false);
    expect(a.fence()).to.equal(undefined);
    expect(b.fence()?.key).to.not.equal(fenceA?.key);
    await b.resign();
  });

  it("elects the other candidate when the leader's process is killed", async () => {
    const script = fileURLToPath(new URL("../../support/campaign-process.ts", import.meta.url));
    const leader = startProcess(process.execPath, [script, etcd.endpoint, "fedns/test/die", "a", "2"]);
    await eventually(() => leader.output().includes("elected"), "the leader process to be elected", 10_000);
    const b = client().campaign("fedns/test/die", "b", 2);
    let bElected = false;
    void b.elected.then(() => {
      bElected = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bElected).to.equal(false);
    await leader.stop("SIGKILL");
    await eventually(() => bElected, "the standby to take over", 10_000);
    expect(b.isLeader()).to.equal(true);
    await b.resign();
  });

  it("closing a backend hands leadership over at once", async () => {
    const leaderBackend = client();
    const a = leaderBackend.campaign("fedns/test/close", "a", 30);
    await a.elected;
    const b = client().campaign("fedns/test/close", "b", 30);
    await leaderBackend.close();
    // Well within the 30 s lease: the leader's key was revoked, not left to expire.
    await Promise.race([
      b.elected,
      new Promise((_, reject) => setTimeout(() => reject(new Error("standby not elected")), 10_000)),
    ]);
    expect(b.isLeader()).to.equal(true);
    await b.resign();
  });

  it("reports the loss of leadership when etcd is unreachable past the lease TTL", async () => {
    const a: LeaderCampaign = client().campaign("fedns/test/lost", "a", 2);
    await a.elected;
    const lost: Error[] = [];
    a.onLost((reason) => lost.push(reason));
    await etcd.stop();
    try {
      await eventually(() => lost.length === 1, "the loss", 10_000);
      expect(a.isLeader()).to.equal(false);
      expect(a.fence()).to.equal(undefined);
    } finally {
      await etcd.start();
    }
    // A fresh campaign wins again once etcd is back.
    const again = client().campaign("fedns/test/lost", "a2", 2);
    await again.elected;
    expect(again.isLeader()).to.equal(true);
    await again.resign();
  });
});
