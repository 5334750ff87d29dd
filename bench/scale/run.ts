// bench/scale (issue 8): the ladder 10, 50, 100 clusters × 1,000 services (bench/scale/ladder.ts), each step on
// a fresh real etcd with the simulated API server (in this process), the controller and `fedns serve` as
// processes. Per step: etcd keys and db size, the controller's first write-out and RSS, a restart of the
// controller (settle time, writes), SIGTERM → exit, serve cold start and RSS, propagation p50/p99 and the largest
// event-loop lag the controller's metrics report. Prints the table; every wait is bounded.
import { execFile } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { pino } from "pino";
import { stringify } from "yaml";
import { logger, setRootLogger } from "../../src/obs/log.ts";
import { type Simulation, startSimulation } from "../../src/sim/index.ts";
import { ETCDCTL_BINARY, type EtcdProcess, startEtcd } from "../../test/support/etcd.ts";
import { freePort } from "../../test/support/ports.ts";
import { type Started, startProcess, stopAllProcesses } from "../../test/support/processes.ts";
import {
  clustersOfService,
  formatFailoverTable,
  formatTable,
  globalName,
  lbAddress,
  namespaceOf,
  type StepResult,
  scenarioFor,
  serviceName,
  servicesOf,
  writeOutOf,
} from "./ladder.ts";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "10,50,100" },
    changes: { type: "string", default: "40" },
    "settle-timeout": { type: "string", default: "120" },
    "write-timeout": { type: "string", default: "600" },
    "cpu-prof-dir": { type: "string" },
    "log-dir": { type: "string" },
    grace: { type: "string", default: "30" },
    "takeover-timeout": { type: "string", default: "60" },
    only: { type: "string" },
    restarts: { type: "string", default: "1" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "node bench/scale/run.ts [--steps 10,50,100] [--changes 40] [--settle-timeout 120] [--write-timeout 600] [--grace 30] [--takeover-timeout 60] [--cpu-prof-dir DIR] [--log-dir DIR] [--only restart [--restarts N]]",
  );
  process.exit(0);
}
const STEPS = values.steps.split(",").map(Number);
const CHANGES = Number(values.changes);
const SETTLE_BOUND_MS = Number(values["settle-timeout"]) * 1000;
const WRITE_BOUND_MS = Number(values["write-timeout"]) * 1000;
const GRACE_S = Number(values.grace);
const TAKEOVER_BOUND_MS = Number(values["takeover-timeout"]) * 1000;
/** `--only restart`: the first write-out, then only restarts of the controller (`--restarts N` of them). */
const ONLY_RESTART = values.only === "restart";
if (values.only !== undefined && !ONLY_RESTART) throw new Error(`--only: unknown phase ${values.only} (restart)`);
const RESTARTS = Math.max(1, Number(values.restarts));
/** The first write-out is over once the key count has not moved for this long. */
const QUIET_MS = 5000;
const FEDERATION = "myfed";
const DOMAIN = "example.com";
const PREFIX = "/skydns";
/** Where the controller publishes short names (config shortNames.prefix, default). */
const SHORT_PREFIX = "/fedns-short";
const NODE = process.execPath;
const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const run = promisify(execFile);

setRootLogger(pino({ level: "warn" }));
const log = logger("bench.scale");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the bench is doing: the controllers' event-loop lag is attributed to it. */
let phase = "start";

function note(message: string, next?: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
  if (next !== undefined) phase = next;
}

