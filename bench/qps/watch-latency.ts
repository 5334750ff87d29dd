// How long an etcd put takes to show in fedns's answers (and a delete to give NXDOMAIN again):
// the etcd watch -> index -> answer path, timed with in-process UDP queries every millisecond.
import { Etcd3 } from "etcd3";
import { buildQuery, replyHeader, sendUdp } from "../../test/support/dns.ts";

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

const POLL_MS = 1;
const GIVE_UP_MS = 5_000;

export function summarizeLatencies(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** Puts `count` new names one at a time, each timed until answered, then deletes each, timed until NXDOMAIN. */
export async function measureWatchLatency(
  etcdUrl: string,
  prefix: string,
  port: number,
  count: number,
): Promise<{ put: LatencySummary; delete: LatencySummary }> {
  const client = new Etcd3({ hosts: etcdUrl });
  const server = { host: "127.0.0.1", port };
  const puts: number[] = [];
  const deletes: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = `watch${i}.ns0.myfed.svc.zone0.region0.example.com`;
      const key = `${prefix}/com/example/region0/zone0/svc/myfed/ns0/watch${i}/bench`;
      const query = buildQuery(name, 1);
      let started = performance.now();
      await client.put(key).value(JSON.stringify({ host: "192.0.2.1", ttl: 30, group: name }));
      puts.push(await until(server, query, (answers) => answers > 0, started));
      started = performance.now();
      await client.delete().key(key);
      deletes.push(await until(server, query, (_answers, rcode) => rcode === 3, started));
    }
  } finally {
    client.close();
  }
  return { put: summarizeLatencies(puts), delete: summarizeLatencies(deletes) };
}

async function until(
  server: { host: string; port: number },
  query: Buffer,
  done: (answers: number, rcode: number) => boolean,
  started: number,
): Promise<number> {
  for (;;) {
    const reply = await sendUdp(server, query, 500);
    if (reply !== undefined) {
      const header = replyHeader(reply);
      if (done(header.ancount, header.rcode)) return performance.now() - started;
    }
    if (performance.now() - started > GIVE_UP_MS) throw new Error(`not visible within ${GIVE_UP_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
