// bench/xfr/build.ts: how long a zone transfer's first version holds the event loop, in process, on the
// records plan() writes for a bench/scale ladder step (bench/index/dataset.ts: 100 clusters × 1,000 services
// ≈ 650,000 keys). Prints, for the zone of the whole federation:
// - before: `RecordIndex.all()`, the one synchronous snapshot the previous buildVersion began with (the
//   slices after it are not counted, so the previous figure was at least this);
// - after: buildVersion (a walk of the index's names in yielding slices), the longest gap between two turns
//   of the event loop while it runs (a setImmediate chain beside it), the number of turns, wall and CPU time;
// - the same for diffVersions between two versions (what a rebuild after a reload adds);
// - the copy of a version a full transfer still reads, before the next version is made: applyChanges' own
//   (`new Map` twice, one block) and the sliced unsharedCopy the service makes first.
// `node bench/xfr/build.ts --clusters 100` (under `flock /work/wt/bench.lock` at that size).
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { resolveZones, ZoneSet } from "../../src/dns/zones.ts";
import type { IndexChange } from "../../src/records/index.ts";
import { LiveIndex } from "../../src/records/live-index.ts";
import { buildVersion, diffVersions, unsharedCopy } from "../../src/xfr/content.ts";
import { DOMAIN, datasetOf, PREFIX } from "../index/dataset.ts";

const { values } = parseArgs({ options: { clusters: { type: "string", default: "100" } } });
const CLUSTERS = Number(values.clusters);

/** Runs `work` with a setImmediate chain beside it: the longest gap between two turns, and how many. */
async function blocking<T>(work: () => Promise<T>): Promise<{ result: T; longestMs: number; turns: number }> {
  let longest = 0;
  let turns = 0;
  let last = performance.now();
  let done = false;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const result = await work();
  done = true;
  longest = Math.max(longest, performance.now() - last);
  return { result, longestMs: longest, turns };
}

function cpuSeconds(start: NodeJS.CpuUsage): string {
  const used = process.cpuUsage(start);
  return ((used.user + used.system) / 1e6).toFixed(2);
}

async function main(): Promise<void> {
  const dataset = datasetOf(CLUSTERS);
  const live = new LiveIndex({ prefix: PREFIX });
  const index = live.create();
  const lines = dataset.lines.toString("utf8").split("\n");
  let batch: IndexChange[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const tab = line.indexOf("\t");
    if (tab > 0) batch.push({ type: "put", key: line.slice(0, tab), value: line.slice(tab + 1), revision: i + 1 });
    if (batch.length === 5000) {
      index.apply(batch);
      batch = [];
    }
  }
  index.apply(batch);
  live.swap(index);
  const zones = new ZoneSet(resolveZones([DOMAIN]));
  const zone = zones.all[0]!;
  console.log(`records in the index: ${index.size} (${CLUSTERS} clusters)`);

  let started = performance.now();
  let cpu = process.cpuUsage();
  const snapshot = index.all();
  console.log(
    `before: RecordIndex.all() (one synchronous block): ${(performance.now() - started).toFixed(0)} ms, cpu ${cpuSeconds(cpu)} s, ${snapshot.length} records`,
  );
  snapshot.length = 0;

  for (let run = 1; run <= 2; run++) {
    started = performance.now();
    cpu = process.cpuUsage();
    const built = await blocking(() => buildVersion(index, zone, zones));
    console.log(
      `after, run ${run}: buildVersion sliced: longest slice ${built.longestMs.toFixed(1)} ms, ${built.turns} turns, wall ${(performance.now() - started).toFixed(0)} ms, cpu ${cpuSeconds(cpu)} s, ${built.result.size} records at ${built.result.names.size} names`,
    );
    if (run === 2) {
      // applyChanges while a full transfer reads this version: it copies the zone's two maps, in one go.
      started = performance.now();
      const copies = [new Map(built.result.ownerOf), new Map(built.result.names)];
      console.log(
        `before: applyChanges' copy while a full transfer holds the version (one synchronous block): ${(performance.now() - started).toFixed(0)} ms for ${copies[0]!.size} keys and ${copies[1]!.size} names`,
      );
      copies.length = 0;
      started = performance.now();
      cpu = process.cpuUsage();
      const copied = await blocking(() => unsharedCopy(built.result));
      console.log(
        `after: unsharedCopy (what the service does first now): longest slice ${copied.longestMs.toFixed(1)} ms, ${copied.turns} turns, wall ${(performance.now() - started).toFixed(0)} ms, cpu ${cpuSeconds(cpu)} s`,
      );
      break;
    }
    const again = await buildVersion(index, zone, zones);
    started = performance.now();
    cpu = process.cpuUsage();
    const diffed = await blocking(() => diffVersions(built.result, again));
    console.log(
      `diffVersions of two full versions: longest slice ${diffed.longestMs.toFixed(1)} ms, ${diffed.turns} turns, wall ${(performance.now() - started).toFixed(0)} ms, cpu ${cpuSeconds(cpu)} s`,
    );
  }
}

await main();
