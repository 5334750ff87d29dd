// bench/reconcile (issue 8): what one full reconcile of a restarted controller costs, in process. Builds the
// desired state of a bench/scale ladder step (bench/index/dataset.ts: N clusters × 1,000 services, each in 10
// clusters), puts every record it plans into an in-memory store (as a first controller would have written
// them), loads the store's view with the real RecordWriter, then times one full reconcile through the real
// FederationView and Reconciler (every unit planned, fingerprinted and diffed; nothing is written) and prints
// CPU µs per key, the heap, and the longest synchronous slice (event-loop block). Bounded; CI does not run it.
// Run with node --expose-gc.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { FederationView } from "../../src/controller/federation-view.ts";
import type { HostnameResolver } from "../../src/controller/hostnames.ts";
import type { Membership } from "../../src/controller/membership.ts";
import { Reconciler } from "../../src/controller/reconciler.ts";
import { parseNetwork } from "../../src/federation/addresses.ts";
import { DEFAULT_LIMITS } from "../../src/federation/limits.ts";
import { plan } from "../../src/federation/plan.ts";
import type { ClusterState, PlanOptions } from "../../src/federation/state.ts";
import { realTimers } from "../../src/obs/clock.ts";
import { setRootLogger } from "../../src/obs/log.ts";
import { encodeService } from "../../src/records/service.ts";
import type { KvBackend, RangeOptions, RangeResult } from "../../src/store/kv.ts";
import { createMemoryBackend } from "../../src/store/memory-kv.ts";
import { RecordWriter } from "../../src/store/writer.ts";
import { DOMAIN, federationOf, PREFIX } from "../index/dataset.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "100" },
    passes: { type: "string", default: "2" },
    "slice-units": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("node --expose-gc bench/reconcile/run.ts [--clusters 100] [--passes 2] [--slice-units N]");
  process.exit(0);
}
const CLUSTERS = Number(values.clusters);
const PASSES = Math.max(1, Math.min(5, Number(values.passes)));
const MIB = 1024 * 1024;
setRootLogger(pino({ level: "warn" }));

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error("run with node --expose-gc");
  collect();
  collect();
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const OWNER = "fedns/myfed";
const allowedNetworks = [parseNetwork("10.0.0.0/8")!];
const planOptions: PlanOptions = {
  federation: "myfed",
  domain: DOMAIN,
  prefix: PREFIX,
  owner: OWNER,
  ttl: { default: 30, min: 5, max: 3600 },
  srv: { priority: 10, weight: 100 },
  namespaces: [],
  policy: {
    clusters: new Map(Array.from({ length: CLUSTERS }, (_, c) => [`cluster-${c}`, { allowedNetworks }] as const)),
    limits: DEFAULT_LIMITS,
  },
};

/** A member as FederationView reads it: synced and active, its shards fixed. */
function memberOf(state: ClusterState) {
  const shards = state.services;
  const recordCost = [...shards.values()].reduce((sum, shard) => sum + shard.ingress.length, 0);
  const watch = {
    name: state.name,
    synced: true,
    nodesVersion: 1,
    shardsVersion: 1,
    recordCost,
    shards,
    lifecycle: { status: "active" as const, phase: "active" as const, unreachableSince: undefined },
  };
  return { config: { name: state.name }, watch, location: {}, addedAt: 0, state };
}

const federation = federationOf(CLUSTERS);
const members = [...federation.clusters.values()].map(memberOf);
const membership = {
  version: 1,
  all: () => members.values(),
  units: () => {
    const units = new Set<string>();
    for (const { watch } of members) for (const key of watch.shards.keys()) units.add(key);
    return units;
  },
  hostnames: () => new Set<string>(),
  states: (_resolved: Map<string, string[]>, only: ReadonlySet<string> | undefined) => {
    const states = new Map<string, ClusterState>();
    for (const { state, watch } of members) {
      let services = state.services;
      if (only !== undefined) {
        services = new Map();
        for (const key of only) {
          const shard = state.services.get(key);
          if (shard !== undefined) services.set(key, shard);
        }
      }
      states.set(state.name, {
        ...state,
        services,
        recordCost: watch.recordCost,
        ...(only === undefined ? {} : { allServices: state.services }),
      });
    }
    return states;
  },
} as unknown as Membership;
const resolver = { resolved: new Map(), want: () => {}, add: () => {} } as unknown as HostnameResolver;

