// bench/qps: dnsperf against `fedns serve` and Knot DNS serving the same 10,000 names (+10% NXDOMAIN),
// each server pinned to one core, dnsperf on another. See bench/README.md.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { coreBusy } from "./cpuload.ts";
import { formatProfileSummary, monotonicMicros, summarizeProfileFile, type TimeWindow } from "./cpuprofile.ts";
import { buildDataset, type Dataset } from "./dataset.ts";
import { type DnsperfOptions, type DnsperfResult, runDnsperf } from "./dnsperf.ts";
import { loadRecords, startEtcd } from "./etcd.ts";
import { newestProfile, nodeBinary, serveAvailable, startFedns } from "./fedns.ts";
import { KNOTD, startKnot } from "./knot.ts";
import { processCpuMicros, processRssMib } from "./proc.ts";
import { ChildTracker, digA, freePort, type Tracked, waitUntil } from "./processes.ts";
import { formatRatio, formatResources, formatTable, qpsRatios, type ResourceUse, type ServerResult } from "./report.ts";
import { measureWatchLatency } from "./watch-latency.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PREFIX = "/skydns";

const USAGE = `usage: node bench/qps/run.ts [options]

  --seconds N       measured dnsperf run per server (default 20)
  --rounds N        measure each server N times, alternating, and report the median run (default 1)
  --warmup N        unmeasured dnsperf run before it, for the JIT and caches (default 3; 0 = none)
  --clients N       dnsperf -c (default 4)
  --threads N       dnsperf -T (default 1)
  --outstanding N   dnsperf -q, queries in flight (default 100)
  --max-qps N       dnsperf -Q, cap the offered load (default: unlimited)
  --names N         existing A names (default 10000); ~10% extra NXDOMAIN queries
  --fedns-only      benchmark fedns only       --knot-only   benchmark Knot only
  --udp-transports L  fedns's UDP transports to measure, each its own fedns serve (default native,dgram)
  --ceiling         also measure bench/qps/node-ceiling.ts (a Node UDP server that answers a canned
                    record: what node:dgram alone reaches), plain and with tuned sends
  --cpu-prof        run fedns under node --cpu-prof and print the top self-time functions
  --profile-dir D   keep the .cpuprofile in D (default: printed, then removed with the temp dir)
  --server-cpu N    core for the server (default 0)
  --client-cpu N    core for dnsperf and etcd (default 1)
  --knot-workers N  Knot udp-workers (default 1: one core, one thread)
  --keep            keep the temp dir (data, configs) for inspection`;

interface Options {
  seconds: number;
  rounds: number;
  warmup: number;
  clients: number;
  threads: number;
  outstanding: number;
  maxQps: number | undefined;
  names: number;
  fedns: boolean;
  knot: boolean;
  ceiling: boolean;
  cpuProf: boolean;
  profileDir: string | undefined;
  serverCpu: number;
  clientCpu: number;
  knotWorkers: number;
  udpTransports: ("native" | "dgram")[];
  keep: boolean;
}

function integer(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new Error(`--${name} must be an integer >= ${min}, got "${value}"`);
  return parsed;
}

