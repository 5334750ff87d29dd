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
  let output = "";
  const child: ChildProcess = spawn(
    binary,
    etcdArgs({ name: "fedns-local", dataDir, clientPort, peerPort }),
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
  try {
    await waitForEtcd(endpoint, { exitCode: () => child.exitCode, output: () => output });
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, dataDir, stop };
}

export interface EtcdArgsOptions {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** Further flags, e.g. `--max-txn-ops=64`. */
  extra?: string[];
}

/** The command line of a single-member etcd on loopback (shared by `fedns dev`, the test harness, the benchmarks). */
export function etcdArgs(options: EtcdArgsOptions): string[] {
  const client = `http://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  return [
    `--name=${options.name}`,
    `--data-dir=${options.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${options.name}=${peer}`,
    "--log-level=warn",
    "--logger=zap",
    ...(options.extra ?? []),
  ];
}

/** Resolves once etcd's /health says true; fails if the process exits first or after the timeout. */
export async function waitForEtcd(
  endpoint: string,
  process: { exitCode: () => number | null; output: () => string },
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const code = process.exitCode();
    if (code !== null) throw new Error(`etcd exited with code ${code}: ${process.output().trim()}`);
    try {
      const response = await fetch(`${endpoint}/health`);
      if (((await response.json()) as { health?: string }).health === "true") return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd did not become healthy within ${timeoutMs / 1000} s: ${process.output().trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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
