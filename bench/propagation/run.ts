// bench/propagation: how long a change in a member cluster takes to show in DNS answers.
// 1,000 LoadBalancer services, each in all of 5 simulated clusters (3 regions, 5 zones); a real etcd;
// `fedns serve` and the controller as child processes. Changes: LB address changed; endpoints
// ready -> unready -> ready. Each is timed from the API write to the first DNS answer showing it.
// Short names too: a pod of the changed cluster (a loopback source address in the cluster's
// clientNetworks) asks svc-N.default.myfed.svc.cluster.local; endpoints unready -> the answer leaves
// the cluster's own ClusterIP, ready -> back to it.
// Prints p50/p99/max per kind and overall, and the controller's steady-state RSS.
import { Resolver } from "node:dns/promises";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { logger, setRootLogger } from "../../src/obs/log.ts";
import { parseScenario, type Simulation, startSimulation } from "../../src/sim/index.ts";
import { startEtcd } from "../../test/support/etcd.ts";
import { freePort } from "../../test/support/ports.ts";
import { type Started, startProcess, stopAllProcesses } from "../../test/support/processes.ts";

const { values } = parseArgs({
  options: {
    services: { type: "string", default: "1000" },
    clusters: { type: "string", default: "5" },
    changes: { type: "string", default: "200" },
    "short-changes": { type: "string", default: "100" },
  },
});
const SERVICES = Number(values.services);
const CLUSTERS = Number(values.clusters);
const CHANGES = Number(values.changes);
const SHORT_CHANGES = Number(values["short-changes"]);
const NODE = process.execPath;
const ROOT = new URL("../../", import.meta.url).pathname;

setRootLogger(pino({ level: "warn" }));
const log = logger("bench");

const LOCATIONS = [
  { zone: "us-east-1a", region: "us-east-1" },
  { zone: "us-east-1b", region: "us-east-1" },
  { zone: "us-west-2a", region: "us-west-2" },
  { zone: "eu-west-1a", region: "eu-west-1" },
  { zone: "eu-west-1b", region: "eu-west-1" },
];

function lbAddress(cluster: number, service: number, generation = 0): string {
  return `10.${cluster * 40 + generation}.${Math.floor(service / 250)}.${service % 250}`;
}