function udpTransportList(value: string): ("native" | "dgram")[] {
  const list = value.split(",").map((name) => name.trim());
  for (const name of list) {
    if (name !== "native" && name !== "dgram") throw new Error(`--udp-transports: native or dgram, got "${name}"`);
  }
  return [...new Set(list as ("native" | "dgram")[])];
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      clients: { type: "string" },
      threads: { type: "string" },
      outstanding: { type: "string" },
      "max-qps": { type: "string" },
      names: { type: "string" },
      "fedns-only": { type: "boolean" },
      "knot-only": { type: "boolean" },
      "cpu-prof": { type: "boolean" },
      ceiling: { type: "boolean" },
      "profile-dir": { type: "string" },
      "server-cpu": { type: "string" },
      "client-cpu": { type: "string" },
      "knot-workers": { type: "string" },
      "udp-transports": { type: "string" },
      keep: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  if (values["fedns-only"] && values["knot-only"]) throw new Error("--fedns-only and --knot-only exclude each other");
  const options: Options = {
    seconds: integer(values.seconds, "seconds", 20, 1),
    rounds: integer(values.rounds, "rounds", 1, 1),
    warmup: integer(values.warmup, "warmup", 3),
    clients: integer(values.clients, "clients", 4, 1),
    threads: integer(values.threads, "threads", 1, 1),
    outstanding: integer(values.outstanding, "outstanding", 100, 1),
    maxQps: values["max-qps"] === undefined ? undefined : integer(values["max-qps"], "max-qps", 0, 1),
    names: integer(values.names, "names", 10_000, 1),
    fedns: !values["knot-only"],
    knot: !values["fedns-only"],
    ceiling: values.ceiling ?? false,
    cpuProf: values["cpu-prof"] ?? false,
    profileDir: values["profile-dir"] === undefined ? undefined : resolve(values["profile-dir"]),
    serverCpu: integer(values["server-cpu"], "server-cpu", 0),
    clientCpu: integer(values["client-cpu"], "client-cpu", 1),
    knotWorkers: integer(values["knot-workers"], "knot-workers", 1, 1),
    udpTransports: udpTransportList(values["udp-transports"] ?? "native,dgram"),
    keep: values.keep ?? false,
  };
  const cpus = availableParallelism();
  for (const cpu of [options.serverCpu, options.clientCpu]) {
    if (cpu >= cpus) throw new Error(`core ${cpu} does not exist (this machine has ${cpus})`);
  }
  if (options.serverCpu === options.clientCpu) process.stderr.write("warning: server and dnsperf share one core\n");
  return options;
}

function checkTools(options: Options): void {
  const tools = ["taskset", "dnsperf", "kdig"];
  if (options.knot) tools.push(KNOTD);
  if (options.fedns) tools.push("/usr/bin/etcd");
  for (const tool of tools) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      throw new Error(`${tool} not found (apt packages: dnsperf, knot, knot-dnsutils, etcd-server, util-linux)`);
    }
  }
}

function log(message: string): void {
  process.stderr.write(`[bench:qps] ${message}\n`);
}

/** Spot checks before measuring: a wrong server is not worth timing. */
async function verifyAnswers(server: string, port: number, dataset: Dataset): Promise<void> {
  const picks = [0, 1, dataset.names.length - 1];
  for (let i = 0; i < 20; i++) picks.push(Math.floor((i * dataset.names.length) / 20));
  for (const index of picks) {
    const entry = dataset.names[index];
    if (entry === undefined) continue;
    const answer = await digA(port, entry.name);
    if (answer.status !== "NOERROR" || answer.addresses.join(",") !== entry.address) {
      throw new Error(
        `${server}: ${entry.name} A answered ${answer.status} [${answer.addresses}], want ${entry.address}`,
      );
    }
  }
  for (const name of dataset.nxNames.slice(0, 5)) {
    const answer = await digA(port, name);
    if (answer.status !== "NXDOMAIN") throw new Error(`${server}: ${name} A answered ${answer.status}, want NXDOMAIN`);
  }
}

/** Readiness = the last name loaded answers with its address. */
async function waitForServer(server: Tracked, port: number, dataset: Dataset, timeoutMs: number): Promise<void> {
  const last = dataset.names[dataset.names.length - 1];
  if (last === undefined) throw new Error("empty data set");
  await waitUntil(
    `${server.label} to answer ${last.name}`,
    async () => {
      const answer = await digA(port, last.name);
      return answer.addresses.includes(last.address);
    },
    timeoutMs,
    server,
  );
}

interface Target {
  /** Row name in the report: knot, fedns, node-ceiling-default, node-ceiling-tuned. */
  name: string;
  port: number;
  stop(): Promise<void>;
  /** When the measured runs against this target happened (for the CPU profile). */
  windows: TimeWindow[];
  /** The server process, for CPU per query and memory. */
  pid: number | undefined;
}

