// Unit tests of bench/scale's pure parts: the ladder's data set, the write-out figure, the tables, long tasks.
// Run: npx mocha test/unit/bench/scale.test.ts
import { expect } from "chai";
import { type CpuProfile, longTasks } from "../../../bench/scale/blocks.ts";
import {
  clustersOfService,
  formatFailoverTable,
  formatTable,
  type StepResult,
  servicesOfCluster,
  writeOutOf,
} from "../../../bench/scale/ladder.ts";

function step(overrides: Partial<StepResult> = {}): StepResult {
  return {
    clusters: 10,
    services: 1000,
    keys: 45_000,
    dbBytes: 14 * 2 ** 20,
    revision: 50_000,
    firstWriteOutMs: 4300,
    firstWriteOutKeys: 45_000,
    controllerRss: 400 * 2 ** 20,
    controllerPeakRss: 420 * 2 ** 20,
    restartSettleMs: 2900,
    settleBoundMs: 120_000,
    restartWrites: 0,
    leadershipChanges: 1,
    sigtermExitMs: 100,
    takeoverMs: 7200,
    takeoverSettleMs: 9000,
    takeoverWrites: 0,
    takeoverBoundMs: 60_000,
    withdrawnMs: 35_000,
    withdrawnKeys: 3000,
    withdrawnLeft: 0,
    graceMs: 30_000,
    serveColdStartMs: 2300,
    serveLoadMs: 1300,
    serveRss: 350 * 2 ** 20,
    servePeakRss: 350 * 2 ** 20,
    propagation: [30, 40, 50],
    lagMaxMs: 40,
    lagMetric: "fedns_event_loop_lag_max_seconds",
    simRss: 237 * 2 ** 20,
    ...overrides,
  };
}

describe("bench/scale", () => {
  it("spreads every service over 10 clusters and gives every cluster 1,000 services", () => {
    for (const clusters of [10, 50, 100]) {
      expect(new Set(clustersOfService(7, clusters)).size).to.equal(10);
      expect(servicesOfCluster(3, clusters)).to.have.length(1000);
    }
  });

  it("ends the first write-out when etcd first held every key, not when the count paused", () => {
    const samples: [number, number][] = [
      [1000, 10_000],
      [2000, 30_000],
      [8000, 30_000],
      [9000, 45_000],
      [15_000, 45_000],
    ];
    expect(writeOutOf(samples, 45_000)).to.equal(9000);
    expect(writeOutOf(samples, 50_000)).to.equal(undefined);
  });

  it("prints an incomplete write-out with the keys it reached", () => {
    const table = formatTable([step({ firstWriteOutMs: undefined, firstWriteOutKeys: 30_000 })]);
    expect(table).to.contain("incomplete: 30k of 45k keys when quiet");
    expect(formatTable([step()])).to.contain("| 4.3 s (45k keys) |");
  });

  it("prints takeover and withdrawal rows, and says when they did not happen", () => {
    const done = formatFailoverTable([step()]);
    expect(done).to.contain("| 10 × 1,000 | 7.2 s | 9.0 s, writes nothing | 35.0 s for 3,000 keys (grace 30.0 s) |");
    const failed = formatFailoverTable([
      step({ takeoverMs: undefined, takeoverSettleMs: undefined, withdrawnMs: undefined, withdrawnLeft: 120 }),
    ]);
    expect(failed).to.contain("not within 60.0 s");
    expect(failed).to.contain("not withdrawn: 120 of 3000 keys left");
  });

  it("finds runs of samples without idle time and attributes them to fedns functions", () => {
    const frame = (functionName: string, url = "") => ({ functionName, url, lineNumber: 0 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 3] },
        { id: 2, callFrame: frame("(idle)") },
        { id: 3, callFrame: frame("plan", "file:///w/src/federation/plan.ts"), children: [4] },
        { id: 4, callFrame: frame("sortByKey", "file:///w/src/federation/plan.ts") },
      ],
      startTime: 0,
      endTime: 200_000,
      // idle 10 ms, busy 60 ms (plan 20 + sortByKey 40), idle 10 ms, busy 30 ms, idle.
      samples: [2, 3, 4, 4, 2, 3, 2],
      timeDeltas: [0, 10_000, 20_000, 20_000, 20_000, 10_000, 30_000],
    };
    const tasks = longTasks(profile, { minMs: 50 });
    expect(tasks).to.have.length(1);
    expect(tasks[0]!.durationMs).to.equal(60);
    expect(tasks[0]!.atMs).to.equal(10);
    expect(tasks[0]!.self[0]).to.deep.equal({ label: "sortByKey (federation/plan.ts:1)", ms: 40 });
    expect(tasks[0]!.inclusive[0]).to.deep.equal({ label: "plan (federation/plan.ts:1)", ms: 60 });
    expect(longTasks(profile, { minMs: 20 })).to.have.length(2);
  });
});
