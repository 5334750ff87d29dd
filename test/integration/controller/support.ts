// Shared pieces of the controller integration tests: the scenario (three clusters, two regions,
// three zones), a reader of what etcd holds, and polling until etcd shows what a test expects.
import { parseScenario, type Scenario } from "../../../src/sim/index.ts";

export const FEDERATION = "myfed";
export const DOMAIN = "example.com";
export const PREFIX = "/skydns";
export const OWNER = `fedns/${FEDERATION}`;

export function scenario(): Scenario {
  const web = (ip: string, node: string) => ({
    name: "web",
    ports: [{ name: "http", port: 80 }],
    ingress: [{ ip }],
    endpoints: [{ address: "10.1.0.1", node }],
  });
  return parseScenario({
    clusters: [
      {
        name: "east-a",
        nodes: [{ name: "node-a", zone: "us-east-1a", region: "us-east-1" }],
        services: [
          web("198.51.100.1", "node-a"),
          {
            name: "dual",
            ports: [{ name: "https", port: 443 }],
            ingress: [{ ip: "198.51.100.11" }, { ip: "2001:db8::11" }],
            endpoints: [{ address: "10.1.0.2", node: "node-a" }],
          },
        ],
      },
      {
        name: "east-b",
        nodes: [{ name: "node-b", zone: "us-east-1b", region: "us-east-1" }],
        services: [
          web("198.51.100.2", "node-b"),
          {
            name: "cloudlb",
            ports: [{ port: 8080 }],
            ingress: [{ hostname: "lb-1.elb.test" }],
            endpoints: [{ address: "10.2.0.2", node: "node-b" }],
          },
          {
            name: "solo",
            ports: [{ port: 80 }],
            ingress: [{ ip: "198.51.100.22" }],
            endpoints: [{ address: "10.2.0.3", node: "node-b" }],
          },
        ],
      },
      {
        name: "west-a",
        nodes: [{ name: "node-w", zone: "us-west-2a", region: "us-west-2" }],
        services: [web("198.51.100.3", "node-w")],
      },
    ],
  });
}

export interface StoredRecord {
  key: string;
  host: string;
  cluster?: string;
  owner?: string;
  port?: number;
}

/** Records under a DNS name (exactly that name's leaves, SRV subtrees excluded). */
export function leavesOf(records: StoredRecord[], name: string): StoredRecord[] {
  const path = `${PREFIX}/${name.split(".").reverse().join("/")}/`;
  return records.filter((record) => record.key.startsWith(path) && !record.key.slice(path.length).includes("/"));
}

export function hostsOf(records: StoredRecord[], name: string): string[] {
  return leavesOf(records, name)
    .map((record) => record.host)
    .sort();
}

export function serviceName(service: string, ...location: string[]): string {
  return [service, "default", FEDERATION, "svc", ...location, DOMAIN].join(".");
}

export function parseRecords(kvs: { key: string; value: string }[]): StoredRecord[] {
  return kvs.map((kv) => ({ key: kv.key, ...(JSON.parse(kv.value) as Omit<StoredRecord, "key">) }));
}

export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last, null, 1).slice(0, 3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await read();
  }
  return last;
}