const backend = createMemoryBackend();
let keys = 0;
{
  const started = performance.now();
  const everything = plan({ clusters: federation.clusters }, planOptions);
  for (const records of everything.services.values()) {
    const ops = [...records].map(([key, service]) => ({ type: "put" as const, key, value: encodeService(service) }));
    await backend.txn([], ops);
    keys += ops.length;
  }
  console.error(`store: ${keys} keys in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

// The memory backend's range scans every key per page; the view's load pages through a sorted copy instead, so
// that what is timed is the writer's work, not the test backend's.
const sorted = (await backend.range(`${PREFIX}/`)).kvs;
const paged: KvBackend = Object.create(backend);
paged.range = async (prefix: string, options: RangeOptions = {}): Promise<RangeResult> => {
  let lo = 0;
  let hi = sorted.length;
  const after = options.after ?? "";
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.key <= after) lo = mid + 1;
    else hi = mid;
  }
  let end = lo;
  const limit = options.limit ?? 0;
  while (end < sorted.length && sorted[end]!.key.startsWith(prefix) && (limit <= 0 || end - lo < limit)) end++;
  const kvs = sorted.slice(lo, end);
  const more = end < sorted.length && sorted[end]!.key.startsWith(prefix);
  return more
    ? { kvs, revision: backend.revision, more, next: kvs[kvs.length - 1]!.key }
    : { kvs, revision: backend.revision };
};
const writer = new RecordWriter({ backend: paged, prefix: PREFIX, owner: OWNER, timers: realTimers });
{
  const cpu = cpuMs();
  const started = performance.now();
  await writer.ready();
  const ms = cpuMs() - cpu;
  console.log(
    `writer view load: ${keys} keys, ${(performance.now() - started).toFixed(0)} ms wall, ${ms.toFixed(0)} ms CPU (${((ms * 1000) / keys).toFixed(1)} µs/key)`,
  );
}

const view = new FederationView({ membership, resolver, writer, planOptions, timers: realTimers });
const reconciler = new Reconciler({
  plan: (only) => view.plan(only),
  units: () => membership.units(),
  signature: (unit) => view.signature(unit),
  writer,
  batchMs: 0,
  timers: realTimers,
  ...(values["slice-units"] === undefined ? {} : { sliceUnits: Number(values["slice-units"]) }),
});

for (let pass = 1; pass <= PASSES; pass++) {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const lag = monitorEventLoopDelay({ resolution: 1 });
  // The longest gap between two turns of a 1 ms heartbeat: the longest synchronous slice, as the lease sees it.
  let last = performance.now();
  let longest = 0;
  let longestAt = 0;
  const beat = setInterval(() => {
    const now = performance.now();
    if (now - last > longest) {
      longest = now - last;
      longestAt = last - started;
    }
    last = now;
  }, 1);
  // The forced gc() above leaves work (sweeping) for the next turns: let it pass before the pass is timed, so
  // that the longest slice is the reconcile's, not the bench's.
  let started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log(`  before the pass: longest gap ${longest.toFixed(1)} ms`);
  longest = 0;
  started = performance.now();
  lag.enable();
  const cpu = cpuMs();
  // A restarted leader: nothing it wrote before is trusted, every unit is planned and diffed.
  reconciler.enable();
  await reconciler.whenIdle();
  const wall = performance.now() - started;
  const ms = cpuMs() - cpu;
  lag.disable();
  clearInterval(beat);
  const stats = reconciler.lastStats;
  const heapAfter = process.memoryUsage().heapUsed;
  gc();
  const retained = process.memoryUsage();
  console.log(
    [
      `pass ${pass}: full reconcile of ${stats?.services} services / ${keys} keys (written ${stats?.written}, failed ${stats?.failed})`,
      `  CPU ${ms.toFixed(0)} ms (${((ms * 1000) / keys).toFixed(1)} µs/key), wall ${wall.toFixed(0)} ms`,
      `  longest synchronous slice ${longest.toFixed(1)} ms, from ${longestAt.toFixed(0)} ms into the pass (event-loop delay max ${(lag.max / 1e6).toFixed(1)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms)`,
      `  heap used ${(heapBefore / MIB).toFixed(0)} MiB before, ${(heapAfter / MIB).toFixed(0)} MiB at the end, ${(retained.heapUsed / MIB).toFixed(0)} MiB retained; RSS ${(retained.rss / MIB).toFixed(0)} MiB`,
    ].join("\n"),
  );
  reconciler.disable();
}
await reconciler.stop();
await writer.stop();
process.exit(0);
