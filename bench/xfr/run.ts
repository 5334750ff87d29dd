// bench/xfr: zone transfers to a real secondary. A real etcd holds N records as the controller
// writes them (bench/qps dataset); `fedns serve` is the primary (TSIG, NOTIFY to Knot); knotd is
// the secondary. Prints: the initial transfer (Knot started → Knot serving the primary's serial),
// AXFR time of the whole zone with kdig (TSIG), and propagation p50/p99/max of single changes:
// etcd put → fedns answers it, and → the Knot secondary answers it (NOTIFY after the debounce, IXFR).
// Also the largest event-loop lag fedns serve reported (version builds run in yielding slices).
import { execFile } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { stringify } from "yaml";
import { startEtcd } from "../../test/support/etcd.ts";
import { startServe } from "../../test/support/fedns.ts";
import { freePort } from "../../test/support/ports.ts";
import { stopAllProcesses } from "../../test/support/processes.ts";
import { startKnotSecondary } from "../../test/support/secondaries.ts";
import { BENCH_ZONE, benchName, buildDataset, etcdRecordOf } from "../qps/dataset.ts";
import { loadRecords } from "../qps/etcd.ts";

const { values } = parseArgs({
  options: {
    names: { type: "string", default: "55000" },
    changes: { type: "string", default: "30" },
    debounce: { type: "string", default: "1000" },
    axfrs: { type: "string", default: "3" },
  },
});
const NAMES = Number(values.names);
const CHANGES = Number(values.changes);
const DEBOUNCE = Number(values.debounce);
const AXFRS = Number(values.axfrs);
const run = promisify(execFile);
const SECRET = Buffer.alloc(32, 11).toString("base64");
const KEY = { name: "xfr-key", algorithm: "hmac-sha256", secret: SECRET };

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function summary(label: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;
  console.log(
    `${label}: n=${sorted.length} p50 ${fmt(quantile(sorted, 0.5))} p99 ${fmt(quantile(sorted, 0.99))} max ${fmt(sorted.at(-1) ?? Number.NaN)}`,
  );
}

async function serial(resolver: Resolver): Promise<number> {
  const soa = await resolver.resolveSoa(BENCH_ZONE).catch(() => undefined);
  return soa?.serial ?? 0;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function resolverFor(port: number): Resolver {
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return resolver;
}

/** fedns serve's largest event-loop lag since start, in ms. */
async function lagMax(metricsUrl: string): Promise<string> {
  const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
  const lag = /^fedns_event_loop_lag_max_seconds(?:\{[^}]*\})? (\S+)/m.exec(metrics)?.[1];
  return lag === undefined ? "?" : `${(Number(lag) * 1000).toFixed(0)} ms`;
}

async function main(): Promise<void> {
  const dataset = buildDataset({ names: NAMES });
  const etcd = await startEtcd();
  const loaded = await loadRecords(etcd.endpoint, "/skydns", dataset.etcdRecords);
  console.log(`etcd: ${loaded} records`);
  const dir = await mkdtemp(join(tmpdir(), "fedns-bench-xfr-"));
  const secretFile = join(dir, "xfr-key");
  await writeFile(secretFile, SECRET);
  const knotPort = await freePort();
  const config = {
    zones: [BENCH_ZONE],
    dns: {
      nameservers: [{ name: "ns1.example.net" }],
      tsig: { keys: [{ name: KEY.name, algorithm: KEY.algorithm, secretFile }] },
      transfers: {
        notifyDebounceMs: DEBOUNCE,
        zones: [
          {
            zone: BENCH_ZONE,
            allow: [{ networks: ["127.0.0.0/8"], key: KEY.name }],
            notify: [{ address: `127.0.0.1:${knotPort}`, key: KEY.name }],
          },
        ],
      },
    },
  };
  const configFile = join(dir, "fedns.yaml");
  await writeFile(configFile, stringify(config));
  const serve = await startServe({ etcd: etcd.endpoint, zones: [BENCH_ZONE], extra: ["--config", configFile] });
  const primary = resolverFor(serve.dns.port);
  await until(async () => (await serial(primary)) > 1, 60_000, "fedns loaded");
  console.log(`fedns serve loaded: event-loop lag max so far ${await lagMax(serve.metrics)}`);
  const knotStarted = performance.now();
  const knot = await startKnotSecondary({ zone: BENCH_ZONE, port: knotPort, primary: serve.dns, key: KEY });
  const secondary = resolverFor(knotPort);
  const primarySerial = await serial(primary);
  await until(async () => (await serial(secondary)) === primarySerial, 120_000, "knot transferred the zone");
  console.log(
    `initial transfer: Knot started → serving serial ${primarySerial}: ${(performance.now() - knotStarted).toFixed(0)} ms`,
  );

  const axfr: number[] = [];
  let received = "";
  for (let i = 0; i < AXFRS; i++) {
    const started = performance.now();
    const { stdout } = await run(
      "kdig",
      [
        "@127.0.0.1",
        "-p",
        String(serve.dns.port),
        BENCH_ZONE,
        "AXFR",
        "-y",
        `${KEY.algorithm}:${KEY.name}:${SECRET}`,
        "+time=30",
      ],
      { maxBuffer: 512 * 1024 * 1024 },
    );
    axfr.push(performance.now() - started);
    received = /Received .*/.exec(stdout)?.[0] ?? "";
  }
  summary(`AXFR ${NAMES} names with kdig (TSIG), ${received}`, axfr);
  console.log(`after the transfers: event-loop lag max so far ${await lagMax(serve.metrics)}`);

  const client = new Etcd3({ hosts: etcd.endpoint });
  const toPrimary: number[] = [];
  const toSecondary: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const index = (i * 7919) % NAMES;
    const name = benchName(index);
    const address = `192.0.2.${(i % 250) + 1}`;
    const before = etcdRecordOf("/skydns", { name, address: dataset.names[index]!.address });
    const after = etcdRecordOf("/skydns", { name, address });
    const started = performance.now();
    await client.kv.txn({
      success: [
        { request_delete_range: { key: Buffer.from(before.key) } },
        { request_put: { key: Buffer.from(after.key), value: Buffer.from(after.value) } },
      ],
    });
    const shows = (resolver: Resolver) => async () =>
      (await resolver.resolve4(name).catch(() => [] as string[])).includes(address);
    await until(shows(primary), 10_000, "fedns answers the change");
    toPrimary.push(performance.now() - started);
    await until(shows(secondary), 30_000, "knot answers the change");
    toSecondary.push(performance.now() - started);
    dataset.names[index] = { name, address };
  }
  summary("etcd change → fedns answers", toPrimary);
  summary(`etcd change → Knot secondary answers (debounce ${DEBOUNCE} ms)`, toSecondary);
  const metrics = await (await fetch(`${serve.metrics}/metrics`)).text();
  const lag = /^fedns_event_loop_lag_max_seconds(?:\{[^}]*\})? (\S+)/m.exec(metrics)?.[1];
  const ixfr = /^fedns_dns_transfers_total\{kind="ixfr",result="done"\} (\S+)/m.exec(metrics)?.[1];
  console.log(
    `fedns serve: event-loop lag max ${lag === undefined ? "?" : `${(Number(lag) * 1000).toFixed(0)} ms`}, IXFR served ${ixfr ?? 0}`,
  );
  client.close();
  await knot.stop();
  await serve.stop();
  await etcd.destroy();
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAllProcesses());
