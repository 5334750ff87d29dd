// Two controllers on one etcd: exactly one writes; kill it and the other takes over and converges.
import { expect } from "chai";
import { type Simulation, startSimulation } from "../../../src/sim/index.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { type Started, startProcess } from "../../support/processes.ts";
import { eventually, hostsOf, PREFIX, parseRecords, type StoredRecord, scenario, serviceName } from "./support.ts";

const FIXTURE = new URL("./fixtures/controller-process.ts", import.meta.url).pathname;

interface Replica {
  id: string;
  process: Started;
}

function lastStatus(replica: Replica): { leader: boolean; ready: boolean } | undefined {
  const lines = replica.process
    .output()
    .split("\n")
    .filter((line) => line.startsWith(`{"id":"${replica.id}"`));
  const last = lines[lines.length - 1];
  return last === undefined ? undefined : (JSON.parse(last) as { leader: boolean; ready: boolean });
}

describe("controller leader election (two processes, one etcd)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let sim: Simulation;
  let reader: KvBackend;
  const replicas: Replica[] = [];

  const records = async (): Promise<StoredRecord[]> => parseRecords((await reader.range(`${PREFIX}/`)).kvs);

  before(async () => {
    etcd = await startEtcd();
    reader = createEtcdBackend({ endpoints: [etcd.endpoint] });
    sim = await startSimulation({ scenario: scenario() });
    for (const id of ["replica-1", "replica-2"]) {
      const args = JSON.stringify({
        etcd: etcd.endpoint,
        kubeconfig: sim.kubeconfigPath,
        clusters: sim.clusters.map((cluster) => cluster.name),
        id,
      });
      replicas.push({
        id,
        process: startProcess(process.execPath, [FIXTURE, args], { env: { ...process.env, FEDNS_LOG_LEVEL: "warn" } }),
      });
    }
  });

  after(async () => {
    await Promise.all(replicas.map((replica) => replica.process.stop("SIGKILL")));
    await reader?.close();
    await sim?.stop().catch(() => undefined);
    await etcd?.destroy();
  });

  it("has exactly one writer, and the other takes over within 10 s of the leader's death", async () => {
    const global = serviceName("web");
    await eventually(records, (all) => hostsOf(all, global).length === 3, "records written", 30_000);
    const statuses = await eventually(
      async () => replicas.map(lastStatus),
      (all) => all.every((status) => status?.ready === true) && all.filter((status) => status?.leader).length === 1,
      "both replicas synced, one of them leading",
    );
    expect(statuses.filter((status) => status?.leader).length).to.equal(1);
    const leader = replicas.find((replica) => lastStatus(replica)?.leader)!;
    const follower = replicas.find((replica) => replica !== leader)!;

    // Only the leader writes: with the leader stopped (SIGSTOP) a change does not reach etcd.
    leader.process.child.kill("SIGSTOP");
    sim
      .cluster("west-a")
      .patchStatus("Service", "default", "web", { loadBalancer: { ingress: [{ ip: "198.51.100.33" }] } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hostsOf(await records(), global)).to.include("198.51.100.3");
    await leader.process.stop("SIGKILL");

    await eventually(
      records,
      (all) => hostsOf(all, global).includes("198.51.100.33") && !hostsOf(all, global).includes("198.51.100.3"),
      "the follower writes the change",
      10_000,
    );
    // The fixture prints its status periodically, so the new leader may say so a moment after writing.
    const status = await eventually(
      async () => lastStatus(follower),
      (last) => last?.leader === true,
      "the follower reports leadership",
      5_000,
    );
    expect(status?.leader).to.equal(true);
  });
});
