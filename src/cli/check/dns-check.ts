// Does the DNS server answer each federated name as the records say? Global, region and zone names:
// addresses (A/AAAA) or the fallback CNAME, asked of the server itself, without recursion.
import { Resolver } from "node:dns/promises";
import { describeRecord } from "../../records/describe.ts";
import { encodeService, hostType, type SkydnsService } from "../../records/service.ts";
import { error, type Finding, ok } from "./findings.ts";

export interface NameExpectation {
  name: string;
  a: string[];
  aaaa: string[];
  cname: string | undefined;
}

/** What each name of the records should answer (SRV, TXT and the like are not checked). */
export function expectationsOf(prefix: string, records: Iterable<[string, SkydnsService]>): NameExpectation[] {
  const byName = new Map<string, { a: Set<string>; aaaa: Set<string>; cname: string | undefined }>();
  for (const [key, service] of records) {
    const view = describeRecord(prefix, key, encodeService(service));
    if (view.type !== "A" && view.type !== "AAAA" && view.type !== "CNAME") continue;
    let entry = byName.get(view.name);
    if (entry === undefined) {
      entry = { a: new Set(), aaaa: new Set(), cname: undefined };
      byName.set(view.name, entry);
    }
    if (view.type === "A") entry.a.add(view.data);
    else if (view.type === "AAAA") entry.aaaa.add(view.data);
    else entry.cname = view.data;
  }
  return [...byName.keys()].sort().map((name) => {
    const entry = byName.get(name)!;
    return { name, a: [...entry.a].sort(), aaaa: [...entry.aaaa].sort(), cname: entry.cname };
  });
}

export interface DnsCheckOptions {
  server: { host: string; port: number };
  /** A zone the server must answer SOA for (the federation domain). */
  zone: string;
  timeoutMs: number;
  /** Where the expectations come from, for messages: "etcd holds" or "the clusters imply". */
  source: string;
  concurrency?: number;
}

type Answer = { values: string[] } | { problem: string };

const PROBLEMS: Record<string, string> = {
  ENOTFOUND: "NXDOMAIN",
  ENODATA: "no records of this type (NODATA)",
  EREFUSED: "REFUSED",
  ESERVFAIL: "SERVFAIL",
  ETIMEOUT: "no answer (timeout)",
  ECONNREFUSED: "connection refused",
};

async function ask(run: () => Promise<string[]>): Promise<Answer> {
  try {
    return { values: (await run()).map(normalizeAnswer).sort() };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { problem: typeof code === "string" ? (PROBLEMS[code] ?? code) : String(err) };
  }
}

function normalizeAnswer(value: string): string {
  const type = hostType(value.toLowerCase());
  if (type.kind === "A" || type.kind === "AAAA") return type.address;
  if (type.kind === "CNAME") return type.target;
  return value;
}

function serverText(server: { host: string; port: number }): string {
  return server.host.includes(":") ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

export async function checkDns(expectations: readonly NameExpectation[], options: DnsCheckOptions): Promise<Finding[]> {
  const address = serverText(options.server);
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
  resolver.setServers([address]);
  try {
    await resolver.resolveSoa(options.zone);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const problem = typeof code === "string" ? (PROBLEMS[code] ?? code) : String(err);
    return [
      error(
        "dns",
        "dns-unreachable",
        `the DNS server at ${address} does not answer SOA ${options.zone}: ${problem}`,
        `is fedns serve running there, with ${options.zone} among its zones? Point the check at it with --dns HOST:PORT`,
      ),
    ];
  }
  const findings: Finding[] = [];
  let checked = 0;
  const queue = [...expectations];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      findings.push(...(await checkName(resolver, next, options.source)));
      checked++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
  findings.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
  if (findings.length === 0) {
    findings.push(
      ok("dns", "dns-ok", `${checked} names answer what ${options.source}, from the DNS server at ${address}`),
    );
  }
  return findings;
}

async function checkName(resolver: Resolver, expected: NameExpectation, source: string): Promise<Finding[]> {
  const checks: { type: string; want: string[]; run: () => Promise<string[]> }[] = [];
  if (expected.cname !== undefined) {
    checks.push({ type: "CNAME", want: [expected.cname], run: () => resolver.resolveCname(expected.name) });
  }
  if (expected.a.length > 0) checks.push({ type: "A", want: expected.a, run: () => resolver.resolve4(expected.name) });
  if (expected.aaaa.length > 0) {
    checks.push({ type: "AAAA", want: expected.aaaa, run: () => resolver.resolve6(expected.name) });
  }
  const findings: Finding[] = [];
  for (const check of checks) {
    const answer = await ask(check.run);
    const got = "values" in answer ? answer.values.join(", ") || "(empty)" : answer.problem;
    if ("values" in answer && answer.values.join(",") === check.want.join(",")) continue;
    findings.push(
      error(
        expected.name,
        "dns-mismatch",
        `${check.type} answers ${got}, but ${source} ${check.want.join(", ")}`,
        "the DNS server is not serving current etcd data: check fedns serve's /readyz, its etcd endpoints and prefix, and its zones",
        { name: expected.name, type: check.type, expected: check.want, got },
      ),
    );
  }
  return findings;
}
