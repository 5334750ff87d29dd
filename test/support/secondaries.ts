// Knot (knotd) and NSD as secondaries of a fedns primary on loopback, with a TSIG key, everything
// (config, zone files, journals, pid files) inside a temp dir. They accept NOTIFY from 127.0.0.1
// signed with the key and transfer from the primary with it.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KNOTD } from "./knot.ts";
import { type Started, startProcess } from "./processes.ts";

export const NSD = process.env.FEDNS_NSD_BINARY ?? "/usr/sbin/nsd";

export interface SecondaryOptions {
  zone: string;
  /** Where the secondary listens (pick with freePort(): the primary's NOTIFY list needs it first). */
  port: number;
  primary: { host: string; port: number };
  key: { name: string; algorithm: string; secret: string };
}

export interface Secondary {
  dns: { host: string; port: number };
  output(): string;
  stop(): Promise<void>;
}

export async function startKnotSecondary(options: SecondaryOptions): Promise<Secondary> {
  const dir = await mkdtemp(join(tmpdir(), "fedns-knot2-"));
  await mkdir(join(dir, "run"));
  await mkdir(join(dir, "db"));
  const q = (path: string): string => JSON.stringify(path);
  const { key, primary } = options;
  const config = [
    "server:",
    `    rundir: ${q(join(dir, "run"))}`,
    `    listen: 127.0.0.1@${options.port}`,
    "    udp-workers: 1",
    "    tcp-workers: 1",
    "    background-workers: 1",
    "control:",
    `    listen: ${q(join(dir, "run", "knot.sock"))}`,
    "database:",
    `    storage: ${q(join(dir, "db"))}`,
    "log:",
    "  - target: stderr",
    "    any: info",
    "key:",
    `  - id: ${key.name}`,
    `    algorithm: ${key.algorithm}`,
    `    secret: ${key.secret}`,
    "remote:",
    "  - id: fedns",
    `    address: ${primary.host}@${primary.port}`,
    `    key: ${key.name}`,
    "acl:",
    "  - id: notify-from-fedns",
    `    address: ${primary.host}`,
    `    key: ${key.name}`,
    "    action: notify",
    "template:",
    "  - id: default",
    `    storage: ${q(dir)}`,
    "    zonefile-sync: -1",
    "    zonefile-load: none",
    "    journal-content: changes",
    "zone:",
    `  - domain: ${options.zone}`,
    "    master: fedns",
    "    acl: notify-from-fedns",
    "",
  ].join("\n");
  const path = join(dir, "knot.conf");
  await writeFile(path, config);
  const started: Started = startProcess(KNOTD, ["-c", path]);
  return {
    dns: { host: "127.0.0.1", port: options.port },
    output: started.output,
    stop: async () => {
      await started.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startNsdSecondary(options: SecondaryOptions): Promise<Secondary> {
  const dir = await mkdtemp(join(tmpdir(), "fedns-nsd-"));
  const q = (path: string): string => JSON.stringify(path);
  const { key, primary } = options;
  const config = [
    "server:",
    "    ip-address: 127.0.0.1",
    `    port: ${options.port}`,
    '    username: ""',
    '    chroot: ""',
    `    zonesdir: ${q(dir)}`,
    `    pidfile: ${q(join(dir, "nsd.pid"))}`,
    `    xfrdfile: ${q(join(dir, "xfrd.state"))}`,
    `    xfrdir: ${q(dir)}`,
    `    zonelistfile: ${q(join(dir, "zone.list"))}`,
    '    database: ""',
    "    server-count: 1",
    "    verbosity: 2",
    "    xfrd-reload-timeout: 0",
    "remote-control:",
    "    control-enable: no",
    "key:",
    `    name: ${key.name}`,
    `    algorithm: ${key.algorithm}`,
    `    secret: "${key.secret}"`,
    "zone:",
    `    name: ${options.zone}`,
    `    zonefile: ${q(join(dir, `${options.zone}.zone`))}`,
    `    allow-notify: ${primary.host} ${key.name}`,
    `    request-xfr: ${primary.host}@${primary.port} ${key.name}`,
    "",
  ].join("\n");
  const path = join(dir, "nsd.conf");
  await writeFile(path, config);
  const started: Started = startProcess(NSD, ["-d", "-c", path]);
  return {
    dns: { host: "127.0.0.1", port: options.port },
    output: started.output,
    stop: async () => {
      await started.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
