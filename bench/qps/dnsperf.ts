// Runs dnsperf against one server (pinned to a core) and reads its statistics block.
import { spawn } from "node:child_process";
import type { ChildTracker } from "./processes.ts";

export interface DnsperfResult {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  /** Seconds. */
  avgLatency: number;
  minLatency: number;
  maxLatency: number;
  runTime: number;
  /** e.g. { NOERROR: 9990, NXDOMAIN: 1000 } */
  rcodes: Record<string, number>;
  requestSize: number;
  responseSize: number;
}

export interface DnsperfOptions {
  port: number;
  queryFile: string;
  seconds: number;
  clients: number;
  threads: number;
  /** Maximum outstanding queries (dnsperf -q). */
  outstanding: number;
  /** Core dnsperf is pinned to. */
  cpu: number;
  /** Limit of queries per second (dnsperf -Q); unlimited when undefined. */
  maxQps?: number;
}

function numberAfter(output: string, pattern: RegExp, what: string): number {
  const match = pattern.exec(output);
  if (match?.[1] === undefined) throw new Error(`dnsperf output has no ${what}:\n${output}`);
  return Number(match[1]);
}

/** Parses the "Statistics:" block dnsperf prints at the end of a run. */
export function parseDnsperfOutput(output: string): DnsperfResult {
  const rcodes: Record<string, number> = {};
  const rcodeLine = /Response codes:\s+(.*)/.exec(output)?.[1] ?? "";
  for (const match of rcodeLine.matchAll(/([A-Z]+)\s+(\d+)/g)) {
    if (match[1] !== undefined && match[2] !== undefined) rcodes[match[1]] = Number(match[2]);
  }
  const latency = /Average Latency \(s\):\s+([\d.]+)\s+\(min\s+([\d.]+),\s+max\s+([\d.]+)\)/.exec(output);
  const sizes = /Average packet size:\s+request\s+(\d+),\s+response\s+(\d+)/.exec(output);
  if (latency === null) throw new Error(`dnsperf output has no average latency:\n${output}`);
  return {
    sent: numberAfter(output, /Queries sent:\s+(\d+)/, "queries sent"),
    completed: numberAfter(output, /Queries completed:\s+(\d+)/, "queries completed"),
    lost: numberAfter(output, /Queries lost:\s+(\d+)/, "queries lost"),
    qps: numberAfter(output, /Queries per second:\s+([\d.]+)/, "queries per second"),
    runTime: numberAfter(output, /Run time \(s\):\s+([\d.]+)/, "run time"),
    avgLatency: Number(latency[1]),
    minLatency: Number(latency[2]),
    maxLatency: Number(latency[3]),
    rcodes,
    requestSize: Number(sizes?.[1] ?? Number.NaN),
    responseSize: Number(sizes?.[2] ?? Number.NaN),
  };
}

export function dnsperfArgs(options: DnsperfOptions): string[] {
  const args = [
    "-c",
    String(options.cpu),
    "dnsperf",
    "-s",
    "127.0.0.1",
    "-p",
    String(options.port),
    "-d",
    options.queryFile,
    "-l",
    String(options.seconds),
    "-c",
    String(options.clients),
    "-T",
    String(options.threads),
    "-q",
    String(options.outstanding),
  ];
  if (options.maxQps !== undefined) args.push("-Q", String(options.maxQps));
  return args;
}

/** Runs `taskset -c CPU dnsperf ...` to completion and returns its parsed statistics. */
export async function runDnsperf(options: DnsperfOptions, tracker: ChildTracker): Promise<DnsperfResult> {
  const child = spawn("taskset", dnsperfArgs(options), { stdio: ["ignore", "pipe", "pipe"] });
  tracker.track(child, "dnsperf");
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`dnsperf exited with ${code}:\n${output}`);
  return parseDnsperfOutput(output);
}