async function rssOf(child: Started): Promise<{ rss: number; peak: number } | undefined> {
  try {
    const status = await readFile(`/proc/${child.child.pid}/status`, "utf8");
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rss: kib("VmRSS") * 1024, peak: kib("VmHWM") * 1024 };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
async function cpuOf(child: Started): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${child.child.pid}/stat`, "utf8");
    // The fields after the command name (which is in parentheses and may hold spaces): utime is the 12th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine has been busy (every process, every core; /proc/stat). */
async function machineBusy(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
}

/** One restart of the controller: settle time, and the CPU its process, the bench (the simulation) and the machine used. */
interface RestartFigure {
  settleMs: number | undefined;
  controllerCpuS: number | undefined;
  benchCpuS: number;
  machineCpuS: number;
  writes: number;
}

function formatRestart(i: number, r: RestartFigure): string {
  const settled = r.settleMs === undefined ? "not settled" : `settled in ${(r.settleMs / 1000).toFixed(1)} s`;
  return `restart ${i + 1}: ${settled}, controller CPU ${r.controllerCpuS?.toFixed(1) ?? "n/a"} s, bench (simulation) CPU ${r.benchCpuS.toFixed(1)} s, machine busy ${r.machineCpuS.toFixed(1)} CPU-s, ${r.writes} service writes`;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(30_000) })).text();
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const space = line.lastIndexOf(" ");
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

/** The controller's largest event-loop lag since the last scrape, in ms: its own metric if it has one. */
function lagOf(metrics: Map<string, number>): { ms: number; metric: string } | undefined {
  // fedns's own (obs/loop-lag.ts, largest since start), else prom-client's default (largest since last scrape).
  const names = [...metrics.keys()].filter((name) => /event_?loop_lag.*max/.test(name));
  const name = names.find((n) => n === "fedns_event_loop_lag_max_seconds") ?? names[0];
  if (name === undefined) return undefined;
  return { ms: (metrics.get(name) ?? 0) * 1000, metric: name.replace(/\{.*$/, "") };
}

interface ControllerProcess {
  process: Started;
  metricsUrl: string;
  /** Scrapes every second until stopped: lag max, leader flag changes, service writes. */
  lagMaxMs: number | undefined;
  lagMetric: string | undefined;
  leaderChanges: number;
  /** Largest recent-window lag seen per bench phase (where the lag happened). */
  lagByPhase: Map<string, number>;
  leader: boolean;
  writes: number;
  /** Full reconciles completed (a leader has compared everything with etcd at least once when > 0). */
  fullReconciles: number;
  ready: boolean;
  stopScraping(): void;
}

/**
 * The controller's config: every simulated cluster may publish its 10/8 load-balancer addresses (private-use
 * ranges are refused unless a cluster's trust.allowedNetworks lists them, docs/trust.md), and the grace period.
 */
async function writeConfig(dir: string, clusters: number): Promise<string> {
  const path = join(dir, "fedns-bench.yaml");
  const config = {
    controller: { gracePeriodSeconds: GRACE_S },
    clusters: Array.from({ length: clusters }, (_, c) => ({
      name: `cluster-${c}`,
      trust: { allowedNetworks: ["10.0.0.0/8"] },
    })),
  };
  await writeFile(path, stringify(config));
  return path;
}

/** How often the bench scrapes a controller's /metrics and /readyz. */
const SCRAPE_MS = 250;

async function startController(etcd: string, kubeconfig: string, config: string): Promise<ControllerProcess> {
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}`;
  const profile = values["cpu-prof-dir"] === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", values["cpu-prof-dir"]];
  const child = startProcess(
    NODE,
    [
      ...profile,
      MAIN,
      "controller",
      "--federation",
      FEDERATION,
      "--domain",
      DOMAIN,
      "--etcd",
      etcd,
      "--prefix",
      PREFIX,
      "--kubeconfig",
      kubeconfig,
      "--config",
      config,
      "--metrics",
      `127.0.0.1:${port}`,
    ],
    { env: { ...process.env, FEDNS_LOG_LEVEL: values["log-dir"] === undefined ? "warn" : "info" } },
  );
  if (values["log-dir"] !== undefined) {
    // Every line, from the start (the process helper keeps only a bounded tail).
    const file = createWriteStream(join(values["log-dir"], `controller-${port}.log`));
    child.child.stdout?.pipe(file);
    child.child.stderr?.pipe(file);
  }
  const state: ControllerProcess = {
    process: child,
    metricsUrl,
    lagMaxMs: undefined,
    lagMetric: undefined,
    leaderChanges: 0,
    lagByPhase: new Map(),
    leader: false,
    writes: 0,
    fullReconciles: 0,
    ready: false,
    stopScraping: () => {},
  };
  let scraping = true;
  state.stopScraping = () => {
    scraping = false;
  };
  void (async () => {
    while (scraping && child.child.exitCode === null) {
      try {
        const metrics = await scrape(`${metricsUrl}/metrics`);
        const lag = lagOf(metrics);
        if (lag !== undefined) {
          state.lagMaxMs = Math.max(state.lagMaxMs ?? 0, lag.ms);
          state.lagMetric = lag.metric;
        }
        const recent = metrics.get('fedns_event_loop_lag_seconds{quantile="1"}');
        if (recent !== undefined)
          state.lagByPhase.set(phase, Math.max(state.lagByPhase.get(phase) ?? 0, recent * 1000));
        const leader = metrics.get("fedns_controller_leader") === 1;
        if (leader !== state.leader) state.leaderChanges++;
        state.leader = leader;
        let writes = 0;
        for (const [name, value] of metrics) {
          if (name.startsWith("fedns_controller_service_writes_total")) writes += value;
        }
        state.writes = writes;
        state.fullReconciles = metrics.get('fedns_controller_reconciles_total{scope="full"}') ?? 0;
        state.ready = (await fetch(`${metricsUrl}/readyz`, { signal: AbortSignal.timeout(30_000) })).ok;
      } catch {
        // not listening yet, or busy past the timeout: the next scrape reports the lag
      }
      await sleep(SCRAPE_MS);
    }
  })();
  return state;
}

