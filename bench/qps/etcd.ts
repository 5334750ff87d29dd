// A throwaway etcd on free loopback ports, loaded with the bench records in transactions.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { etcdArgs, waitForEtcd } from "../../src/store/local-etcd.ts";
import type { EtcdRecord } from "./dataset.ts";
import { type ChildTracker, freePort, type Tracked } from "./processes.ts";

export const ETCD = "/usr/bin/etcd";
/** etcd's default --max-txn-ops. */
const TXN_OPS = 128;

export interface StartedEtcd {
  url: string;
  server: Tracked;
}

export async function startEtcd(dir: string, cpu: number, tracker: ChildTracker): Promise<StartedEtcd> {
  const clientPort = await freePort();
  const peerPort = await freePort(new Set([clientPort]));
  const url = `http://127.0.0.1:${clientPort}`;
  const child = spawn(
    "taskset",
    ["-c", String(cpu), ETCD, ...etcdArgs({ name: "bench", dataDir: join(dir, "etcd"), clientPort, peerPort })],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const server = tracker.track(child, "etcd");
  await waitForEtcd(url, { exitCode: () => child.exitCode, output: server.output });
  return { url, server };
}

/** Puts every record, TXN_OPS per transaction; returns how many keys the prefix then holds. */
export async function loadRecords(url: string, prefix: string, records: readonly EtcdRecord[]): Promise<number> {
  const client = new Etcd3({ hosts: url });
  try {
    for (let start = 0; start < records.length; start += TXN_OPS) {
      const batch = records.slice(start, start + TXN_OPS);
      await client.kv.txn({
        success: batch.map((record) => ({
          request_put: { key: Buffer.from(record.key), value: Buffer.from(record.value) },
        })),
      });
    }
    return await client.getAll().prefix(`${prefix}/`).count();
  } finally {
    client.close();
  }
}
