// A throwaway single-member etcd for `fedns dev` (and the benchmarks): free loopback ports,
// a temporary data dir, removed again on stop().
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LocalEtcd {
  endpoint: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** The etcd binary on PATH (or FEDNS_ETCD_BINARY), if any. */
export function findEtcdBinary(): string | undefined {
  const candidate = process.env.FEDNS_ETCD_BINARY ?? "etcd";
  const probe = spawnSync(candidate, ["--version"], { stdio: "ignore" });
  return probe.status === 0 ? candidate : undefined;
}

export async function startLocalEtcd(binary: string, options: { clientPort?: number } = {}): Promise<LocalEtcd> {
  const dataDir = await mkdtemp(join(tmpdir(), "fedns-etcd-"));
  const clientPort = options.clientPort ?? (await freeLoopbackPort());
  let peerPort = await freeLoopbackPort();
  while (peerPort === clientPort) peerPort = await freeLoopbackPort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let output = "";
  const child: ChildProcess = spawn(
    binary,
    [
      "--name=fedns-local",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=fedns-local=${peer}`,
      "--log-level=warn",
      "--logger=zap",
    ],
    // Its own process group: a Ctrl-C in the terminal reaches `fedns dev`, which stops the DNS server
    // and the controller before etcd, instead of etcd dying under them mid-shutdown.
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  // If the parent exits without stop() (a crash), etcd must not outlive it.
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const stop = async (): Promise<void> => {
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`etcd exited with code ${child.exitCode}: ${output.trim()}`);
    }
    try {
      const response = await fetch(`${endpoint}/health`);
      if (((await response.json()) as { health?: string }).health === "true") break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy within 20 s: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { endpoint, dataDir, stop };
}

/** A TCP port on 127.0.0.1 the kernel just handed out. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}
