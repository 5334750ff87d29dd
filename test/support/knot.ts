// Knot DNS (knotd) serving one zone file on a free loopback port, everything (config, rundir,
// storage, control socket) inside a temp dir: the reference server for side-by-side tests.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kdig } from "./dns.ts";
import { freePort } from "./ports.ts";
import { type Started, startProcess } from "./processes.ts";

export const KNOTD = process.env.FEDNS_KNOTD_BINARY ?? "/usr/sbin/knotd";

export interface Knot {
  dns: { host: string; port: number };
  output(): string;
  stop(): Promise<void>;
}

export async function startKnot(options: { zone: string; zoneFile: string }): Promise<Knot> {
  const dir = await mkdtemp(join(tmpdir(), "fedns-knot-"));
  const port = await freePort();
  await mkdir(join(dir, "run"));
  await mkdir(join(dir, "db"));
  const zonePath = join(dir, `${options.zone}.zone`);
  await writeFile(zonePath, options.zoneFile);
  const q = (path: string): string => JSON.stringify(path);
  const config = [
    "server:",
    `    rundir: ${q(join(dir, "run"))}`,
    `    listen: 127.0.0.1@${port}`,
    "    udp-workers: 1",
    "    tcp-workers: 1",
    "    background-workers: 1",
    "control:",
    `    listen: ${q(join(dir, "run", "knot.sock"))}`,
    "database:",
    `    storage: ${q(join(dir, "db"))}`,
    "log:",
    "  - target: stderr",
    "    any: notice",
    "template:",
    "  - id: default",
    `    storage: ${q(dir)}`,
    "    journal-content: none",
    "    zonefile-sync: -1",
    "    zonefile-load: whole",
    "    semantic-checks: on",
    "zone:",
    `  - domain: ${options.zone}`,
    `    file: ${q(zonePath)}`,
    "",
  ].join("\n");
  const configPath = join(dir, "knot.conf");
  await writeFile(configPath, config);
  const started: Started = startProcess(KNOTD, ["-c", configPath]);
  const dns = { host: "127.0.0.1", port };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (started.child.exitCode !== null) throw new Error(`knotd exited: ${started.output()}`);
    const reply = await kdig(dns, options.zone, "SOA").catch(() => undefined);
    if (reply?.status === "NOERROR" && reply.answer.length === 1) break;
    if (Date.now() > deadline) throw new Error(`knotd did not serve ${options.zone}: ${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    dns,
    output: started.output,
    stop: async () => {
      await started.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
