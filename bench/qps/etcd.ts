// A throwaway etcd on free loopback ports, loaded with the bench records in transactions.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import type { EtcdRecord } from "./dataset.ts";
import { type ChildTracker, freePort, type Tracked, waitUntil } from "./processes.ts";

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
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    "taskset",
    [
      "-c",
      String(cpu),
      ETCD,
      "--name",
      "bench",
      "--data-dir",
      join(dir, "etcd"),
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--listen-peer-urls",
      peerUrl,
      "--initial-advertise-peer-urls",
      peerUrl,
      "--initial-cluster",
      `bench=${peerUrl}`,
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const server = tracker.track(child, "etcd");
  const client = new Etcd3({ hosts: url });
  try {
    await waitUntil(
      "etcd to answer",
      async () => {
        await client.get("/health-probe").string();
        return true;
      },
      20_000,
      server,
    );
  } finally {
    client.close();
  }
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
