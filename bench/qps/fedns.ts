// The server under test: `fedns serve` (the real CLI) pinned to one core, optionally under --cpu-prof.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BENCH_ZONE } from "./dataset.ts";
import type { ChildTracker, Tracked } from "./processes.ts";

const execFileAsync = promisify(execFile);

export interface FednsOptions {
  /** Repository root (the directory holding node_modules and src). */
  root: string;
  port: number;
  metricsPort: number;
  etcdUrl: string;
  prefix: string;
  cpu: number;
  /** dns.udpTransport of the server (--udp-transport). */
  udpTransport: "native" | "dgram";
  /** When set, node writes a .cpuprofile into this directory on a clean exit. */
  cpuProfDir?: string;
}

export function nodeBinary(root: string): string {
  return join(root, "node_modules", ".bin", "node");
}

/** True when this checkout's CLI has the `serve` subcommand. */
export async function serveAvailable(root: string): Promise<boolean> {
  try {
    await execFileAsync(nodeBinary(root), [join(root, "src/cli/main.ts"), "serve", "--help"], {
      cwd: root,
      timeout: 20_000,
    });
    return true;
  } catch {
    return false;
  }
}

export function fednsArgs(options: FednsOptions): string[] {
  const nodeFlags = options.cpuProfDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.cpuProfDir];
  return [
    "-c",
    String(options.cpu),
    nodeBinary(options.root),
    ...nodeFlags,
    "src/cli/main.ts",
    "serve",
    "--zone",
    BENCH_ZONE,
    "--etcd",
    options.etcdUrl,
    "--prefix",
    options.prefix,
    "--listen",
    `127.0.0.1:${options.port}`,
    "--metrics",
    `127.0.0.1:${options.metricsPort}`,
    "--udp-transport",
    options.udpTransport,
  ];
}

/** Starts `taskset -c CPU node [--cpu-prof ...] src/cli/main.ts serve ...` with warn-level logs. */
export function startFedns(options: FednsOptions, tracker: ChildTracker): Tracked {
  const child = spawn("taskset", fednsArgs(options), {
    cwd: options.root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FEDNS_LOG_LEVEL: process.env.FEDNS_LOG_LEVEL ?? "warn" },
  });
  return tracker.track(child, `fedns serve (${options.udpTransport} UDP)`);
}

/** The newest .cpuprofile node wrote into `dir`, if any. */
export function newestProfile(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const profiles = readdirSync(dir)
    .filter((file) => file.endsWith(".cpuprofile"))
    .map((file) => join(dir, file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return profiles[0];
}
