// bench/abuse/cost.ts: the server's CPU per query for each attack shape of bench/abuse next to ordinary
// names, in process (QueryHandler.handle on the same 100,000-name index, no sockets), without and with
// etcd churn (one change of another name every `--churn-every` queries: 10 changes/s at 30k qps is one
// per 3,000). This is what an attack costs the single-threaded server per query, separate from the
// machine noise that dominates the socket benchmark on a shared machine. See bench/README.md "abuse".
import { parseArgs } from "node:util";
import { QueryHandler } from "../../src/dns/handler.ts";
import { DnsMetrics } from "../../src/dns/metrics.ts";
import { resolveZones, ZoneSet } from "../../src/dns/zones.ts";
import { Registry } from "../../src/obs/metrics.ts";
import { RecordIndex } from "../../src/records/index.ts";
import { pathOfName } from "../../src/records/name.ts";
import { buildQuery } from "../../test/support/dns.ts";
import { BENCH_ZONE, benchName, buildDataset } from "../qps/dataset.ts";

const { values } = parseArgs({
  options: { queries: { type: "string" }, "churn-every": { type: "string" }, "cache-entries": { type: "string" } },
});
const QUERIES = Number(values.queries ?? 200_000);
const CHURN_EVERY = Number(values["churn-every"] ?? 3000);
const CACHE_ENTRIES = values["cache-entries"] === undefined ? undefined : Number(values["cache-entries"]);
const NAMES = 100_000;
const PREFIX = "/skydns";

const dataset = buildDataset({ names: NAMES, nxRatio: 0.1, prefix: PREFIX });
const index = new RecordIndex({ prefix: PREFIX });
let revision = 1;
const put = (key: string, value: string) => ({ type: "put" as const, key, value, revision: revision++ });
const changes = dataset.etcdRecords.map((record) => put(record.key, record.value));
for (let i = 0; i < 200; i++) {
  changes.push(
    put(
      `${pathOfName(PREFIX, `fan.${BENCH_ZONE}`)}/s${i}`,
      JSON.stringify({ host: `big.${BENCH_ZONE}`, port: 1000 + i }),
    ),
  );
}
for (let i = 0; i < 4000; i++) {
  const host = `10.251.${(i >> 8) & 0xff}.${i & 0xff}`;
  changes.push(put(`${pathOfName(PREFIX, `big.${BENCH_ZONE}`)}/a${i}`, JSON.stringify({ host })));
}
index.apply(changes);

const TYPES: Record<string, number> = { A: 1, SRV: 33 };
const query = (line: string): Buffer => {
  const [name, type] = line.split(" ");
  return buildQuery(name ?? "", TYPES[type ?? "A"] ?? 1, { ednsPayload: 1232 });
};
const wildcard: Buffer[] = [];
for (let i = 0; i < NAMES / 10; i++) {
  const base = benchName(i * 10);
  wildcard.push(query(`*.${base.slice(base.indexOf(".") + 1)} A`));
}
const ents: Buffer[] = [];
for (let i = 0; i < NAMES / 100; i++)
  ents.push(
    query(
      `${benchName(i * 100)
        .split(".")
        .slice(2)
        .join(".")} A`,
    ),
  );
const sets: [string, Buffer[]][] = [
  ["ordinary names (the legitimate file)", dataset.queries.trim().split("\n").map(query)],
  ["rotating wildcard names", wildcard],
  ["empty non-terminals", ents],
  ["SRV fan-out", [query(`fan.${BENCH_ZONE} SRV`)]],
  ["RRL flood names (2)", [query(`${benchName(1)} A`), query(`nx.${BENCH_ZONE} A`)]],
];
const churnKey = `${pathOfName(PREFIX, `churn.${BENCH_ZONE}`)}/x`;
const client = { address: "127.0.0.2", port: 5353 };

process.stdout.write(
  `${QUERIES} queries per row after a warm-up of 20,000; churn: one change per ${CHURN_EVERY} queries\n`,
);
for (const [name, set] of sets) {
  const cells: string[] = [];
  for (const churn of [false, true]) {
    const registry = new Registry();
    const handler = new QueryHandler({
      index,
      zones: new ZoneSet(resolveZones([BENCH_ZONE])),
      udpPayloadSize: 1232,
      metrics: new DnsMetrics(registry),
      cacheEntries: CACHE_ENTRIES,
    });
    for (let i = 0; i < 20_000; i++) handler.handle(set[i % set.length]!, "udp", client);
    let n = 0;
    const started = performance.now();
    for (let i = 0; i < QUERIES; i++) {
      if (churn && i % CHURN_EVERY === 0)
        index.apply([put(churnKey, JSON.stringify({ host: `10.250.0.${n++ & 0xff}` }))]);
      handler.handle(set[i % set.length]!, "udp", client);
    }
    const micros = ((performance.now() - started) * 1000) / QUERIES;
    const lookups = (await registry.getSingleMetric("fedns_dns_cache_lookups_total")?.get())?.values ?? [];
    const total = lookups.reduce((sum, value) => sum + value.value, 0);
    const hits = lookups.find((value) => value.labels.result === "hit")?.value ?? 0;
    cells.push(
      `${micros.toFixed(1).padStart(6)} µs/query (cache hits ${((100 * hits) / total).toFixed(0).padStart(3)}%)`,
    );
  }
  process.stdout.write(`${name.padEnd(38)} | ${cells.join(" | ")}\n`);
}
process.stdout.write(`${"".padEnd(38)} | without churn                     | with churn\n`);