function scenario() {
  return parseScenario({
    clusters: Array.from({ length: CLUSTERS }, (_, c) => {
      const location = LOCATIONS[c % LOCATIONS.length]!;
      return {
        name: `cluster-${c}`,
        nodes: [{ name: `node-${c}`, zone: location.zone, region: location.region }],
        services: Array.from({ length: SERVICES }, (_, s) => ({
          name: `svc-${s}`,
          ports: [{ name: "http", port: 80 }],
          ingress: [{ ip: lbAddress(c, s) }],
          endpoints: [{ address: `172.16.${c}.${(s % 250) + 1}`, node: `node-${c}` }],
        })),
      };
    }),
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (n: number) => `${n.toFixed(1)} ms`.padStart(10);
  return `${label.padEnd(22)} n=${String(sorted.length).padStart(4)}  p50 ${f(percentile(sorted, 50))}  p99 ${f(percentile(sorted, 99))}  max ${f(sorted[sorted.length - 1] ?? Number.NaN)}`;
}

async function until<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined && check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function lastStatus(process: Started): { ready: boolean; rss: number; heapUsed: number } | undefined {
  const lines = process
    .output()
    .split("\n")
    .filter((line) => line.startsWith("STATUS "));
  const last = lines[lines.length - 1];
  return last === undefined ? undefined : JSON.parse(last.slice("STATUS ".length));
}

async function main(): Promise<void> {
  let sim: Simulation | undefined;
  const etcd = await startEtcd();
  try {
    console.log(`propagation: ${SERVICES} LoadBalancer services × ${CLUSTERS} clusters, ${CHANGES} changes per kind`);
    sim = await startSimulation({ scenario: scenario() });
    const dnsPort = await freePort();
    const opsPort = await freePort();
    // A config naming the federation, so that `fedns serve` also answers short names (shortNames default on).
    const serveConfig = join(await mkdtemp(join(tmpdir(), "fedns-bench-")), "fedns.yaml");
    await writeFile(
      serveConfig,
      JSON.stringify({ federation: "myfed", domain: "example.com", etcd: { endpoints: [etcd.endpoint] } }),
    );
    startProcess(
      NODE,
      [
        `${ROOT}src/cli/main.ts`,
        "serve",
        "--config",
        serveConfig,
        "--listen",
        `127.0.0.1:${dnsPort}`,
        "--metrics",
        `127.0.0.1:${opsPort}`,
      ],
      { env: { ...process.env, FEDNS_LOG_LEVEL: "warn" } },
    );
    const started = Date.now();
    const controller = startProcess(
      NODE,
      [
        "--expose-gc",
        `${ROOT}bench/propagation/controller-process.ts`,
        JSON.stringify({
          etcd: etcd.endpoint,
          kubeconfig: sim.kubeconfigPath,
          clusters: sim.clusters.map((c) => c.name),
        }),
      ],
      { env: { ...process.env, FEDNS_LOG_LEVEL: "warn" } },
    );
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    const global = (s: number) => `svc-${s}.default.myfed.svc.example.com`;
    const answer = async (name: string): Promise<string[]> => {
      try {
        return (await resolver.resolve4(name)).sort();
      } catch {
        return [];
      }
    };

    // Initial convergence: the last service answers with every cluster's address.
    await until(
      "controller synced",
      async () => lastStatus(controller),
      (s) => s?.ready === true,
      120_000,
    );
    await until(
      "initial records served",
      () => answer(global(SERVICES - 1)),
      (a) => a.length === CLUSTERS,
      300_000,
    );
    await until(
      "all services served",
      async () => {
        for (let s = 0; s < SERVICES; s += Math.max(1, Math.floor(SERVICES / 50))) {
          if ((await answer(global(s))).length !== CLUSTERS) return false;
        }
        return true;
      },
      (ok) => ok,
      300_000,
    );
    console.log(`initial sync + write + serve: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const timeChange = async (name: string, change: () => void, check: (a: string[]) => boolean): Promise<number> => {
      const t0 = performance.now();
      change();
      for (;;) {
        if (check(await answer(name))) return performance.now() - t0;
        if (performance.now() - t0 > 30_000) throw new Error(`change on ${name} never showed`);
      }
    };

    const addressChange: number[] = [];
    const unready: number[] = [];
    const ready: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const c = i % CLUSTERS;
      const s = (i * 7919) % SERVICES;
      const cluster = sim.clusters[c]!;
      const name = global(s);
      const fresh = lbAddress(c, s, 1 + (i % 30));
      addressChange.push(
        await timeChange(
          name,
          () => cluster.patchStatus("Service", "default", `svc-${s}`, { loadBalancer: { ingress: [{ ip: fresh }] } }),
          (a) => a.includes(fresh),
        ),
      );
      const setReady = (value: boolean) => () =>
        cluster.patch("EndpointSlice", "default", `svc-${s}-ipv4`, {
          endpoints: [
            { addresses: [`172.16.${c}.${(s % 250) + 1}`], conditions: { ready: value }, nodeName: `node-${c}` },
          ],
        });
      unready.push(await timeChange(name, setReady(false), (a) => a.length > 0 && !a.includes(fresh)));
      ready.push(await timeChange(name, setReady(true), (a) => a.includes(fresh)));
    }
    // Short names: from a pod of cluster c (source 127.0.<c+1>.1, its clientNetworks), the cluster's own
    // ClusterIP while its shard is healthy, another answer (a CNAME to the zone, with the chain) when not.
    const shortUnready: number[] = [];
    const shortReady: number[] = [];
    const podResolvers = sim.clusters.map((_, c) => {
      const pod = new Resolver({ timeout: 1000, tries: 1 });
      pod.setServers([`127.0.0.1:${dnsPort}`]);
      pod.setLocalAddress(`127.0.${c + 1}.1`);
      return pod;
    });
    const shortAnswer = (c: number, s: number) => async (): Promise<string[]> => {
      try {
        return (await podResolvers[c]!.resolve4(`svc-${s}.default.myfed.svc.cluster.local`)).sort();
      } catch {
        return [];
      }
    };
    const timeShort = async (read: () => Promise<string[]>, change: () => void, check: (a: string[]) => boolean) => {
      const t0 = performance.now();
      change();
      for (;;) {
        if (check(await read())) return performance.now() - t0;
        if (performance.now() - t0 > 30_000) throw new Error("short-name change never showed");
      }
    };
    for (let i = 0; i < SHORT_CHANGES; i++) {
      const c = i % CLUSTERS;
      const s = (i * 104729) % SERVICES;
      const cluster = sim.clusters[c]!;
      const spec = cluster.get("Service", "default", `svc-${s}`)?.spec as { clusterIP?: string } | undefined;
      const clusterIP = spec?.clusterIP;
      const read = shortAnswer(c, s);
      await until(`short name of svc-${s} local in cluster-${c}`, read, (a) => a.join() === clusterIP, 30_000);
      const setReady = (value: boolean) => () =>
        cluster.patch("EndpointSlice", "default", `svc-${s}-ipv4`, {
          endpoints: [
            { addresses: [`172.16.${c}.${(s % 250) + 1}`], conditions: { ready: value }, nodeName: `node-${c}` },
          ],
        });
      shortUnready.push(await timeShort(read, setReady(false), (a) => a.length > 0 && !a.includes(clusterIP ?? "")));
      shortReady.push(await timeShort(read, setReady(true), (a) => a.join() === clusterIP));
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    controller.child.kill("SIGUSR2");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const status = lastStatus(controller);
    console.log(summary("LB address changed", addressChange));
    console.log(summary("endpoints -> unready", unready));
    console.log(summary("endpoints -> ready", ready));
    console.log(summary("all changes", [...addressChange, ...unready, ...ready]));
    console.log(summary("short: -> unready", shortUnready));
    console.log(summary("short: -> ready", shortReady));
    console.log(summary("short: all", [...shortUnready, ...shortReady]));
    if (status !== undefined) {
      console.log(
        `controller RSS (steady state): ${(status.rss / 1048576).toFixed(0)} MiB (heap retained after GC ${(status.heapUsed / 1048576).toFixed(0)} MiB)`,
      );
    }
  } finally {
    await stopAllProcesses();
    await sim?.stop().catch((err: unknown) => log.warn({ err: String(err) }, "stopping the simulation"));
    await etcd.destroy();
  }
}

await main();
