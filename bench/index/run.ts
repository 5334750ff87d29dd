// bench/index (issue 8): what the DNS server's record index costs. Generates the controller's records for a
// bench/scale ladder step (bench/index/dataset.ts, plan() itself), then either
// - memory (default): loads them through the real record source (paged, sliced, swap-in) from an in-process
//   store that decodes each page afresh, and prints the retained heap and RSS per record (after a forced GC),
//   the load time and the longest event-loop block during the load; or
// - --etcd: puts them into a fresh etcd 3.4, starts `fedns serve` as a process, queries sampled names from the
//   first millisecond and prints the cold start (spawn → every sampled name answered), what was answered
//   before (NXDOMAIN for an existing name must never happen), and the server's RSS.
// Run with node --expose-gc. Every wait is bounded.
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { readdir, readFile } from "node:fs/promises";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Etcd3 } from "etcd3";
import { pino } from "pino";
import { setRootLogger } from "../../src/obs/log.ts";
import { LiveIndex } from "../../src/records/live-index.ts";
import type { KeyValue, KvBackend, RangeOptions, RangeResult } from "../../src/store/kv.ts";
import { startRecordSource } from "../../src/store/source.ts";
import { startEtcd } from "../../test/support/etcd.ts";
import { freePort } from "../../test/support/ports.ts";
import { type Dataset, DOMAIN, datasetOf, PREFIX } from "./dataset.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "100" },
    page: { type: "string" },
    etcd: { type: "boolean", default: false },
    samples: { type: "string", default: "400" },
    timeout: { type: "string", default: "120" },
    settle: { type: "string", default: "15" },
    profile: { type: "string" },
    dist: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "node --expose-gc bench/index/run.ts [--clusters 100] [--page N] [--etcd] [--samples 400] [--timeout 120] [--settle 15] [--profile DIR (--etcd: the server's --cpu-prof)] [--dist (--etcd: run the built dist/, as bin/fedns.js does)]",
  );
  process.exit(0);
}
const CLUSTERS = Number(values.clusters);
const PAGE = values.page === undefined ? undefined : Number(values.page);
const TIMEOUT_MS = Number(values.timeout) * 1000;
const MIB = 1024 * 1024;

setRootLogger(pino({ level: "warn" }));

function note(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error("run with node --expose-gc");
  collect();
  collect();
}

async function rssOf(pid: number | "self"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** User + system CPU seconds a process has used (/proc/PID/stat, clock ticks of 100 Hz). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The server's own heap figures (prom-client default metrics): used / total, in MiB. */
async function heapOf(metricsPort: number): Promise<string> {
  try {
    const text = await (
      await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })
    ).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN) / MIB;
    const lag = Number(/^fedns_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? Number.NaN) * 1000;
    return `${value("fedns_nodejs_heap_size_used_bytes").toFixed(0)} / ${value("fedns_nodejs_heap_size_total_bytes").toFixed(0)} MiB (event-loop lag max since the last scrape ${lag.toFixed(0)} ms)`;
  } catch (err) {
    return `n/a (${(err as Error).message})`;
  }
}

/** The process whose command line mentions `text` (the etcd this bench started, by its data dir). */
async function pidWith(text: string): Promise<number | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text) && cmdline.includes("etcd")) return Number(entry);
  }
  return undefined;
}