function dnsperfOptions(port: number, seconds: number, options: Options, queryFile: string): DnsperfOptions {
  return {
    port,
    queryFile,
    seconds,
    clients: options.clients,
    threads: options.threads,
    outstanding: options.outstanding,
    cpu: options.clientCpu,
    maxQps: options.maxQps,
  };
}

async function startKnotTarget(
  dir: string,
  dataset: Dataset,
  options: Options,
  tracker: ChildTracker,
): Promise<Target> {
  const port = await freePort();
  log(`knot: starting knotd on 127.0.0.1:${port}, core ${options.serverCpu}, ${options.knotWorkers} UDP worker(s)`);
  const knot = startKnot(
    {
      dir: join(dir, "knot"),
      port,
      zoneFile: join(dir, "example.com.zone"),
      cpu: options.serverCpu,
      udpWorkers: options.knotWorkers,
    },
    tracker,
  );
  await waitForServer(knot, port, dataset, 30_000);
  await verifyAnswers("knot", port, dataset);
  return { name: "knot", port, stop: () => tracker.stop(knot), windows: [], pid: knot.child.pid };
}

/** The server under test: etcd loaded with the records, then `fedns serve` over it. */
/** etcd puts (and deletes) timed until fedns answers them, before the QPS runs. */
const WATCH_SAMPLES = 50;

async function startFednsTargets(
  dir: string,
  dataset: Dataset,
  options: Options,
  tracker: ChildTracker,
): Promise<(Target & { profileDir: string | undefined })[]> {
  if (!(await serveAvailable(ROOT))) {
    throw new Error(
      "`node src/cli/main.ts serve --help` fails: fedns has no working `serve` command here; use --knot-only",
    );
  }
  log(`fedns: starting etcd (core ${options.clientCpu}) and loading ${dataset.etcdRecords.length} records`);
  const etcd = await startEtcd(dir, options.clientCpu, tracker);
  const started = Date.now();
  const count = await loadRecords(etcd.url, PREFIX, dataset.etcdRecords);
  if (count !== dataset.etcdRecords.length) {
    throw new Error(`etcd holds ${count} keys, want ${dataset.etcdRecords.length}`);
  }
  log(`fedns: ${count} keys in etcd after ${Date.now() - started} ms`);

  const targets: (Target & { profileDir: string | undefined })[] = [];
  const avoid = new Set<number>();
  for (const udpTransport of options.udpTransports) {
    const name = `fedns-${udpTransport}`;
    const port = await freePort(avoid);
    avoid.add(port);
    const metricsPort = await freePort(avoid);
    avoid.add(metricsPort);
    const profileDir = options.cpuProf ? join(options.profileDir ?? join(dir, "profile"), udpTransport) : undefined;
    log(
      `${name}: starting fedns serve on 127.0.0.1:${port}, core ${options.serverCpu}${profileDir ? ", --cpu-prof" : ""}`,
    );
    const fedns = startFedns(
      {
        root: ROOT,
        port,
        metricsPort,
        etcdUrl: etcd.url,
        prefix: PREFIX,
        cpu: options.serverCpu,
        udpTransport,
        cpuProfDir: profileDir,
      },
      tracker,
    );
    await waitForServer(fedns, port, dataset, 60_000);
    await verifyAnswers(name, port, dataset);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    if (!metrics.includes(`fedns_dns_udp_transport{transport="${udpTransport}"} 1`)) {
      throw new Error(`${name}: /metrics does not report the ${udpTransport} UDP transport (addon not built?)`);
    }
    if (targets.length === 0) {
      const watch = await measureWatchLatency(etcd.url, PREFIX, port, WATCH_SAMPLES);
      const ms = (value: number): string => `${value.toFixed(1)} ms`;
      for (const [what, summary] of [
        ["put -> answered", watch.put],
        ["delete -> NXDOMAIN", watch.delete],
      ] as const) {
        log(
          `${name}: etcd ${what}: n=${summary.count} p50 ${ms(summary.p50)} p99 ${ms(summary.p99)} max ${ms(summary.max)}`,
        );
      }
    }
    targets.push({
      name,
      port,
      profileDir,
      windows: [],
      pid: fedns.child.pid,
      // A clean exit on SIGTERM is what makes node write the profile: give it time.
      stop: () => tracker.stop(fedns, 15_000),
    });
  }
  // etcd goes with the last fedns.
  const last = targets[targets.length - 1];
  if (last !== undefined) {
    const stopLast = last.stop;
    last.stop = async () => {
      await stopLast();
      await tracker.stop(etcd.server);
    };
  }
  return targets;
}

