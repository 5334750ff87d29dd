// bin/fedns.js under the machine's old Node (/usr/bin/node < 24): it re-executes itself on the bundled
// Node 24 and must then behave as the server's own PID would. A signal sent to the shim reaches the server,
// which shuts down and frees its ports; the shim exits with the server's status or dies of its signal; and a
// shim killed outright (SIGKILL: nothing to forward) does not leave the server running.
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, waitForHttp } from "../../support/fedns.ts";
import { freePort } from "../../support/ports.ts";
import { type Started, startProcess } from "../../support/processes.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SHIM = `${ROOT}bin/fedns.js`;
const OLD_NODE = process.env.FEDNS_OLD_NODE ?? "/usr/bin/node";

interface ShimServe {
  shim: Started;
  /** The PID of the bundled Node running `fedns serve`. */
  server: number;
  dnsPort: number;
  metricsPort: number;
}

/** Whether `pid` is running (a zombie waiting for its reaper is not). */
function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // pid (comm) STATE ...: comm may hold spaces and parentheses, the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** The PIDs of `pid`'s children (Linux /proc). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
  return text === "" ? [] : text.split(/\s+/).map(Number);
}

async function portsFree(dnsPort: number, metricsPort: number): Promise<void> {
  const udp = createSocket("udp4");
  udp.bind(dnsPort, "127.0.0.1");
  await once(udp, "listening");
  udp.close();
  for (const port of [dnsPort, metricsPort]) {
    const tcp = createServer();
    tcp.listen(port, "127.0.0.1");
    await once(tcp, "listening");
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}

describe("bin/fedns.js under an old Node", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  const servers: number[] = [];

  before(async function () {
    if (!existsSync(OLD_NODE)) this.skip();
    const { stdout } = await run(OLD_NODE, ["--version"]);
    // With Node >= 24 the shim does not re-execute: nothing of this to test.
    if (Number(/^v(\d+)/.exec(stdout)?.[1] ?? 0) >= 24) this.skip();
    // The shim runs the compiled CLI; CI builds it in `npm ci` (prepare), a fresh worktree may not have.
    if (!existsSync(`${ROOT}dist/cli/main.js`))
      await run(`${ROOT}node_modules/.bin/tsc`, ["-p", "tsconfig.build.json"], { cwd: ROOT });
    etcd = await startEtcd();
  });

  afterEach(() => {
    // A server the shim failed to stop would otherwise outlive the run (it is not our child).
    for (const pid of servers.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
  });

  after(async () => {
    await etcd?.destroy();
  });

  async function serveThroughShim(): Promise<ShimServe> {
    const dnsPort = await freePort();
    let metricsPort = await freePort();
    while (metricsPort === dnsPort) metricsPort = await freePort();
    const shim = startProcess(OLD_NODE, [
      SHIM,
      "serve",
      "--zone",
      "example.com",
      "--etcd",
      etcd.endpoint,
      "--listen",
      `127.0.0.1:${dnsPort}`,
      "--metrics",
      `127.0.0.1:${metricsPort}`,
    ]);
    await waitForHttp(`http://127.0.0.1:${metricsPort}/readyz`, shim, 30_000);
    const children = childrenOf(shim.child.pid!);
    expect(children, "the shim runs exactly one child").to.have.length(1);
    const server = children[0]!;
    servers.push(server);
    const command = readFileSync(`/proc/${server}/cmdline`, "utf8").split("\0");
    expect(realpathSync(command[0]!), "the child is the bundled Node").to.equal(
      realpathSync(`${ROOT}node_modules/node/bin/node`),
    );
    return { shim, server, dnsPort, metricsPort };
  }

  // SIGINT: the "delivered twice" case below.
  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    it(`${signal} to the shim's PID stops the server, frees its ports, and the shim exits with its status`, async () => {
      const { shim, server, dnsPort, metricsPort } = await serveThroughShim();
      const exited = once(shim.child, "exit");
      shim.child.kill(signal);
      const [code, killedBy] = (await exited) as [number | null, NodeJS.Signals | null];
      // serve shuts down cleanly on SIGTERM/SIGINT (exit 0); SIGHUP it does not handle, so it dies of it
      // and so must the shim.
      if (signal === "SIGHUP") expect({ code, killedBy }).to.deep.equal({ code: null, killedBy: "SIGHUP" });
      else expect({ code, killedBy }, shim.output()).to.deep.equal({ code: 0, killedBy: null });
      // The shim waits for the server: once it is gone, so is the server.
      expect(alive(server), `server ${server} still running after the shim exited`).to.equal(false);
      await portsFree(dnsPort, metricsPort);
    });
  }

  it("passes one signal delivered twice at once (terminal and npm) on once: the server still shuts down cleanly", async () => {
    const { shim, server, dnsPort, metricsPort } = await serveThroughShim();
    const exited = once(shim.child, "exit");
    shim.child.kill("SIGINT");
    // Apart enough to be two deliveries (signals pending together merge into one), close enough to be one event.
    await new Promise((resolve) => setTimeout(resolve, 40));
    shim.child.kill("SIGINT");
    const [code, killedBy] = (await exited) as [number | null, NodeJS.Signals | null];
    // A second SIGINT reaching serve mid-shutdown kills it (exit by SIGINT, not 0).
    expect({ code, killedBy }, shim.output()).to.deep.equal({ code: 0, killedBy: null });
    expect(alive(server)).to.equal(false);
    await portsFree(dnsPort, metricsPort);
  });

  it("a shim killed with SIGKILL does not leave the server running", async () => {
    const { shim, server, dnsPort, metricsPort } = await serveThroughShim();
    const exited = once(shim.child, "exit");
    shim.child.kill("SIGKILL");
    await exited;
    await eventually("the orphaned server stops", async () => expect(alive(server)).to.equal(false), 10_000);
    await portsFree(dnsPort, metricsPort);
  });
});
