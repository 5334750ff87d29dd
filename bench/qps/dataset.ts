// The benchmark's data set, pure and deterministic: the same names as skydns records for etcd,
// as a Knot zone file, and as a dnsperf query file (existing A names plus names that do not exist).
import { pathOfName } from "../../src/records/name.ts";
import { encodeService } from "../../src/records/service.ts";

export const BENCH_ZONE = "example.com";
export const BENCH_FEDERATION = "myfed";
export const BENCH_CLUSTER = "bench";
export const BENCH_TTL = 30;
/** The apex NS target, served by both servers (Knot refuses a zone without NS). */
export const BENCH_NS_NAME = `ns1.ns.dns.${BENCH_ZONE}`;
export const BENCH_NS_ADDRESS = "127.0.0.1";

export interface BenchName {
  name: string;
  address: string;
}

export interface EtcdRecord {
  key: string;
  value: string;
}

export interface DatasetOptions {
  /** Number of existing A names (default 10,000). */
  names?: number;
  /** Share of queries for names that do not exist, relative to `names` (default 0.1). */
  nxRatio?: number;
  prefix?: string;
  /** Seed of the query order shuffle. */
  seed?: number;
}

export interface Dataset {
  names: BenchName[];
  nxNames: string[];
  etcdRecords: EtcdRecord[];
  zoneFile: string;
  /** dnsperf input: one `name A` per line, existing and missing names shuffled together. */
  queries: string;
}

/** The decimal digits of `index` pick svc, ns, zone and region: index 4321 → svc1.ns2.myfed.svc.zone3.region4. */
export function benchName(index: number): string {
  const svc = index % 10;
  const ns = Math.floor(index / 10) % 10;
  const zone = Math.floor(index / 100) % 10;
  const region = Math.floor(index / 1000);
  return `svc${svc}.ns${ns}.${BENCH_FEDERATION}.svc.zone${zone}.region${region}.${BENCH_ZONE}`;
}

/** A distinct 10.0.0.0/8 address per index (index 0 → 10.0.0.1). */
export function benchAddress(index: number): string {
  const n = index + 1;
  if (n > 0xfffffe) throw new Error(`index ${index} does not fit in 10.0.0.0/8`);
  return `10.${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`;
}

/** FNV-1a, as 8 hex digits: a stable leaf suffix per address, like the controller's `<cluster>-<hash>`. */
export function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** A record as the controller writes it (SPEC §3): deterministic leaf, group = own name, owner, cluster. */
export function etcdRecordOf(prefix: string, entry: BenchName): EtcdRecord {
  const key = `${pathOfName(prefix, entry.name)}/${BENCH_CLUSTER}-${shortHash(entry.address)}`;
  const value = encodeService({
    host: entry.address,
    ttl: BENCH_TTL,
    group: entry.name,
    owner: `fedns/${BENCH_FEDERATION}`,
    cluster: BENCH_CLUSTER,
  });
  return { key, value };
}

/** A name below an existing namespace that holds no record: NXDOMAIN on both servers. */
function missingName(index: number, names: number): string {
  const sibling = benchName((index * 7919) % names);
  return `nx${index}${sibling.slice(sibling.indexOf("."))}`;
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

export function zoneFileOf(names: readonly BenchName[]): string {
  const origin = `${BENCH_ZONE}.`;
  const lines = [
    `$ORIGIN ${origin}`,
    `$TTL ${BENCH_TTL}`,
    `@ IN SOA ns.dns.${origin} hostmaster.${origin} 1 7200 1800 86400 ${BENCH_TTL}`,
    `@ IN NS ${BENCH_NS_NAME}.`,
    `${BENCH_NS_NAME}. IN A ${BENCH_NS_ADDRESS}`,
  ];
  for (const entry of names) lines.push(`${entry.name}. ${BENCH_TTL} IN A ${entry.address}`);
  return `${lines.join("\n")}\n`;
}

export function buildDataset(options: DatasetOptions = {}): Dataset {
  const count = options.names ?? 10_000;
  const nxRatio = options.nxRatio ?? 0.1;
  const prefix = options.prefix ?? "/skydns";
  if (!Number.isInteger(count) || count < 1) throw new Error(`names must be a positive integer, got ${count}`);
  if (!(nxRatio >= 0 && nxRatio <= 10)) throw new Error(`nxRatio must be within 0..10, got ${nxRatio}`);

  const names: BenchName[] = [];
  for (let i = 0; i < count; i++) names.push({ name: benchName(i), address: benchAddress(i) });
  const nxNames: string[] = [];
  const nxCount = Math.round(count * nxRatio);
  for (let i = 0; i < nxCount; i++) nxNames.push(missingName(i, count));

  const etcdRecords = names.map((entry) => etcdRecordOf(prefix, entry));
  etcdRecords.push({
    key: `${pathOfName(prefix, BENCH_NS_NAME)}`,
    value: encodeService({ host: BENCH_NS_ADDRESS, ttl: BENCH_TTL }),
  });

  const questions = shuffled([...names.map((entry) => entry.name), ...nxNames], options.seed ?? 1);
  const queries = `${questions.map((name) => `${name} A`).join("\n")}\n`;
  return { names, nxNames, etcdRecords, zoneFile: zoneFileOf(names), queries };
}