async function startCeilingTarget(mode: "default" | "tuned", options: Options, tracker: ChildTracker): Promise<Target> {
  const port = await freePort();
  const name = `node-ceiling-${mode}`;
  const child = spawn(
    "taskset",
    ["-c", String(options.serverCpu), nodeBinary(ROOT), join(ROOT, "bench/qps/node-ceiling.ts"), String(port), mode],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const server = tracker.track(child, name);
  await waitUntil(
    `${name} to answer`,
    async () => (await digA(port, "probe.example.com")).status === "NOERROR",
    20_000,
    server,
  );
  return { name, port, stop: () => tracker.stop(server), windows: [], pid: server.child.pid };
}

/** Warns when something else keeps the benchmark's cores busy: numbers taken then are not comparable. */
async function checkQuiet(options: Options): Promise<void> {
  const busy = await coreBusy([options.serverCpu, options.clientCpu]);
  const loud = [...busy].filter(([, share]) => share > 0.1);
  if (loud.length > 0) {
    const text = loud.map(([core, share]) => `core ${core} ${(share * 100).toFixed(0)}%`).join(", ");
    log(`warning: busy before measuring (${text}): other processes compete, expect lower and noisier numbers`);
  }
}

/** The run with the median QPS, so one disturbed round does not decide the result. */
function medianRun(runs: readonly DnsperfResult[]): DnsperfResult {
  const sorted = [...runs].sort((a, b) => a.qps - b.qps);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (median === undefined) throw new Error("no runs");
  return median;
}

async function runRounds(
  targets: readonly Target[],
  options: Options,
  queryFile: string,
  tracker: ChildTracker,
): Promise<{ rows: ServerResult[]; resources: ResourceUse[] }> {
  const runs = new Map<string, DnsperfResult[]>(targets.map((target) => [target.name, []]));
  const use = new Map(
    targets.map((target) => [target.name, { cpuMicros: 0, completed: 0, rssBefore: Number.NaN, rssAfter: Number.NaN }]),
  );
  const pidOf = (target: Target): number | undefined =>
    target.pid !== undefined && existsSync(`/proc/${target.pid}`) ? target.pid : undefined;
  if (options.warmup > 0) {
    for (const target of targets) {
      log(`${target.name}: warm-up ${options.warmup} s`);
      await runDnsperf(dnsperfOptions(target.port, options.warmup, options, queryFile), tracker);
    }
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const target of targets) {
      await checkQuiet(options);
      const roundText = options.rounds > 1 ? ` (round ${round}/${options.rounds})` : "";
      log(`${target.name}: measuring ${options.seconds} s${roundText}`);
      const pid = pidOf(target);
      const tally = use.get(target.name);
      if (pid !== undefined && tally !== undefined && round === 1) tally.rssBefore = processRssMib(pid);
      const cpuBefore = pid === undefined ? 0 : processCpuMicros(pid);
      const fromMicros = monotonicMicros();
      const result = await runDnsperf(dnsperfOptions(target.port, options.seconds, options, queryFile), tracker);
      target.windows.push({ fromMicros, toMicros: monotonicMicros() });
      if (pid !== undefined && tally !== undefined) {
        tally.cpuMicros += processCpuMicros(pid) - cpuBefore;
        tally.completed += result.completed;
        tally.rssAfter = processRssMib(pid);
      }
      log(
        `${target.name}: ${result.qps.toFixed(0)} QPS, ${(result.avgLatency * 1000).toFixed(3)} ms avg, ${result.lost} lost`,
      );
      runs.get(target.name)?.push(result);
    }
  }
  const rows = targets.map((target) => {
    const all = runs.get(target.name) ?? [];
    return { server: target.name, result: medianRun(all), allQps: all.map((run) => run.qps) };
  });
  const resources = targets.flatMap((target) => {
    const tally = use.get(target.name);
    if (tally === undefined || tally.completed === 0) return [];
    return [
      {
        server: target.name,
        cpuMicrosPerQuery: tally.cpuMicros / tally.completed,
        rssMibBefore: tally.rssBefore,
        rssMibAfter: tally.rssAfter,
      },
    ];
  });
  return { rows, resources };
}