async function stopTimed(started: Started): Promise<number | undefined> {
  if (started.child.exitCode !== null) return undefined;
  const t0 = performance.now();
  await started.stop("SIGTERM");
  return performance.now() - t0;
}

async function keyCount(client: Etcd3): Promise<number> {
  return client.getAll().prefix(`${PREFIX}/`).count();
}

async function revisionOf(client: Etcd3): Promise<number> {
  const response = await client.kv.range({ key: Buffer.from(PREFIX), limit: 1 });
  return Number(response.header.revision);
}

async function dbSize(endpoint: string): Promise<number> {
  const { stdout } = await run(ETCDCTL_BINARY, ["--endpoints", endpoint, "endpoint", "status", "-w", "json"], {
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  const status = JSON.parse(stdout) as { Status: { dbSize: number } }[];
  return status[0]?.Status.dbSize ?? Number.NaN;
}

/** The key count over time during the first write-out: [ms after t0, keys]. */
type CountSamples = [number, number][];

/**
 * Waits until the key count has stopped moving for QUIET_MS with the controller ready; returns every sample.
 * When the write-out was complete is decided later (writeOutOf), against the count a restarted controller
 * settles on without writing: a pause of more than QUIET_MS mid-write must not end the figure early.
 */
async function firstWriteOut(client: Etcd3, t0: number, controller: ControllerProcess): Promise<CountSamples> {
  const samples: CountSamples = [];
  let last = -1;
  let movedAt = performance.now();
  const deadline = t0 + WRITE_BOUND_MS;
  while (performance.now() < deadline) {
    const count = await keyCount(client).catch(() => last);
    samples.push([performance.now() - t0, count]);
    if (count !== last) {
      last = count;
      movedAt = performance.now();
    } else if (count > 0 && controller.ready && performance.now() - movedAt >= QUIET_MS) {
      break;
    }
    await sleep(250);
  }
  return samples;
}

function resolverFor(port: number): (name: string) => Promise<string[]> {
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return async (name) => {
    try {
      return (await resolver.resolve4(name)).sort();
    } catch {
      return [];
    }
  };
}

/** Services spread over the whole set, to check that every part of the data is answered. */
function sample(clusters: number, count: number): number[] {
  const total = servicesOf(clusters);
  return Array.from({ length: count }, (_, i) => Math.floor((i * total) / count)).concat(total - 1);
}

async function serveColdStart(
  etcd: string,
  clusters: number,
): Promise<{ serve: Started; port: number; coldStartMs: number | undefined; loadMs: number | undefined }> {
  const port = await freePort();
  const opsPort = await freePort();
  const t0 = performance.now();
  const serve = startProcess(
    NODE,
    [
      MAIN,
      "serve",
      "--zone",
      DOMAIN,
      "--etcd",
      etcd,
      "--prefix",
      PREFIX,
      "--listen",
      `127.0.0.1:${port}`,
      "--metrics",
      `127.0.0.1:${opsPort}`,
    ],
    { env: { ...process.env, FEDNS_LOG_LEVEL: "info" } },
  );
  const answer = resolverFor(port);
  const expected = Math.min(10, clusters);
  const pending = new Set(sample(clusters, 200));
  const deadline = t0 + 120_000;
  while (pending.size > 0 && performance.now() < deadline) {
    const batch = [...pending].slice(0, 20);
    const results = await Promise.all(batch.map((s) => answer(globalName(s, FEDERATION, DOMAIN))));
    batch.forEach((s, i) => {
      if (results[i]!.length === expected) pending.delete(s);
    });
    if (pending.size > 0) await sleep(10);
  }
  const coldStartMs = pending.size === 0 ? performance.now() - t0 : undefined;
  return { serve, port, coldStartMs, loadMs: loadTimeOf(serve.output()) };
}

/** How long the first load took, as `fedns serve` logs it ("loaded records", ms: range read and indexing). */
function loadTimeOf(output: string): number | undefined {
  for (const line of output.split("\n")) {
    if (!line.includes('"loaded records"')) continue;
    try {
      const ms = (JSON.parse(line) as { ms?: unknown }).ms;
      if (typeof ms === "number") return ms;
    } catch {
      // not a log line
    }
  }
  return undefined;
}

async function propagation(sim: Simulation, clusters: number, port: number): Promise<number[]> {
  const answer = resolverFor(port);
  const samples: number[] = [];
  const total = servicesOf(clusters);
  for (let i = 0; i < CHANGES; i++) {
    const s = (i * 7919) % total;
    const c = clustersOfService(s, clusters)[i % Math.min(10, clusters)]!;
    const fresh = lbAddress(c, s, 1);
    const name = globalName(s, FEDERATION, DOMAIN);
    const t0 = performance.now();
    sim.clusters[c]!.patchStatus("Service", namespaceOf(s), serviceName(s), {
      loadBalancer: { ingress: [{ ip: fresh }] },
    });
    for (;;) {
      if ((await answer(name)).includes(fresh)) {
        samples.push(performance.now() - t0);
        break;
      }
      if (performance.now() - t0 > 30_000) {
        // One change not served in 30 s says enough: the rest would only add 30 s each to the bound.
        note(`change of ${name} in cluster-${c} not served within 30 s; propagation stopped`);
        return samples;
      }
    }
  }
  return samples;
}

/**
 * After a restart: leader, ready, one full reconcile done (a leader that has not compared everything with etcd
 * yet writes nothing either), and nothing written to etcd for QUIET_MS.
 */
async function settle(controller: ControllerProcess, client: Etcd3, t0: number): Promise<number | undefined> {
  let revision = await revisionOf(client);
  let quietSince = performance.now();
  while (performance.now() - t0 < SETTLE_BOUND_MS) {
    await sleep(250);
    const now = await revisionOf(client).catch(() => revision);
    if (now !== revision || !controller.leader || !controller.ready || controller.fullReconciles === 0) {
      revision = now;
      quietSince = performance.now();
      continue;
    }
    if (performance.now() - quietSince >= QUIET_MS) return quietSince - t0;
  }
  return undefined;
}

/** Polls a controller's leader flag quickly (the scraper's 250 ms would do, this bounds the error at 50 ms). */
async function untilLeader(controller: ControllerProcess, t0: number, boundMs: number): Promise<number | undefined> {
  while (performance.now() - t0 < boundMs) {
    try {
      const metrics = await scrape(`${controller.metricsUrl}/metrics`);
      if (metrics.get("fedns_controller_leader") === 1) return performance.now() - t0;
    } catch {
      // busy or not listening: try again
    }
    await sleep(50);
  }
  return undefined;
}

async function untilReady(controller: ControllerProcess, boundMs: number): Promise<boolean> {
  const t0 = performance.now();
  while (!controller.ready && performance.now() - t0 < boundMs) await sleep(100);
  return controller.ready;
}

/** The keys of one cluster's records: their leaf is `<cluster>-<8 hex>` (federation/names.ts). */
function isKeyOf(cluster: string, key: string): boolean {
  const leaf = key.slice(key.lastIndexOf("/") + 1);
  return leaf.startsWith(`${cluster}-`) && leaf.length === cluster.length + 9;
}

/**
 * Takes `cluster` down (its API server refuses connections) and waits, bounded, until etcd holds none of its
 * keys: follows the deletes with a watch instead of re-reading hundreds of thousands of keys.
 */
async function withdrawal(
  sim: Simulation,
  client: Etcd3,
  index: number,
  boundMs: number,
): Promise<{ ms: number | undefined; keys: number; left: number }> {
  const name = `cluster-${index}`;
  const revision = await revisionOf(client);
  const keys = new Set((await client.getAll().prefix(`${PREFIX}/`).keys()).filter((key) => isKeyOf(name, key)));
  const total = keys.size;
  const watcher = await client
    .watch()
    .prefix(`${PREFIX}/`)
    .startRevision(String(revision + 1))
    .create();
  let done: () => void = () => {};
  const empty = new Promise<void>((resolve) => {
    done = resolve;
  });
  watcher.on("delete", (kv) => {
    keys.delete(kv.key.toString());
    if (keys.size === 0) done();
  });
  watcher.on("put", (kv) => {
    const key = kv.key.toString();
    if (isKeyOf(name, key)) keys.add(key);
  });
  const t0 = performance.now();
  await sim.clusters[index]!.setReachable(false);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), boundMs);
  });
  const outcome = total === 0 ? "empty" : await Promise.race([empty.then(() => "empty" as const), timedOut]);
  clearTimeout(timer);
  const ms = outcome === "empty" ? performance.now() - t0 : undefined;
  await watcher.cancel();
  return { ms, keys: total, left: keys.size };
}

