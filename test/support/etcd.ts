// startEtcd(): a real etcd (/usr/bin/etcd) on free loopback ports with a temporary data dir, for integration
// tests: stop()/start()/restart() keep data dir and ports; etcdctl() and compact() act on it.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { etcdArgs, waitForEtcd } from "../../src/store/local-etcd.ts";
import { freePort } from "./ports.ts";
import { type Started, startProcess } from "./processes.ts";

const run = promisify(execFile);

export const ETCD_BINARY = process.env.FEDNS_ETCD_BINARY ?? "/usr/bin/etcd";
export const ETCDCTL_BINARY = process.env.FEDNS_ETCDCTL_BINARY ?? "/usr/bin/etcdctl";

export interface EtcdStartOptions {
  /** etcd's --max-txn-ops (default etcd's own, 128). */
  maxTxnOps?: number;
}

export interface EtcdProcess {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly dataDir: string;
  /** Starts etcd again after stop() (same ports, same data) and waits until it is healthy. */
  start(): Promise<void>;
  /** Stops the process and keeps the data dir. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Runs etcdctl (API v3) against this etcd; resolves with stdout. */
  etcdctl(args: string[]): Promise<string>;
  /** The current store revision. */
  revision(): Promise<number>;
  /** Compacts history up to the current revision; returns it. */
  compact(): Promise<number>;
  /** Stops etcd and removes its data dir. */
  destroy(): Promise<void>;
  /** etcd's output, for diagnostics when a test fails. */
  output(): string;
}

export async function startEtcd(options: EtcdStartOptions = {}): Promise<EtcdProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), "fedns-etcd-"));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const args = etcdArgs({
    name: "fedns-test",
    dataDir,
    clientPort,
    peerPort,
    extra: options.maxTxnOps === undefined ? [] : [`--max-txn-ops=${options.maxTxnOps}`],
  });

  let current: Started | undefined;
  let history = "";

  const etcdctl = async (commandArgs: string[]): Promise<string> => {
    try {
      const { stdout } = await run(ETCDCTL_BINARY, ["--endpoints", endpoint, "--command-timeout=5s", ...commandArgs], {
        env: { ...process.env, ETCDCTL_API: "3" },
      });
      return stdout;
    } catch (err) {
      const failure = err as Error & { stderr?: string };
      throw new Error(`etcdctl ${commandArgs.join(" ")}: ${failure.stderr ?? failure.message}`);
    }
  };

  const start = async (): Promise<void> => {
    if (current !== undefined) return;
    const started = startProcess(ETCD_BINARY, args);
    current = started;
    await waitForEtcd(endpoint, { exitCode: () => started.child.exitCode, output: started.output });
  };

  const stop = async (): Promise<void> => {
    const process = current;
    current = undefined;
    if (process === undefined) return;
    await process.stop();
    history += process.output();
  };

  const revision = async (): Promise<number> => {
    const status = JSON.parse(await etcdctl(["endpoint", "status", "-w", "json"])) as {
      Status: { header: { revision: number } };
    }[];
    const first = status[0];
    if (first === undefined) throw new Error("etcdctl endpoint status returned nothing");
    return first.Status.header.revision;
  };

  await start();
  return {
    endpoint,
    dataDir,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    etcdctl,
    revision,
    compact: async () => {
      const current = await revision();
      await etcdctl(["compact", String(current), "--physical"]);
      return current;
    },
    destroy: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    output: () => history + (current?.output() ?? ""),
  };
}