function printProfile(profileDir: string, windows: readonly TimeWindow[]): void {
  const profile = newestProfile(profileDir);
  if (profile === undefined) {
    log(
      `fedns: no .cpuprofile in ${profileDir}: fedns serve must exit normally (not die) on SIGTERM for node to write it`,
    );
    return;
  }
  const summary = formatProfileSummary(summarizeProfileFile(profile, ROOT, 25, windows));
  process.stdout.write(`\nfedns CPU profile (${profile}), measured runs only:\n${summary}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  checkTools(options);
  const tracker = new ChildTracker();
  tracker.installSignalHandlers();
  const dir = mkdtempSync(join(tmpdir(), "fedns-bench-qps-"));
  if (options.keep) log(`keeping ${dir}`);
  else tracker.trackDir(dir);
  const targets: Target[] = [];
  const profiled: { dir: string; windows: TimeWindow[] }[] = [];
  try {
    const dataset = buildDataset({ names: options.names, prefix: PREFIX });
    const queryFile = join(dir, "queries.txt");
    writeFileSync(queryFile, dataset.queries);
    writeFileSync(join(dir, "example.com.zone"), dataset.zoneFile);
    log(
      `data set: ${dataset.names.length} A names + ${dataset.nxNames.length} NXDOMAIN names; ` +
        `server core ${options.serverCpu}, dnsperf core ${options.clientCpu}, -c ${options.clients} -T ${options.threads} -q ${options.outstanding}`,
    );
    // All servers stay up together (idle ones cost nothing) so that rounds can alternate between them.
    if (options.knot) targets.push(await startKnotTarget(dir, dataset, options, tracker));
    if (options.fedns) {
      for (const fedns of await startFednsTargets(dir, dataset, options, tracker)) {
        if (fedns.profileDir !== undefined) profiled.push({ dir: fedns.profileDir, windows: fedns.windows });
        targets.push(fedns);
      }
    }
    if (options.ceiling) {
      for (const mode of ["default", "tuned"] as const) targets.push(await startCeilingTarget(mode, options, tracker));
    }
    const { rows, resources } = await runRounds(targets, options, queryFile, tracker);
    for (const target of targets.splice(0)) await target.stop();
    for (const profile of profiled) printProfile(profile.dir, profile.windows);
    process.stdout.write(`\n${formatTable(rows)}\n`);
    const ratios = qpsRatios(rows);
    if (ratios.length > 0) process.stdout.write(`\n${ratios.map((r) => formatRatio(r.server, r.ratio)).join("\n")}\n`);
    if (resources.length > 0) process.stdout.write(`\n${formatResources(resources)}\n`);
  } finally {
    for (const target of targets) await target.stop();
    await tracker.cleanup();
    if (options.keep && existsSync(dir)) log(`temp dir kept: ${dir}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench:qps] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
