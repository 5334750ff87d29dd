// A real recursive resolver for tests: unbound with a stub zone pointing at fedns on loopback,
// so answers are checked the way CoreDNS forwarding or a caching resolver would see them.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { type Started, startProcess } from "./processes.ts";

export interface Unbound {
  port: number;
  stop(): Promise<void>;
  output(): string;
}

export interface UnboundOptions {
  zones: string[];
  upstream: { host: string; port: number };
  /** Cache nothing so each test sees fedns's current data. */
  noCache?: boolean;
  /** stub-zone (default: unbound iterates from fedns as the zone's server) or forward-zone (fedns as a forwarder). */
  mode?: "stub" | "forward";
  /** unbound's default is on; off by default here for the older tests. */
  qnameMinimisation?: boolean;
  /** Source address of unbound's queries to fedns (a loopback address stands for a member cluster's resolver). */
  outgoingInterface?: string;
}

export async function startUnbound(options: UnboundOptions): Promise<Unbound> {
  const dir = await mkdtemp(join(tmpdir(), "fedns-unbound-"));
  const port = await freePort();
  const upstream = `${options.upstream.host}@${options.upstream.port}`;
  const noCache = options.noCache === false ? "no" : "yes";
  const stubs = options.zones
    .map((zone) =>
      options.mode === "forward"
        ? `forward-zone:\n  name: "${zone}"\n  forward-addr: ${upstream}\n  forward-no-cache: ${noCache}\n`
        : `stub-zone:\n  name: "${zone}"\n  stub-addr: ${upstream}\n  stub-no-cache: ${noCache}\n`,
    )
    .join("");
  const config = `server:
  interface: 127.0.0.1
  port: ${port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${join(dir, "unbound.pid")}"
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  so-reuseport: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: ${options.qnameMinimisation === true ? "yes" : "no"}
  cache-max-ttl: ${options.noCache === false ? 86400 : 0}
  cache-max-negative-ttl: ${options.noCache === false ? 3600 : 0}
  do-ip6: no
  edns-buffer-size: 1232
${options.outgoingInterface === undefined ? "" : `  outgoing-interface: ${options.outgoingInterface}\n`}${options.zones.map((zone) => `  domain-insecure: "${zone}"\n  local-zone: "${zone}" nodefault\n`).join("")}
remote-control:
  control-enable: no
${stubs}`;
  const confPath = join(dir, "unbound.conf");
  await writeFile(confPath, config);
  const process: Started = startProcess("unbound", ["-d", "-c", confPath]);
  await waitForUdp(port, process);
  return {
    port,
    output: process.output,
    stop: async () => {
      await process.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForUdp(port: number, process: Started): Promise<void> {
  const { execFile } = await import("node:child_process");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (process.child.exitCode !== null) throw new Error(`unbound exited: ${process.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      execFile("dig", ["@127.0.0.1", "-p", String(port), "+time=1", "+tries=1", "localhost", "A"], (err, stdout) =>
        resolve(err === null && stdout.includes("status:")),
      );
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`unbound did not start on port ${port}: ${process.output()}`);
}