async function loadAverage(): Promise<string> {
  return (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");
}

/** Line starts of the data set, so a page can be cut out of the Buffer without decoding the rest. */
function lineStarts(lines: Buffer): Uint32Array {
  const starts: number[] = [0];
  for (let at = lines.indexOf(10); at !== -1; at = lines.indexOf(10, at + 1)) starts.push(at + 1);
  return Uint32Array.from(starts);
}

/** A read-only store over the data set: pages decoded on demand, like an etcd client's responses. */
function bufferBackend(dataset: Dataset): KvBackend {
  const starts = lineStarts(dataset.lines);
  const keys = starts.length - 1;
  const decode = (from: number, to: number): KeyValue[] => {
    const kvs: KeyValue[] = [];
    for (let i = from; i < to; i++) {
      const line = dataset.lines.toString("utf8", starts[i]!, starts[i + 1]! - 1);
      const tab = line.indexOf("\t");
      kvs.push({ key: line.slice(0, tab), value: line.slice(tab + 1), modRevision: i + 1 });
    }
    return kvs;
  };
  return {
    description: "bench buffer",
    maxTxnOps: 128,
    async range(_prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
      const from = options.after === undefined ? 0 : Number(options.after);
      const to = options.limit === undefined || options.limit === 0 ? keys : Math.min(keys, from + options.limit);
      const result: RangeResult = { kvs: decode(from, to), revision: keys };
      if (to < keys) {
        result.more = true;
        result.next = String(to);
      }
      return result;
    },
    async watch(_prefix, _from, handlers) {
      setImmediate(() => handlers.onConnected());
      return { close: async () => undefined };
    },
    async txn() {
      throw new Error("read-only");
    },
    campaign() {
      throw new Error("read-only");
    },
    async close() {},
  };
}

async function memoryRun(dataset: Dataset): Promise<void> {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = await rssOf("self");
  const live = new LiveIndex({ prefix: PREFIX });
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const source = startRecordSource({
    backend: bufferBackend(dataset),
    prefix: PREFIX,
    index: live,
    ...(PAGE === undefined ? {} : { pageSize: PAGE }),
  });
  await source.loaded;
  const loadMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  lag.disable();
  const rssLoaded = await rssOf("self");
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const rssAfter = await rssOf("self");
  const records = live.current.size;
  let missing = 0;
  for (const name of dataset.names) if ((live.current.lookup(name)?.length ?? 0) === 0) missing++;
  await source.stop();
  const load = await loadAverage();
  console.log(
    [
      `clusters ${CLUSTERS}: ${dataset.keys} keys, ${records} records indexed, ${dataset.names.length} names (${missing} without records)`,
      `load ${(loadMs / 1000).toFixed(2)} s (${Math.round((records / loadMs) * 1000)} records/s; CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s), event-loop delay max ${(lag.max / 1e6).toFixed(0)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms`,
      `heap retained ${((heapAfter - heapBefore) / MIB).toFixed(1)} MiB = ${Math.round((heapAfter - heapBefore) / records)} B/record`,
      `RSS delta ${((rssAfter - rssBefore) / MIB).toFixed(1)} MiB = ${Math.round((rssAfter - rssBefore) / records)} B/record after GC (${Math.round((rssLoaded - rssBefore) / records)} B/record right after the load); process RSS ${(rssAfter / MIB).toFixed(0)} MiB`,
      `load average ${load}`,
    ].join("\n"),
  );
}

/** A minimal question for `name` with id `id`: SRV at SRV names (`_http._tcp.…`), else A. */
function query(name: string, id: number): Buffer {
  const qtype = name.startsWith("_") ? 33 : 1;
  const labels = name.split(".").map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, qtype, 0, 1])]);
}

async function fill(endpoint: string, dataset: Dataset): Promise<void> {
  const client = new Etcd3({ hosts: endpoint, grpcOptions: { "grpc.max_receive_message_length": 64 * MIB } });
  const starts = lineStarts(dataset.lines);
  const keys = starts.length - 1;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const from = next;
      if (from >= keys) return;
      next = Math.min(keys, from + 128);
      const ops = [];
      for (let i = from; i < next; i++) {
        const line = dataset.lines.toString("utf8", starts[i]!, starts[i + 1]! - 1);
        const tab = line.indexOf("\t");
        ops.push(client.put(line.slice(0, tab)).value(line.slice(tab + 1)));
      }
      await client
        .if(PREFIX, "Version", ">", -1)
        .then(...ops)
        .commit();
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  client.close();
}