async function runStep(clusters: number): Promise<StepResult> {
  note(`step ${clusters} clusters: starting etcd and ${clusters} simulated clusters`);
  let etcd: EtcdProcess | undefined;
  let sim: Simulation | undefined;
  let client: Etcd3 | undefined;
  const controllers: ControllerProcess[] = [];
  try {
    etcd = await startEtcd();
    // The withdrawal phase reads every key once: far past gRPC's 4 MiB default at 100 clusters.
    client = new Etcd3({ hosts: etcd.endpoint, grpcOptions: { "grpc.max_receive_message_length": 512 * 1024 * 1024 } });
    sim = await startSimulation({ scenario: scenarioFor(clusters) });
    const config = await writeConfig(sim.dir, clusters);
    const simRss = process.memoryUsage().rss;
    note(
      `simulation up (bench process RSS ${(simRss / 2 ** 20).toFixed(0)} MiB); starting the controller`,
      "write-out",
    );

    const t0 = performance.now();
    const first = await startController(etcd.endpoint, sim.kubeconfigPath, config);
    controllers.push(first);
    const samples = await firstWriteOut(client, t0, first);
    const controllerMemory = await rssOf(first.process);
    const quietKeys = samples.at(-1)?.[1] ?? 0;
    note(
      `first write-out quiet at ${quietKeys} keys after ${(samples.at(-1)?.[0] ?? 0).toFixed(0)} ms; serve cold start`,
      "serve cold start",
    );

    if (ONLY_RESTART) {
      return await restartsOnly(clusters, etcd, sim, client, config, first, controllers, samples, controllerMemory);
    }
    const served = await serveColdStart(etcd.endpoint, clusters);
    const serveMemory = await rssOf(served.serve);
    note(`serve cold start ${served.coldStartMs?.toFixed(0) ?? "unfinished"} ms; propagation`, "propagation");
    const propagated = served.coldStartMs === undefined ? [] : await propagation(sim, clusters, served.port);
    const dbBytes = await dbSize(etcd.endpoint);
    const revision = await revisionOf(client);

    await shortNamesQuiet(client);
    note("restarting the controller", "restart");
    first.stopScraping();
    const sigtermExitMs = await stopTimed(first.process);
    const restartedAt = performance.now();
    const second = await startController(etcd.endpoint, sim.kubeconfigPath, config);
    controllers.push(second);
    const restartSettleMs = await settle(second, client, restartedAt);
    const restartWrites = second.writes;
    // What the federation's records are: the count a restarted controller settles on without writing.
    const keys = await keyCount(client);
    note(`restart settled: ${restartSettleMs?.toFixed(0) ?? "no"} ms, ${restartWrites} service writes, ${keys} keys`);

    note("standby takeover: a second replica, then the leader killed (SIGKILL)", "takeover");
    const standby = await startController(etcd.endpoint, sim.kubeconfigPath, config);
    controllers.push(standby);
    // A standby that has not synced yet would measure its own start-up, not the takeover.
    const standbyReady = await untilReady(standby, SETTLE_BOUND_MS);
    if (!standbyReady) note(`the standby was not ready within ${SETTLE_BOUND_MS} ms; killing the leader anyway`);
    second.stopScraping();
    const killedAt = performance.now();
    await second.process.stop("SIGKILL");
    const takeoverMs = await untilLeader(standby, killedAt, TAKEOVER_BOUND_MS);
    const takeoverSettleMs = takeoverMs === undefined ? undefined : await settle(standby, client, killedAt);
    const takeoverWrites = standby.writes;
    note(
      `takeover: leader after ${takeoverMs?.toFixed(0) ?? "never"} ms, settled ${takeoverSettleMs?.toFixed(0) ?? "no"} ms`,
    );

    note(`cluster-0 goes down (grace ${GRACE_S} s): waiting for its records to be withdrawn`, "withdrawal");
    const withdrawn = await withdrawal(sim, client, 0, GRACE_S * 1000 + TAKEOVER_BOUND_MS);
    note(
      `withdrawn: ${withdrawn.ms?.toFixed(0) ?? "not"} ms (${withdrawn.keys - withdrawn.left} of ${withdrawn.keys} keys)`,
    );
    const standbyExitMs = await stopTimed(standby.process);
    controllers.forEach((c, i) => {
      const lags = [...c.lagByPhase].map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`).join(", ");
      note(`controller ${i + 1}: largest event-loop lag per phase (recent window max): ${lags}`);
    });
    const lags = controllers.map((c) => c.lagMaxMs).filter((lag): lag is number => lag !== undefined);
    return {
      clusters,
      services: servicesOf(clusters),
      keys,
      dbBytes,
      revision,
      firstWriteOutMs: writeOutOf(samples, keys),
      firstWriteOutKeys: quietKeys,
      controllerRss: controllerMemory?.rss,
      controllerPeakRss: controllerMemory?.peak,
      restartSettleMs,
      settleBoundMs: SETTLE_BOUND_MS,
      restartWrites,
      leadershipChanges: second.leaderChanges,
      sigtermExitMs: Math.max(sigtermExitMs ?? 0, standbyExitMs ?? 0) || undefined,
      takeoverMs,
      takeoverSettleMs,
      takeoverWrites,
      takeoverBoundMs: TAKEOVER_BOUND_MS,
      withdrawnMs: withdrawn.ms,
      withdrawnKeys: withdrawn.keys,
      withdrawnLeft: withdrawn.left,
      graceMs: GRACE_S * 1000,
      serveColdStartMs: served.coldStartMs,
      serveLoadMs: served.loadMs,
      serveRss: serveMemory?.rss,
      servePeakRss: serveMemory?.peak,
      propagation: propagated,
      lagMaxMs: lags.length === 0 ? undefined : Math.max(...lags),
      lagMetric: controllers.find((c) => c.lagMetric !== undefined)?.lagMetric,
      simRss,
    };
  } finally {
    for (const controller of controllers) controller.stopScraping();
    await stopAllProcesses();
    client?.close();
    await sim?.stop().catch((err: unknown) => log.warn({ err: String(err) }, "stopping the simulation"));
    await etcd?.destroy();
  }
}

/**
 * The short names (SPEC §4a, on by default) are written after the records: a restart during their write-out
 * would measure the rest of it (writes the bench's service-write count does not show). Waits until their key
 * count has not moved for QUIET_MS (bounded by --write-timeout).
 */
async function shortNamesQuiet(client: Etcd3): Promise<void> {
  let shortKeys = -1;
  let movedAt = performance.now();
  for (const deadline = performance.now() + WRITE_BOUND_MS; performance.now() < deadline; await sleep(500)) {
    const count = await client.getAll().prefix(`${SHORT_PREFIX}/`).count();
    if (count !== shortKeys) {
      shortKeys = count;
      movedAt = performance.now();
    } else if (performance.now() - movedAt >= QUIET_MS) break;
  }
  note(`short names quiet at ${shortKeys} keys`);
}

/**
 * `--only restart`: after the first write-out, the controller is restarted RESTARTS times (SIGTERM, a new
 * process, settle); each restart's settle time and CPU seconds are printed. No serve, takeover or withdrawal.
 */
async function restartsOnly(
  clusters: number,
  etcd: EtcdProcess,
  sim: Simulation,
  client: Etcd3,
  config: string,
  first: ControllerProcess,
  controllers: ControllerProcess[],
  samples: CountSamples,
  firstMemory: { rss: number; peak: number } | undefined,
): Promise<StepResult> {
  await shortNamesQuiet(client);
  const dbBytes = await dbSize(etcd.endpoint);
  const revision = await revisionOf(client);
  let current = first;
  let sigtermExitMs = 0;
  const figures: RestartFigure[] = [];
  let restartMemory: { rss: number; peak: number } | undefined;
  for (let i = 0; i < RESTARTS; i++) {
    note(`restart ${i + 1} of ${RESTARTS}`, `restart ${i + 1}`);
    current.stopScraping();
    sigtermExitMs = Math.max(sigtermExitMs, (await stopTimed(current.process)) ?? 0);
    const restartedAt = performance.now();
    const bench0 = process.cpuUsage();
    const machine0 = await machineBusy();
    current = await startController(etcd.endpoint, sim.kubeconfigPath, config);
    controllers.push(current);
    const settleMs = await settle(current, client, restartedAt);
    const bench = process.cpuUsage(bench0);
    const figure: RestartFigure = {
      settleMs,
      controllerCpuS: await cpuOf(current.process),
      benchCpuS: (bench.user + bench.system) / 1e6,
      machineCpuS: (await machineBusy()) - machine0,
      writes: current.writes,
    };
    restartMemory = await rssOf(current.process);
    figures.push(figure);
    note(formatRestart(i, figure));
  }
  current.stopScraping();
  sigtermExitMs = Math.max(sigtermExitMs, (await stopTimed(current.process)) ?? 0);
  const keys = await keyCount(client);
  console.log(figures.map((figure, i) => formatRestart(i, figure)).join("\n"));
  console.log(
    `restarted controller RSS at settle: ${restartMemory === undefined ? "n/a" : `${(restartMemory.rss / 2 ** 20).toFixed(0)} MiB (peak ${(restartMemory.peak / 2 ** 20).toFixed(0)} MiB)`}`,
  );
  const lags = controllers.map((c) => c.lagMaxMs).filter((lag): lag is number => lag !== undefined);
  controllers.forEach((c, i) => {
    const lagText = [...c.lagByPhase].map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`).join(", ");
    note(`controller ${i + 1}: largest event-loop lag per phase (recent window max): ${lagText}`);
  });
  const last = figures.at(-1);
  return {
    clusters,
    services: servicesOf(clusters),
    keys,
    dbBytes,
    revision,
    firstWriteOutMs: writeOutOf(samples, keys),
    firstWriteOutKeys: samples.at(-1)?.[1] ?? 0,
    controllerRss: firstMemory?.rss,
    controllerPeakRss: firstMemory?.peak,
    restartSettleMs: last?.settleMs,
    settleBoundMs: SETTLE_BOUND_MS,
    restartWrites: last?.writes,
    leadershipChanges: current.leaderChanges,
    sigtermExitMs: sigtermExitMs || undefined,
    takeoverMs: undefined,
    takeoverSettleMs: undefined,
    takeoverWrites: 0,
    takeoverBoundMs: TAKEOVER_BOUND_MS,
    withdrawnMs: undefined,
    withdrawnKeys: 0,
    withdrawnLeft: 0,
    graceMs: GRACE_S * 1000,
    serveColdStartMs: undefined,
    serveLoadMs: undefined,
    serveRss: undefined,
    servePeakRss: undefined,
    propagation: [],
    lagMaxMs: lags.length === 0 ? undefined : Math.max(...lags),
    lagMetric: controllers.find((c) => c.lagMetric !== undefined)?.lagMetric,
    simRss: process.memoryUsage().rss,
  };
}

async function main(): Promise<void> {
  const results: StepResult[] = [];
  const interrupted = () => {
    void stopAllProcesses().then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  for (const clusters of STEPS) {
    results.push(await runStep(clusters));
    console.log(`\n${formatTable(results)}\n\n${formatFailoverTable(results)}\n`);
  }
  const metric = results.find((r) => r.lagMetric !== undefined)?.lagMetric;
  console.log(`event-loop lag from ${metric ?? "no metric (n/a)"}; sim (bench process) RSS per step:`);
  for (const r of results) console.log(`  ${r.clusters} clusters: ${(r.simRss / 2 ** 20).toFixed(0)} MiB`);
}

await main();
