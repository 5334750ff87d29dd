// bench/abuse: legitimate traffic against `fedns serve` (real etcd, 100,000 records) with and
// without each attack of issue 9, side by side: rotating wildcard names, empty non-terminals
// under etcd churn (10 changes/s), SRV fan-out (under the same churn, so the response cache
// cannot hide it), a spoofed-source flood through RRL (several 127.x sources), and a TCP trickle.
// Each row gets a fresh server (an attack can leave a backlog behind). Prints the legitimate
// throughput and p99 latency without and during the attack, and their ratios. See bench/README.md.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Etcd3 } from "etcd3";
import { pathOfName } from "../../src/records/name.ts";
import { BENCH_ZONE, benchName, buildDataset, type EtcdRecord } from "../qps/dataset.ts";
import { parseDnsperfOutput } from "../qps/dnsperf.ts";
import { loadRecords, startEtcd } from "../qps/etcd.ts";
import { nodeBinary } from "../qps/fedns.ts";
import { startKnot } from "../qps/knot.ts";
import { ChildTracker, digA, freePort, sleep, type Tracked, waitUntil } from "../qps/processes.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PREFIX = "/skydns";
const NAMES = 100_000;
const SRV_RECORDS = 200;
const SRV_TARGET_ADDRESSES = 4000;

interface Options {
  seconds: number;
  legitQps: number;
  only: string | undefined;
  /** dns.cache.entries of the server (default: the server's default). */
  cacheEntries: number | undefined;
  /** Also the ordinary flood against Knot (1 and 2 UDP workers) serving the same names: the reference. */
  knot: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string" },
      "legit-qps": { type: "string" },
      only: { type: "string" },
      "cache-entries": { type: "string" },
      knot: { type: "boolean" },
    },
  });
  return {
    seconds: Number(values.seconds ?? 8),
    legitQps: Number(values["legit-qps"] ?? 2000),
    only: values.only,
    cacheEntries: values["cache-entries"] === undefined ? undefined : Number(values["cache-entries"]),
    knot: values.knot ?? false,
  };
}

interface Measured {
  qps: number;
  p99Ms: number;
  lost: number;
}

/** dnsperf (verbose: one latency per answered query) with the given extra arguments; throughput and p99. */
async function dnsperf(tracker: ChildTracker, args: string[]): Promise<Measured> {
  const child = spawn("dnsperf", ["-v", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  tracker.track(child, "dnsperf");
  const latencies: number[] = [];
  let tail = "";
  child.stdout.on("data", (chunk: Buffer) => {
    const text = tail + chunk.toString();
    const lines = text.split("\n");
    tail = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.startsWith("> ")) stats += `${line}\n`;
      const latency = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (line.startsWith("> ") && Number.isFinite(latency)) latencies.push(latency);
    }
  });
  let stats = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stats += chunk.toString();
  });
  await new Promise((done) => child.once("close", done));
  const result = parseDnsperfOutput(stats + tail);
  // A lost query counts as the timeout (2 s) in the percentile.
  for (let i = 0; i < result.lost; i++) latencies.push(2);
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? Number.NaN;
  return { qps: result.qps, p99Ms: p99 * 1000, lost: result.lost };
}

function dnsperfArgs(port: number, file: string, seconds: number, extra: string[]): string[] {
  return ["-s", "127.0.0.1", "-p", String(port), "-d", file, "-l", String(seconds), ...extra];
}

/** Keeps `count` TCP connections from `source` trickling one byte every 100 ms, reconnecting when closed. */
function trickle(port: number, source: string, count: number): () => void {
  const sockets = new Set<Socket>();
  let stopped = false;
  const open = (): void => {
    if (stopped) return;
    const socket = connect({ host: "127.0.0.1", port, localAddress: source });
    sockets.add(socket);
    const timer = setInterval(() => socket.write(Buffer.from([1])), 100);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      sockets.delete(socket);
      setTimeout(open, 20);
    });
  };
  for (let i = 0; i < count; i++) open();
  return () => {
    stopped = true;
    for (const socket of sockets) socket.destroy();
  };
}

