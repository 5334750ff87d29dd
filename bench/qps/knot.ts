// Knot DNS (Debian `knot`) serving the bench zone from a zone file, entirely inside a temp dir.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_ZONE } from "./dataset.ts";
import type { ChildTracker, Tracked } from "./processes.ts";

export const KNOTD = "/usr/sbin/knotd";

export interface KnotOptions {
  dir: string;
  port: number;
  zoneFile: string;
  /** The core to pin knotd to (`taskset -c`); undefined: not pinned. */
  cpu: number | undefined;
  /** UDP worker threads; 1 matches a single-threaded server pinned to one core. */
  udpWorkers: number;
}

/** A knot.conf that touches no system path: rundir, storage and journal all live in `dir`. */
export function knotConfig(options: Omit<KnotOptions, "cpu">): string {
  const q = (path: string): string => JSON.stringify(path);
  return [
    "server:",
    `    rundir: ${q(join(options.dir, "run"))}`,
    `    listen: 127.0.0.1@${options.port}`,
    `    udp-workers: ${options.udpWorkers}`,
    "    tcp-workers: 1",
    "    background-workers: 1",
    "",
    "database:",
    `    storage: ${q(join(options.dir, "db"))}`,
    "",
    "log:",
    "  - target: stderr",
    "    any: warning",
    "",
    "template:",
    "  - id: default",
    `    storage: ${q(options.dir)}`,
    "    journal-content: none",
    "    zonefile-sync: -1",
    "    zonefile-load: whole",
    "",
    "zone:",
    `  - domain: ${BENCH_ZONE}`,
    `    file: ${q(options.zoneFile)}`,
    "",
  ].join("\n");
}

/** Writes knot.conf and starts `knotd -c knot.conf` (foreground), under `taskset -c CPU` when pinned. */
export function startKnot(options: KnotOptions, tracker: ChildTracker): Tracked {
  mkdirSync(join(options.dir, "run"), { recursive: true });
  mkdirSync(join(options.dir, "db"), { recursive: true });
  const configFile = join(options.dir, "knot.conf");
  writeFileSync(configFile, knotConfig(options));
  const [command, ...args] =
    options.cpu === undefined
      ? [KNOTD, "-c", configFile]
      : ["taskset", "-c", String(options.cpu), KNOTD, "-c", configFile];
  const child = spawn(command as string, args, { stdio: ["ignore", "pipe", "pipe"] });
  return tracker.track(child, "knotd");
}