async function etcdRun(dataset: Dataset): Promise<void> {
  const etcd = await startEtcd();
  const children: ReturnType<typeof spawn>[] = [];
  try {
    const filling = performance.now();
    await fill(etcd.endpoint, dataset);
    note(`filled etcd with ${dataset.keys} keys in ${((performance.now() - filling) / 1000).toFixed(1)} s`);
    const port = await freePort();
    const metricsPort = await freePort();
    const samples = sample(dataset.names, Number(values.samples));
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const answered = new Set<number>();
    const rcodes = new Map<string, number>();
    let nxdomainForExisting = 0;
    socket.on("message", (message) => {
      const id = message.readUInt16BE(0);
      const rcode = message[3]! & 0x0f;
      const count = message.readUInt16BE(6);
      const label = rcode === 0 ? (count > 0 ? "NOERROR" : "NODATA") : rcode === 3 ? "NXDOMAIN" : `rcode ${rcode}`;
      if (answered.size < samples.length) rcodes.set(label, (rcodes.get(label) ?? 0) + 1);
      if (rcode === 3 || (rcode === 0 && count === 0)) nxdomainForExisting++;
      if (rcode === 0 && count > 0) answered.add(id);
    });
    const args = [
      values.dist ? "dist/cli/main.js" : "src/cli/main.ts",
      "serve",
      "--zone",
      DOMAIN,
      "--etcd",
      etcd.endpoint,
      "--prefix",
      PREFIX,
    ];
    args.push("--listen", `127.0.0.1:${port}`, "--metrics", `127.0.0.1:${metricsPort}`);
    const spawned = performance.now();
    const nodeArgs = values.profile === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${values.profile}`];
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FEDNS_LOG_LEVEL: "info" },
    });
    children.push(child);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    let coldMs: number | undefined;
    let cpuAtColdStart: number | undefined;
    let etcdCpuAtColdStart: number | undefined;
    const etcdPid = await pidWith(etcd.dataDir);
    const etcdCpuBefore = etcdPid === undefined ? 0 : await cpuSecondsOf(etcdPid);
    while (performance.now() - spawned < TIMEOUT_MS) {
      // A few names every 50 ms until one answers (polling must not be what slows the load), then all left.
      const batch = answered.size === 0 ? 5 : samples.length;
      let sent = 0;
      for (let i = 0; i < samples.length && sent < batch; i++) {
        if (answered.has(i)) continue;
        socket.send(query(samples[i]!, i), port, "127.0.0.1");
        sent++;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (answered.size === samples.length) {
        coldMs = performance.now() - spawned;
        if (child.pid !== undefined) cpuAtColdStart = await cpuSecondsOf(child.pid);
        if (etcdPid !== undefined) etcdCpuAtColdStart = (await cpuSecondsOf(etcdPid)) - etcdCpuBefore;
        break;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rss = child.pid === undefined ? Number.NaN : await rssOf(child.pid);
    const early = await heapOf(metricsPort);
    // V8 gives memory back some time after the allocation rate drops: the RSS a while later is what stays.
    await new Promise((resolve) => setTimeout(resolve, Number(values.settle) * 1000));
    const rssLater = child.pid === undefined ? Number.NaN : await rssOf(child.pid);
    const later = await heapOf(metricsPort);
    const loadLine = output.split("\n").find((line) => line.includes("loaded records"));
    const compactLine = output.split("\n").find((line) => line.includes("compacted the heap"));
    const loadMs = loadLine === undefined ? undefined : (JSON.parse(loadLine) as { ms?: number }).ms;
    if (coldMs === undefined) console.error(output.split("\n").slice(-20).join("\n"));
    socket.close();
    const load = await loadAverage();
    console.log(
      [
        `clusters ${CLUSTERS}: ${dataset.keys} keys in etcd, ${samples.length} sampled names`,
        `cold start (spawn → every sampled name answered): ${coldMs === undefined ? `not within ${TIMEOUT_MS / 1000} s` : `${(coldMs / 1000).toFixed(2)} s`} (server CPU by then: ${cpuAtColdStart === undefined ? "n/a" : `${cpuAtColdStart.toFixed(2)} s`}, etcd CPU meanwhile: ${etcdCpuAtColdStart === undefined ? "n/a" : `${etcdCpuAtColdStart.toFixed(2)} s`}); the server's own load: ${loadMs === undefined ? "n/a" : `${(loadMs / 1000).toFixed(2)} s`}`,
        `answers before that: ${[...rcodes].map(([label, n]) => `${label} ${n}`).join(", ")}; NXDOMAIN/NODATA for an existing name: ${nxdomainForExisting}`,
        `serve RSS ${(rss / MIB).toFixed(0)} MiB = ${Math.round(rss / dataset.keys)} B/record (whole process) 2 s after the cold start, heap used ${early}; ${values.settle} s later RSS ${(rssLater / MIB).toFixed(0)} MiB = ${Math.round(rssLater / dataset.keys)} B/record, heap used ${later}`,
        `heap compaction after the first load: ${compactLine ?? "n/a"}`,
        `server warnings and errors: ${
          output
            .split("\n")
            .filter((line) => /"level":(40|50|60)/.test(line))
            .slice(0, 5)
            .join("\n") || "none"
        }`,
        `load average ${load}`,
      ].join("\n"),
    );
  } finally {
    for (const child of children) child.kill("SIGTERM");
    // A profiled server writes its profile as it exits: wait for that (bounded).
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
            const timer = setTimeout(resolve, 10_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve(undefined);
            });
          }),
      ),
    );
    await etcd.destroy();
  }
}

function sample(names: readonly string[], count: number): string[] {
  const step = Math.max(1, Math.floor(names.length / count));
  const picked: string[] = [];
  for (let i = 0; i < names.length && picked.length < count; i += step) picked.push(names[i]!);
  return picked;
}

const generating = performance.now();
const dataset = datasetOf(CLUSTERS);
note(`generated ${dataset.keys} keys in ${((performance.now() - generating) / 1000).toFixed(1)} s`);
if (values.etcd) await etcdRun(dataset);
else await memoryRun(dataset);