/** Writes `perSecond` changes a second to a key of the zone until stopped (etcd churn). */
function churn(etcdUrl: string, perSecond: number): () => Promise<void> {
  const client = new Etcd3({ hosts: etcdUrl });
  let stopped = false;
  let n = 0;
  const key = `${pathOfName(PREFIX, `churn.${BENCH_ZONE}`)}/x`;
  const loop = (async () => {
    while (!stopped) {
      await client.put(key).value(JSON.stringify({ host: `10.250.${(n >> 8) & 0xff}.${n++ & 0xff}`, ttl: 30 }));
      await sleep(1000 / perSecond);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    client.close();
  };
}

interface Attack {
  name: string;
  /** A control row: an ordinary flood at the attacker's rate, what every attack row is compared with. */
  control?: "plain" | "churn" | "tcp";
  /** The control row this attack is compared with (the same rate of ordinary names, same churn; tcp: the same storm elsewhere). */
  comparedWith?: "plain" | "churn" | "tcp";
  /** Legitimate queries over TCP instead of UDP. */
  tcp?: boolean;
  rrl?: boolean;
  /** Starts the attack; returns its stop. */
  start(context: {
    port: number;
    etcdUrl: string;
    tracker: ChildTracker;
    dir: string;
    seconds: number;
  }): () => Promise<void>;
}

function attackerDnsperf(
  context: { port: number; tracker: ChildTracker; seconds: number },
  file: string,
  extra: string[] = [],
): Promise<Measured> {
  return dnsperf(context.tracker, dnsperfArgs(context.port, file, context.seconds + 2, ["-q", "200", ...extra]));
}

function writeLines(dir: string, name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

function attacks(dir: string, legitFile: string): Attack[] {
  const wildcard: string[] = [];
  for (let i = 0; i < NAMES / 10; i++) {
    const base = benchName(i * 10);
    wildcard.push(`*.${base.slice(base.indexOf(".") + 1)} A`);
  }
  const ents: string[] = [];
  for (let i = 0; i < NAMES / 100; i++) {
    const base = benchName(i * 100);
    ents.push(`${base.split(".").slice(2).join(".")} A`);
  }
  const wildcardFile = writeLines(dir, "wildcard.txt", wildcard);
  const entFile = writeLines(dir, "ent.txt", ents);
  const srvFile = writeLines(dir, "srv.txt", [`fan.${BENCH_ZONE} SRV`]);
  const floodFile = writeLines(dir, "flood.txt", [`${benchName(1)} A`, `nx.${BENCH_ZONE} A`]);
  return [
    {
      name: "control: ordinary names flood",
      control: "plain",
      start: (context) => {
        const run = attackerDnsperf(context, legitFile);
        return async () => void (await run);
      },
    },
    {
      name: "control: ordinary flood + 10 changes/s",
      control: "churn",
      start: (context) => {
        const stopChurn = churn(context.etcdUrl, 10);
        const run = attackerDnsperf(context, legitFile);
        return async () => {
          await run;
          await stopChurn();
        };
      },
    },
    {
      name: "rotating wildcard names",
      comparedWith: "plain",
      start: (context) => {
        const run = attackerDnsperf(context, wildcardFile);
        return async () => void (await run);
      },
    },
    {
      name: "empty non-terminals + 10 changes/s",
      comparedWith: "churn",
      start: (context) => {
        const stopChurn = churn(context.etcdUrl, 10);
        const run = attackerDnsperf(context, entFile);
        return async () => {
          await run;
          await stopChurn();
        };
      },
    },
    {
      name: "SRV fan-out + 10 changes/s",
      comparedWith: "churn",
      start: (context) => {
        const stopChurn = churn(context.etcdUrl, 10);
        const run = attackerDnsperf(context, srvFile);
        return async () => {
          await run;
          await stopChurn();
        };
      },
    },
    {
      name: "spoofed-source flood through RRL",
      rrl: true,
      start: (context) => {
        const runs = ["127.0.0.2", "127.0.0.3", "127.0.0.4"].map((source) =>
          attackerDnsperf(context, floodFile, ["-a", source, "-e"]),
        );
        return async () => void (await Promise.all(runs));
      },
    },
    {
      // The same attacker aimed at a decoy listener in another process (it closes every connection at
      // once, as a refusing server does): what the attack's own CPU and the loopback traffic cost the
      // legitimate TCP clients on this machine while fedns is not attacked at all.
      name: "control: TCP trickle at a decoy",
      control: "tcp",
      tcp: true,
      start: (context) => {
        let stopTrickle: (() => void) | undefined;
        const decoy = spawn(
          nodeBinary(ROOT),
          [
            "-e",
            'const s=require("node:net").createServer(c=>c.destroy());s.listen(0,"127.0.0.1",()=>console.log(s.address().port))',
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        const tracked = context.tracker.track(decoy, "decoy listener");
        const started = new Promise<void>((resolvePort) => {
          decoy.stdout.once("data", (chunk: Buffer) => {
            stopTrickle = trickle(Number(chunk.toString().trim()), "127.0.0.2", 1000);
            resolvePort();
          });
        });
        return async () => {
          await started;
          await sleep((context.seconds + 1) * 1000);
          stopTrickle?.();
          await context.tracker.stop(tracked);
        };
      },
    },
    {
      name: "TCP trickle (1,000 connections)",
      comparedWith: "tcp",
      tcp: true,
      start: (context) => {
        const stop = trickle(context.port, "127.0.0.2", 1000);
        return async () => {
          await sleep((context.seconds + 1) * 1000);
          stop();
        };
      },
    },
  ];
}

async function startServe(
  tracker: ChildTracker,
  dir: string,
  etcdUrl: string,
  rrl: boolean,
  cacheEntries: number | undefined,
): Promise<{ port: number; server: Tracked }> {
  const port = await freePort();
  const metrics = await freePort(new Set([port]));
  const config = join(dir, `fedns-${port}.yaml`);
  writeFileSync(
    config,
    [
      `zones: [${BENCH_ZONE}]`,
      `etcd: { endpoints: ["${etcdUrl}"], prefix: ${PREFIX} }`,
      `metrics: { listen: "127.0.0.1:${metrics}" }`,
      "dns:",
      `  listen: "127.0.0.1:${port}"`,
      "  cookies: { secret: 000102030405060708090a0b0c0d0e0f }",
      // The legitimate client stands for the member clusters' forwarders: exempt, as deployed.
      `  rrl: { enabled: ${rrl}, responsesPerSecond: 20, slip: 2, exempt: ["127.0.0.1/32"] }`,
      ...(cacheEntries === undefined ? [] : [`  cache: { entries: ${cacheEntries} }`]),
      "",
    ].join("\n"),
  );
  const child = spawn(nodeBinary(ROOT), ["src/cli/main.ts", "serve", "--config", config], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FEDNS_LOG_LEVEL: "warn" },
  });
  const server = tracker.track(child, "fedns serve");
  const probe = benchName(NAMES - 1);
  await waitUntil("fedns to answer", async () => (await digA(port, probe)).addresses.length > 0, 120_000, server);
  return { port, server };
}

function srvRecords(): EtcdRecord[] {
  const records: EtcdRecord[] = [];
  const target = `big.${BENCH_ZONE}`;
  for (let i = 0; i < SRV_RECORDS; i++) {
    records.push({
      key: `${pathOfName(PREFIX, `fan.${BENCH_ZONE}`)}/s${i}`,
      value: JSON.stringify({ host: target, port: 1000 + i }),
    });
  }
  for (let i = 0; i < SRV_TARGET_ADDRESSES; i++) {
    const host = `10.251.${(i >> 8) & 0xff}.${i & 0xff}`;
    records.push({ key: `${pathOfName(PREFIX, target)}/a${i}`, value: JSON.stringify({ host }) });
  }
  return records;
}

/**
 * The legitimate load against `port` without, then during, an attack (started by `start`, which returns
 * its stop): a warm-up, the quiet run, the attack, a second's head start, the run during it.
 */
async function measure(
  tracker: ChildTracker,
  port: number,
  legitFile: string,
  options: Options,
  tcp: boolean,
  start: () => () => Promise<void>,
): Promise<{ quiet: Measured; during: Measured }> {
  const legitArgs = (seconds: number) =>
    dnsperfArgs(port, legitFile, seconds, [
      "-Q",
      String(options.legitQps),
      "-t",
      "2",
      ...(tcp ? ["-m", "tcp", "-c", "4"] : []),
    ]);
  await dnsperf(tracker, legitArgs(2));
  const quiet = await dnsperf(tracker, legitArgs(options.seconds));
  const stop = start();
  await sleep(1000);
  const during = await dnsperf(tracker, legitArgs(options.seconds));
  await stop();
  return { quiet, during };
}

function formatRow(name: string, quiet: Measured, during: Measured, control: Measured | undefined): string {
  return [
    name.padEnd(38),
    `${quiet.qps.toFixed(0).padStart(6)} qps p99 ${quiet.p99Ms.toFixed(2).padStart(7)} ms`,
    `${during.qps.toFixed(0).padStart(6)} qps p99 ${during.p99Ms.toFixed(2).padStart(8)} ms (lost ${during.lost})`,
    `qps ratio ${(during.qps / quiet.qps).toFixed(2)}`,
    `p99 ratio ${(quiet.p99Ms / during.p99Ms).toFixed(2)}`,
    control === undefined ? "" : `p99 vs control ${(control.p99Ms / during.p99Ms).toFixed(2)}`,
  ]
    .filter((cell) => cell !== "")
    .join(" | ");
}

async function main(): Promise<void> {
  const options = parseOptions();
  const tracker = new ChildTracker();
  const dir = mkdtempSync(join(tmpdir(), "fedns-abuse-"));
  tracker.trackDir(dir);
  process.once("SIGINT", () => {
    tracker.cleanupNow();
    process.exit(130);
  });
  try {
    const etcd = await startEtcd(dir, 1, tracker);
    const dataset = buildDataset({ names: NAMES, nxRatio: 0.1, prefix: PREFIX });
    const loaded = await loadRecords(etcd.url, PREFIX, [...dataset.etcdRecords, ...srvRecords()]);
    process.stdout.write(`etcd holds ${loaded} keys (${NAMES} names + SRV fan-out shape)\n`);
    const legitFile = writeLines(dir, "legit.txt", dataset.queries.trim().split("\n"));
    const rows: string[] = [];
    const controls = new Map<string, Measured>();
    for (const attack of attacks(dir, legitFile)) {
      const wanted = options.only === undefined || attack.name.includes(options.only);
      // A compared attack needs its control row, even with --only.
      const neededControl =
        attack.control !== undefined &&
        attacks(dir, legitFile).some(
          (other) =>
            other.comparedWith === attack.control && (options.only === undefined || other.name.includes(options.only)),
        );
      if (!wanted && !neededControl) continue;
      const { port, server } = await startServe(tracker, dir, etcd.url, attack.rrl ?? false, options.cacheEntries);
      const { quiet, during } = await measure(tracker, port, legitFile, options, attack.tcp ?? false, () =>
        attack.start({ port, etcdUrl: etcd.url, tracker, dir, seconds: options.seconds }),
      );
      await tracker.stop(server);
      if (attack.control !== undefined) controls.set(attack.control, during);
      const control = attack.comparedWith === undefined ? undefined : controls.get(attack.comparedWith);
      const row = formatRow(attack.name, quiet, during, control);
      rows.push(row);
      process.stdout.write(`${row}\n`);
    }
    if (options.knot) {
      // The reference: the ordinary flood against a C server serving the same names from a zone file.
      const zoneFile = join(dir, `${BENCH_ZONE}.zone`);
      writeFileSync(zoneFile, dataset.zoneFile);
      const plainFlood = attacks(dir, legitFile).find((attack) => attack.control === "plain");
      if (plainFlood === undefined) throw new Error("bench/abuse: the ordinary flood's row is missing");
      for (const udpWorkers of [1, 2]) {
        const port = await freePort();
        const knot = startKnot(
          { dir: join(dir, `knot-${udpWorkers}`), port, zoneFile, cpu: undefined, udpWorkers },
          tracker,
        );
        const probe = benchName(NAMES - 1);
        await waitUntil("knotd to answer", async () => (await digA(port, probe)).addresses.length > 0, 60_000, knot);
        const { quiet, during } = await measure(tracker, port, legitFile, options, false, () =>
          plainFlood.start({ port, etcdUrl: etcd.url, tracker, dir, seconds: options.seconds }),
        );
        await tracker.stop(knot);
        const row = formatRow(`Knot, ${udpWorkers} UDP worker(s): ordinary flood`, quiet, during, undefined);
        rows.push(row);
        process.stdout.write(`${row}\n`);
      }
    }
    process.stdout.write(
      `\nlegitimate load: dnsperf -Q ${options.legitQps}, ${options.seconds} s without and during each attack` +
        " (attacker: one dnsperf, unlimited; RRL row: three, from 127.0.0.2-4; TCP rows: 1,000 trickling connections from 127.0.0.2)\n" +
        `${"attack".padEnd(38)} | without                    | during                              | ratios (during/without; p99: without/during; vs control: control's p99 during / this p99 during)\n` +
        `${rows.join("\n")}\n`,
    );
  } finally {
    await tracker.cleanup();
  }
}

await main();
